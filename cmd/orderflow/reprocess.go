package main

import (
	"context"
	"fmt"

	"github.com/orderflow/orderflow/order"
	"github.com/orderflow/orderflow/refdata"
	"github.com/orderflow/orderflow/rejects"
)

func cmdReprocess(ctx context.Context, e *env, args []string) error {
	fs := flags("reprocess", "reprocess -reason unknown_restaurant|product_not_in_menu")
	reason := fs.String("reason", "", "which rejected messages to re-check")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	switch {
	case *reason == "":
		return usagef(fs, "-reason is required")
	case !order.Reason(*reason).Fixable():
		return usagef(fs, "-reason %q: want %s or %s (the other reasons' message bytes themselves are bad)", *reason, order.ReasonUnknownRestaurant, order.ReasonNotInMenu)
	}
	return withClients(ctx, e, usePostgres|useRedis|useKafka, func(c *clients) error {
		rep, err := rejects.Reprocess(ctx, c.pool, refdata.NewStore(c.rdb), c.kafka, e.cfg.Kafka.InputTopic, order.Reason(*reason))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.out, "%s: %d checked, %d re-queued and resolved, %d still failing\n", *reason, rep.Checked, rep.Requeued, rep.StillOpen)
		return nil
	})
}
