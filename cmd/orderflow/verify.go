package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/orderflow/orderflow/verify"
)

// Exit statuses of `orderflow verify`, as diff(1)'s: 0 clean, 1 differences,
// 2 trouble (a usage error, or the check could not be made).
const (
	verifyDiffers = 1
	verifyTrouble = 2
)

// cmdVerify recomputes the marts from the vault and compares them with the
// marts and the per-user counters, checks for orphans (CONTRACT §14), prints the
// summary and every difference (up to -max lines), and records the result
// in stg.verify_runs for the dashboard.
func cmdVerify(ctx context.Context, e *env, args []string) error {
	fs := flags("verify", "verify [-max N] [-record=false]\n\n"+
		"Exit status: 0 clean, 1 differences or orphans, 2 usage error or the check failed.")
	limit := fs.Int("max", 50, "differences listed before '... and N more' (-1: all)")
	record := fs.Bool("record", true, "store the result in stg.verify_runs (the dashboard shows the last run)")
	if err := parseFlags(e, fs, args); err != nil {
		return err // a usage error's exit status is verifyTrouble's, 2
	}
	err := withClients(ctx, e, usePostgres, func(c *clients) error {
		rep, err := verify.Run(ctx, c.pool)
		if err == nil {
			err = rep.Write(e.out, *limit)
		}
		if err != nil {
			return err
		}
		if *record {
			if _, err := verify.Record(ctx, c.pool, rep); err != nil {
				e.log.Warn("the result was not recorded (run orderflow migrate?)", "err", err)
			}
		}
		if !rep.Clean() {
			return &exitError{verifyDiffers, fmt.Errorf("verify: %d mismatches", rep.Mismatches())}
		}
		return nil
	})
	var ee *exitError
	if err != nil && !errors.As(err, &ee) {
		// The check could not be made.
		return &exitError{verifyTrouble, err}
	}
	return err
}
