package activities

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/observe"
)

// bucketBits is how many leading bits of a hub key name its bucket: the
// counter work is split into counterBuckets key ranges, each under its own
// lock, so that concurrent pipelines (shards) take turns per range rather
// than per family: a pipeline folding range 2 does not stop another from
// folding range 3. Every worker must use the same number (a rolling deploy
// that changes it lets two builds fold one order at once). Four buckets
// bring the most-held lock under 10 % of a batch (docs/BENCHMARKS.md); each
// more bucket costs a statement and repeats counter updates a user's orders
// in several buckets share.
const (
	bucketBits     = 2
	counterBuckets = 1 << bucketBits
)

// bucketOf is the bucket of a hub key: its leading bucketBits bits, so a
// bucket is a contiguous range of keys (bucketRange) that an index scans.
func bucketOf(k uuid.UUID) int { return int(k[0]) >> (8 - bucketBits) }

// bucketRange is the smallest and the largest key of bucket b.
func bucketRange(b int) (lo, hi uuid.UUID) {
	for i := range hi {
		hi[i] = 0xff
	}
	lo[0] = byte(b << (8 - bucketBits))
	hi[0] = lo[0] | byte(1<<(8-bucketBits)-1)
	return lo, hi
}

// byBucket splits keys by bucket.
func byBucket(keys []uuid.UUID) [counterBuckets][]uuid.UUID {
	var out [counterBuckets][]uuid.UUID
	for _, k := range keys {
		out[bucketOf(k)] = append(out[bucketOf(k)], k)
	}
	return out
}

// A counter family: its per-order contributions, per-user counters and mart.
type counterFamily int

const (
	productCounters  counterFamily = 1
	categoryCounters counterFamily = 2
)

func (f counterFamily) String() string {
	if f == productCounters {
		return "product counters"
	}
	return "category counters"
}

// familyWork names each family's fold query and the lock kinds of its fold
// and its mart copy.
var familyWork = map[counterFamily]struct {
	foldQuery  string
	fold, copy lockKind
}{
	productCounters:  {"dds_apply_product_counts", foldProducts, copyProducts},
	categoryCounters: {"dds_apply_category_counts", foldCategories, copyCategories},
}

// lockKind is one kind of counter work that concurrent pipelines do one at a
// time per bucket (counters_bucket_lock.sql): a family's fold (buckets of
// order keys), a family's mart copy and the publication (buckets of user keys).
type lockKind int

const (
	foldProducts lockKind = iota + 1
	foldCategories
	copyProducts
	copyCategories
	publishCounters
)

// lockKinds names each kind (its label in
// orderflow_shared_lock_held_seconds_total) and the counter families whose
// family lock it takes shared (counters_lock.sql), so that a worker of a
// build before the bucket locks, which takes it exclusively, still takes
// turns with it.
var lockKinds = map[lockKind]struct {
	name     string
	families []int32
}{
	foldProducts:    {"products_fold", []int32{int32(productCounters)}},
	foldCategories:  {"categories_fold", []int32{int32(categoryCounters)}},
	copyProducts:    {"products_copy", []int32{int32(productCounters)}},
	copyCategories:  {"categories_copy", []int32{int32(categoryCounters)}},
	publishCounters: {"counters_publish", []int32{int32(productCounters), int32(categoryCounters)}},
}

// counterLock is one bucket's lock of one kind of counter work.
type counterLock struct {
	kind   lockKind
	bucket int
}

// key is the lock's key in counters_bucket_lock.sql: 16 per kind.
func (l counterLock) key() int { return int(l.kind)*16 + l.bucket }

// name labels the lock in orderflow_shared_lock_held_seconds_total.
func (l counterLock) name() string { return lockKinds[l.kind].name + "/" + strconv.Itoa(l.bucket) }

// withCounterLock runs fn in a transaction of pool that first takes l (its
// families' locks shared, then its bucket's, in one round trip); they last
// until it ends. How long the bucket's lock was held goes to observe.LockHeld.
func withCounterLock(ctx context.Context, pool *pgxpool.Pool, l counterLock, fn func(pgx.Tx) error) error {
	var held time.Time
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		locks := &pgx.Batch{}
		locks.Queue(db.Query("counters_lock"), lockKinds[l.kind].families)
		locks.Queue(db.Query("counters_bucket_lock"), l.key())
		if err := tx.SendBatch(ctx, locks).Close(); err != nil {
			return fmt.Errorf("lock %s: %w", l.name(), err)
		}
		held = time.Now()
		return fn(tx)
	})
	if !held.IsZero() {
		observe.LockHeld(l.name(), time.Since(held))
	}
	return err
}

// foldAndEmit folds orders into the per-user counters and publishes the
// cumulative counters of users and of every user whose counters moved.
// The two families fold at once on two connections; each folds its orders
// bucket by bucket, each bucket in its own transaction under that bucket's
// lock (a fold is a no-op when repeated, so a retry after some buckets
// committed is safe). Then the users' counters are read and published
// bucket by bucket of users, each under its bucket's publication lock, so
// concurrent pipelines publish each user's states in order.
func (a *Activities) foldAndEmit(ctx context.Context, orders, users []uuid.UUID) (EmitCountersResult, error) {
	var res EmitCountersResult
	var moved [2][]uuid.UUID
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		moved[0], err = a.applyCounts(gctx, productCounters, orders)
		res.ProductChanges = int64(len(moved[0]))
		return err
	})
	g.Go(func() (err error) {
		moved[1], err = a.applyCounts(gctx, categoryCounters, orders)
		res.CategoryChanges = int64(len(moved[1]))
		return err
	})
	if err := g.Wait(); err != nil {
		return res, err
	}
	touched := slices.Concat(users, moved[0], moved[1])
	slices.SortFunc(touched, func(x, y uuid.UUID) int { return bytes.Compare(x[:], y[:]) })
	touched = slices.Compact(touched)
	for b, keys := range byBucket(touched) {
		if len(keys) == 0 {
			continue
		}
		err := withCounterLock(ctx, a.DB.Dds, counterLock{kind: publishCounters, bucket: b}, func(tx pgx.Tx) error {
			recs, err := a.userCounterRecords(ctx, tx, keys)
			if err != nil {
				return err
			}
			if err := a.Kafka.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				return fmt.Errorf("produce %s: %w", a.Settings.Kafka.DdsTopic, err)
			}
			res.Users += len(recs)
			return nil
		})
		if err != nil {
			return res, err
		}
	}
	observe.AddRows("dds.b_user_product_cnt", res.ProductChanges)
	observe.AddRows("dds.b_user_category_cnt", res.CategoryChanges)
	return res, nil
}

// applyCounts runs one family's fold for the orders, bucket by bucket of
// order keys, and returns the user of every counter it changed.
func (a *Activities) applyCounts(ctx context.Context, f counterFamily, orders []uuid.UUID) (users []uuid.UUID, err error) {
	work := familyWork[f]
	for b, keys := range byBucket(orders) {
		if len(keys) == 0 {
			continue
		}
		err := withCounterLock(ctx, a.DB.Dds, counterLock{kind: work.fold, bucket: b}, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, db.Query(work.foldQuery), keys)
			if err != nil {
				return fmt.Errorf("apply %s: %w", f, err)
			}
			moved, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
			if err != nil {
				return fmt.Errorf("apply %s: %w", f, err)
			}
			users = append(users, moved...)
			return nil
		})
		if err != nil {
			return users, err
		}
	}
	return users, nil
}

// copyCounters copies one family's pending counters into its mart, bucket by
// bucket of user keys, each in its own transaction under its bucket's copy
// lock: fn gets the bucket's smallest and largest user key and returns the
// rows it changed.
func copyCounters(ctx context.Context, pool *pgxpool.Pool, f counterFamily, fn func(tx pgx.Tx, lo, hi uuid.UUID) (int64, error)) (int64, error) {
	var changed int64
	for b := range counterBuckets {
		lo, hi := bucketRange(b)
		err := withCounterLock(ctx, pool, counterLock{kind: familyWork[f].copy, bucket: b}, func(tx pgx.Tx) error {
			n, err := fn(tx, lo, hi)
			changed += n
			return err
		})
		if err != nil {
			return changed, err
		}
	}
	return changed, nil
}
