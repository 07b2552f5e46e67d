package activities

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/db"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/vault"
)

// TestBucketsAreKeyRanges: bucketRange(b) holds exactly the keys bucketOf
// puts in b, the ranges follow each other in key order, and PostgreSQL's
// uuid order (which the copies' BETWEEN uses) agrees with it.
func TestBucketsAreKeyRanges(t *testing.T) {
	keys := make([]uuid.UUID, 0, 2000)
	for i := range 2000 {
		keys = append(keys, vault.Hub("user-"+uuid.NewString()[:8]+string(rune('a'+i%26))))
	}
	for b := range counterBuckets {
		lo, hi := bucketRange(b)
		if bucketOf(lo) != b || bucketOf(hi) != b {
			t.Errorf("bucket %d: its range [%s, %s] starts or ends in another bucket", b, lo, hi)
		}
		if b > 0 {
			_, prevHi := bucketRange(b - 1)
			next := prevHi
			for i := len(next) - 1; i >= 0; i-- { // prevHi + 1
				next[i]++
				if next[i] != 0 {
					break
				}
			}
			if next != lo {
				t.Errorf("bucket %d starts at %s, want right after bucket %d's end %s", b, lo, b-1, prevHi)
			}
		}
		for _, k := range keys {
			in := bytes.Compare(k[:], lo[:]) >= 0 && bytes.Compare(k[:], hi[:]) <= 0
			if in != (bucketOf(k) == b) {
				t.Fatalf("key %s: in range of bucket %d = %v, bucketOf = %d", k, b, in, bucketOf(k))
			}
		}
	}
	split := byBucket(keys)
	total := 0
	for _, ks := range split {
		total += len(ks)
	}
	if total != len(keys) {
		t.Errorf("byBucket kept %d of %d keys", total, len(keys))
	}

	ctx := context.Background()
	pool, err := db.Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	for b := range counterBuckets {
		lo, hi := bucketRange(b)
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM unnest($1::uuid[]) k WHERE k BETWEEN $2::uuid AND $3::uuid`, keys, lo, hi).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(split[b]) {
			t.Errorf("bucket %d: PostgreSQL finds %d keys in its range, Go %d", b, n, len(split[b]))
		}
	}
}

// TestFoldsTakeTurnsPerBucket: while another pipeline's transaction holds
// the product fold lock of one bucket of orders, a fold of an order in that
// bucket waits for it, and a fold of an order in another bucket does not.
func TestFoldsTakeTurnsPerBucket(t *testing.T) {
	ctx := context.Background()
	_, pool := testenv.MigratedPostgres(t)
	a := &Activities{DB: Pools{Dds: pool}}
	var inHeld, inOther uuid.UUID
	for i := 0; inHeld == uuid.Nil || inOther == uuid.Nil; i++ {
		k := vault.Hub("order-" + uuid.NewString())
		switch {
		case bucketOf(k) == 3 && inHeld == uuid.Nil:
			inHeld = k
		case bucketOf(k) != 3 && inOther == uuid.Nil:
			inOther = k
		}
	}

	other, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(ctx)
	held := counterLock{kind: foldProducts, bucket: 3}
	if _, err := other.Exec(ctx, db.Query("counters_lock"), []int32{int32(productCounters)}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, db.Query("counters_bucket_lock"), held.key()); err != nil {
		t.Fatal(err)
	}

	// Another bucket: done while the lock is held.
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := a.applyCounts(octx, productCounters, []uuid.UUID{inOther}); err != nil {
		t.Fatalf("a fold of another bucket: %v", err)
	}
	// A category fold of the same bucket: another lock, done too.
	if _, err := a.applyCounts(octx, categoryCounters, []uuid.UUID{inHeld}); err != nil {
		t.Fatalf("a category fold of the held bucket: %v", err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := a.applyCounts(ctx, productCounters, []uuid.UUID{inHeld})
		done <- err
	}()
	if !waitForAdvisoryWaiter(t, pool, func() bool { return len(done) > 0 }, "the fold of the held bucket") {
		t.Fatalf("the fold of the held bucket did not wait for its lock (err %v)", <-done)
	}
	if err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestFoldsWaitForAnOlderBuildsFamilyLock: a worker of a build before the
// bucket locks folds under its family's lock taken exclusively; during a
// rolling deploy a fold of this build waits for it (it takes that lock
// shared), so the two builds never fold one order at once.
func TestFoldsWaitForAnOlderBuildsFamilyLock(t *testing.T) {
	ctx := context.Background()
	_, pool := testenv.MigratedPostgres(t)
	a := &Activities{DB: Pools{Dds: pool}}
	old, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Rollback(ctx)
	if _, err := old.Exec(ctx, `SELECT pg_advisory_xact_lock(1869967212, $1::int)`, int(productCounters)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.applyCounts(ctx, productCounters, []uuid.UUID{vault.Hub("order-1")})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the fold did not wait for the older build's family lock (err %v)", err)
	case <-time.After(500 * time.Millisecond):
	}
	if err := old.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the fold still waits after the older build's lock was released")
	}
}

// TestFoldTakesBackWithoutGoingBelowZero: an order that no longer
// contributes (here: gone from the vault) is taken back from its user's
// counter, which is pending again; a take-back from a counter that is not
// there changes nothing (PostgreSQL checks order_cnt >= 0 on the upsert's
// proposed row, which is why it carries the delta's size, not its sign).
func TestFoldTakesBackWithoutGoingBelowZero(t *testing.T) {
	ctx := context.Background()
	_, pool := testenv.MigratedPostgres(t)
	a := &Activities{DB: Pools{Dds: pool}}
	user, product := vault.Hub("user-1"), vault.Hub("product-1")
	counted, missing := vault.Hub("order-1"), vault.Hub("order-2")
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO dds.b_order_product_counted (h_order_pk, h_product_pk, h_user_pk) VALUES ($1, $3, $4), ($2, $3, $5)`,
		counted, missing, product, user, vault.Hub("user-2"))
	exec(`INSERT INTO dds.b_user_product_cnt (h_user_pk, h_product_pk, order_cnt, pending) VALUES ($1, $2, 3, false)`, user, product)

	moved, err := a.applyCounts(ctx, productCounters, []uuid.UUID{counted, missing})
	if err != nil {
		t.Fatal(err)
	}
	if len(moved) != 1 || moved[0] != user {
		t.Errorf("moved users %v, want only %s", moved, user)
	}
	var cnt int
	var pending bool
	if err := pool.QueryRow(ctx, `SELECT order_cnt, pending FROM dds.b_user_product_cnt WHERE h_user_pk = $1 AND h_product_pk = $2`, user, product).Scan(&cnt, &pending); err != nil {
		t.Fatal(err)
	}
	if cnt != 2 || !pending {
		t.Errorf("counter after the take-back: %d (pending %v), want 2, pending", cnt, pending)
	}
	var rows, left int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM dds.b_user_product_cnt), (SELECT count(*) FROM dds.b_order_product_counted)`).Scan(&rows, &left); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || left != 0 {
		t.Errorf("%d counters (want 1: none made for the missing one), %d counted rows left (want 0)", rows, left)
	}
}

// waitForAdvisoryWaiter waits until some session waits for an advisory lock
// (true) or finished says the caller's work is done without waiting
// (false); after 10 s it fails the test, naming what.
func waitForAdvisoryWaiter(t *testing.T, pool *pgxpool.Pool, finished func() bool, what string) bool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !finished() {
		if time.Now().After(deadline) {
			t.Fatalf("%s neither waited on its lock nor finished within 10s", what)
		}
		var waiting int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
