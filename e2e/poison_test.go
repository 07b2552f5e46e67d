package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/faults"
	"github.com/orderflow/orderflow/simulator"
	"github.com/orderflow/orderflow/verify"
)

// TestPoisonRecordIsSetAside arms the poison hook (ORDERFLOW_FAULT_POISON)
// so that one chosen valid order fails for good inside each activity in
// turn. The safety net must find it, store it as poison with the error, and
// load the rest: lag 0, the marts equal the oracle of every other message,
// and no run fails for good.
func TestPoisonRecordIsSetAside(t *testing.T) {
	for _, step := range []string{"EnrichViaRedis", "LoadStg", "LoadDdsVault", "EmitCounters", "UpsertCdm"} {
		t.Run(step, func(t *testing.T) {
			cfg := faultConfig(t, 1)
			w := simulator.NewWorld(simulator.Options{Seed: time.Now().UnixNano(), Users: 100, Restaurants: 3, End: time.Now().UTC()})
			msgs := w.History(400)
			victim := closedSingleVersion(t, msgs)
			spec := fmt.Sprintf("%s:0:%d", step, victim)
			s := startStack(t, cfg, faults.Options(func(k string) string {
				if k == faults.EnvPoison {
					return spec
				}
				return ""
			}))
			if err := w.SaveRefData(context.Background(), s.rdb); err != nil {
				t.Fatal(err)
			}
			produce(t, s.kcl, cfg.Kafka.InputTopic, msgs)
			s.schedule(t)
			s.waitDrained(t, 3*time.Minute)

			rest := append(append([]simulator.Message{}, msgs[:victim]...), msgs[victim+1:]...)
			want := w.Expect(rest)
			checkMarts(t, s, want)
			checkNoDuplicates(t, s)
			checkPoison(t, s, victim, step)
			checkNoRunFailed(t, s)
			checkVerify(t, s)
			checkOrders(t, s, want.Orders, " (the poison order must not stay)")
			checkNoWorkingRows(t, s)
		})
	}
}

// closedSingleVersion picks a loadable CLOSED order that has one message
// only, so the oracle without it is simply the oracle of the others.
func closedSingleVersion(t *testing.T, msgs []simulator.Message) int {
	t.Helper()
	seen := map[int64]int{}
	for _, m := range msgs {
		seen[m.ObjectID]++
	}
	for i := len(msgs) / 3; i < len(msgs); i++ {
		m := msgs[i]
		if m.WantReason != "" || m.Tombstone || seen[m.ObjectID] != 1 {
			continue
		}
		var v struct {
			Payload struct {
				FinalStatus string `json:"final_status"`
			} `json:"payload"`
		}
		if json.Unmarshal(m.Value, &v) == nil && v.Payload.FinalStatus == "CLOSED" {
			return i
		}
	}
	t.Fatal("no single-version CLOSED order among the messages")
	return 0
}

// checkPoison: the record at offset is stored as poison, naming the step.
func checkPoison(t *testing.T, s *stack, offset int, step string) {
	t.Helper()
	var reason, detail string
	err := s.pool.QueryRow(context.Background(), `SELECT reason, detail FROM stg.rejected_messages
		WHERE "partition" = 0 AND "offset" = $1`, offset).Scan(&reason, &detail)
	if err != nil {
		t.Fatalf("the poison record at offset %d is not in stg.rejected_messages: %v", offset, err)
	}
	if reason != "poison" || !strings.Contains(detail, step) || !strings.Contains(detail, "InjectedPoison") {
		t.Errorf("offset %d stored as %s %q, want poison naming %s and the error type", offset, reason, detail, step)
	}
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM stg.rejected_messages WHERE reason = 'poison'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d records stored as poison, want 1", n)
	}
}

// checkNoWorkingRows: once drained, no working row is left, of a batch or
// of the parts the safety net made of it (<batch id>/<n>).
func checkNoWorkingRows(t *testing.T, s *stack) {
	t.Helper()
	var n int
	err := s.pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM stg.batch_messages) + (SELECT count(*) FROM stg.batch_orders)`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d working rows left after the drain", n)
	}
}

// checkNoRunFailed: no run failed for good (stg.run_failures is empty).
func checkNoRunFailed(t *testing.T, s *stack) {
	t.Helper()
	var n int
	var last string
	err := s.pool.QueryRow(context.Background(), `SELECT count(*), coalesce(max(step || ': ' || error_type || ': ' || message), '')
		FROM stg.run_failures`).Scan(&n, &last)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d runs failed for good, e.g. %s", n, last)
	}
}

// TestFaultNotAboutRecordsStopsThePipeline: a missing table is not a bad
// record; the safety net must not set the batch aside as poison. The runs
// fail for good, the failure is recorded, nothing is committed; once the
// table is back the backlog drains and the marts equal the oracle.
func TestFaultNotAboutRecordsStopsThePipeline(t *testing.T) {
	ctx := context.Background()
	s := startStack(t, faultConfig(t, 1))
	if _, err := s.pool.Exec(ctx, `ALTER TABLE dds.s_order_cost RENAME TO s_order_cost_away`); err != nil {
		t.Fatal(err)
	}
	_, msgs, want := generate(t, s, 300)
	s.schedule(t)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var failures int
		var typ, step string
		err := s.pool.QueryRow(ctx, `SELECT count(*), coalesce(max(error_type), ''), coalesce(max(step), '') FROM stg.run_failures`).Scan(&failures, &typ, &step)
		if err != nil {
			t.Fatal(err)
		}
		if failures >= 2 {
			if typ != "BadSQL" || step != "LoadDdsVault" {
				t.Errorf("recorded failure %s at %s, want BadSQL at LoadDdsVault", typ, step)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs recorded as failed after 2 minutes, want 2", failures)
		}
		time.Sleep(300 * time.Millisecond)
	}
	var poison, committed int
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM stg.rejected_messages WHERE reason = 'poison'),
		(SELECT count(*) FROM stg.batches WHERE committed_at IS NOT NULL AND fetched > 0)`).Scan(&poison, &committed); err != nil {
		t.Fatal(err)
	}
	if poison != 0 || committed != 0 {
		t.Fatalf("a fault that is not about records set %d records aside as poison and committed %d batches", poison, committed)
	}
	if _, err := s.pool.Exec(ctx, `ALTER TABLE dds.s_order_cost_away RENAME TO s_order_cost`); err != nil {
		t.Fatal(err)
	}
	s.waitDrained(t, 3*time.Minute)
	checkMarts(t, s, want)
	checkRejectedCounts(t, s, want)
	checkNoDuplicates(t, s)
	checkVerify(t, s)
	_ = msgs
}

// checkVerify: `orderflow verify` recomputes the marts from the vault and
// finds no difference and no orphan.
func checkVerify(t *testing.T, s *stack) {
	t.Helper()
	rep, err := verify.Run(context.Background(), s.pool)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !rep.Clean() {
		var b strings.Builder
		_ = rep.Write(&b, 20)
		t.Errorf("verify found %d mismatches:\n%s", rep.Mismatches(), b.String())
	}
	t.Logf("verify: %s", rep.Summary())
}
