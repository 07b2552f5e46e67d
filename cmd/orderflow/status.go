package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/health"
	"github.com/orderflow/orderflow/kafkaio"
)

// statusStalled is `orderflow status`'s exit status while the pipeline is
// stalled (health.Judge).
const statusStalled = 3

// errStalled is what cmdStatus returns while the pipeline is stalled.
var errStalled = errors.New("the pipeline is stalled")

func cmdStatus(ctx context.Context, e *env, args []string) error {
	fs := flags("status", "status\n\n"+
		"Prints the lag and row counts, then the stall verdict: 'pipeline ok: last commit …' or\n"+
		"'STALLED since …' with the shard, the rule (runs keep failing: 2 runs failed for good since\n"+
		"its last commit; records wait: lag > 0 and no commit for 3 SCHEDULE_INTERVALs), the last\n"+
		"error's type, step and message, and the last commit.\n\n"+
		"Exit status: 0 not stalled, 3 stalled, 1 the check failed (PostgreSQL or Kafka did not answer), 2 usage error.")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	return withClients(ctx, e, usePostgres|useKafka, func(c *clients) error {
		return printStatus(ctx, e, c.pool, c.kafka)
	})
}

// printStatus prints the progress line and the stall verdict; while the
// pipeline is stalled it returns errStalled with exit status statusStalled.
func printStatus(ctx context.Context, e *env, pool *pgxpool.Pool, cl *kgo.Client) error {
	rep, err := health.Take(ctx, e.cfg, pool, kafkaio.Admin(cl))
	if err != nil {
		return err
	}
	fmt.Fprintln(e.out, rep.String())
	st, err := health.CheckStall(ctx, pool, e.cfg.Pipeline.Shards, e.cfg.Pipeline.ScheduleInterval, rep.Lag)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.out, st.String())
	for _, sh := range st.Shards[min(1, len(st.Shards)):] {
		fmt.Fprintf(e.out, "  also %s, since %s UTC; last error: %s\n",
			sh.Headline(st.Interval), sh.Since.UTC().Format(time.DateTime), sh.LastError())
	}
	if st.Stalled {
		return &exitError{statusStalled, errStalled}
	}
	return nil
}
