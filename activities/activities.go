// Package activities holds the pipeline's Temporal activities: one
// Activities struct carries every dependency, and each method is one step
// of a batch (CONTRACT §10). Activities exchange small references (batch id,
// offset ranges, counts); the batch's rows stay in Kafka and PostgreSQL.
package activities

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/activity"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/kafkaio"
	"github.com/orderflow/orderflow/refdata"
)

// Activities holds what the activities need. One value serves every role;
// each worker registers it and only its role's activities are scheduled there.
type Activities struct {
	Settings Settings
	DB       Pools
	Refs     *refdata.Store
	Kafka    *kgo.Client
	Admin    *kadm.Client
	// Limits knows what each output topic accepts (max.message.bytes).
	Limits *kafkaio.Limits
	Log    *slog.Logger
	// Hook is the fault tests' seam (Hook); nil in production.
	Hook Hook
}

// Settings are the few settings the activities read: where the topics are
// and how long a fetch waits for records.
type Settings struct {
	Kafka     config.Kafka
	FetchWait time.Duration
}

// Pools are the PostgreSQL pools of the three layers. Each acts as its
// layer's role (db.Role), so an activity has only its layer's privileges.
type Pools struct {
	Stg, Dds, Cdm *pgxpool.Pool
}

// BatchRef names one batch: the workflow run that moves it, the shard that
// owns it, and its load_dt (chosen once by the workflow).
type BatchRef struct {
	BatchID string    `json:"batch_id"`
	Shard   int       `json:"shard"`
	Shards  int       `json:"shards"`
	LoadDT  time.Time `json:"load_dt"`
}

// FetchBatchInput asks for at most Limit records of the shard's partitions,
// or DrainLimit when more than Limit are waiting.
type FetchBatchInput struct {
	Batch      BatchRef `json:"batch"`
	Limit      int      `json:"limit"`
	DrainLimit int      `json:"drain_limit,omitempty"`
}

// FetchBatchResult tells which offsets the batch holds, the limit it used,
// and how many records wait behind it.
type FetchBatchResult struct {
	Ranges  []kafkaio.Range `json:"ranges"`
	Records int             `json:"records"`
	Limit   int             `json:"limit,omitempty"`
	Backlog int64           `json:"backlog"`
}

// BatchInput is the input of every activity after FetchBatch.
type BatchInput struct {
	Batch BatchRef `json:"batch"`
}

// EnrichResult counts the batch's loadable orders and rejected messages.
type EnrichResult struct {
	Orders       int            `json:"orders"`
	Rejected     int            `json:"rejected"`
	ByReason     map[string]int `json:"by_reason,omitempty"`
	UnknownUsers int            `json:"unknown_users"`
	// BrokenUsers counts users whose Redis value is not valid JSON (logged).
	BrokenUsers int `json:"broken_users,omitempty"`
}

// LoadStgResult counts STG rows changed and messages produced.
type LoadStgResult struct {
	Upserted int64 `json:"upserted"`
	Produced int   `json:"produced"`
}

// LoadDdsResult counts the rows each Data Vault table gained.
type LoadDdsResult struct {
	Orders int              `json:"orders"`
	Rows   map[string]int64 `json:"rows"`
}

// EmitCountersResult counts the counter changes applied and messages produced.
type EmitCountersResult struct {
	Users           int   `json:"users"`
	ProductChanges  int64 `json:"product_changes"`
	CategoryChanges int64 `json:"category_changes"`
}

// UpsertCdmResult counts mart rows written.
type UpsertCdmResult struct {
	ProductRows  int64 `json:"product_rows"`
	CategoryRows int64 `json:"category_rows"`
}

// CommitInput names the ranges whose offsets to commit.
type CommitInput struct {
	Batch  BatchRef        `json:"batch"`
	Ranges []kafkaio.Range `json:"ranges"`
	// Parts is how many parts the safety net made of the batch
	// (<batch id>/1 … /<Parts>), whose working rows go too.
	Parts int `json:"parts,omitempty"`
}

// PartID is the batch id of part n (1, 2, …) the safety net makes of a batch.
func PartID(batchID string, n int) string { return fmt.Sprintf("%s/%d", batchID, n) }

// workingIDs are the batch ids of a batch's working rows: its own and its
// parts'. Deleting by this list uses the tables' primary keys, where a
// prefix match would read the whole (and, between vacuums, growing) tables.
func workingIDs(batchID string, parts int) []string {
	ids := []string{batchID}
	for i := 1; i <= parts; i++ {
		ids = append(ids, PartID(batchID, i))
	}
	return ids
}

// heartbeat records progress every few seconds until stop is called, so a
// worker that dies is noticed after the heartbeat timeout, not the activity's.
func heartbeat(ctx context.Context) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(500 * time.Millisecond) // the SDK throttles what it sends
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() { close(done) }
}
