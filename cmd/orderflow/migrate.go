package main

import (
	"context"
	"fmt"

	"github.com/orderflow/orderflow/db"
)

func cmdMigrate(ctx context.Context, e *env, args []string) error {
	if err := parseFlags(e, flags("migrate", "migrate"), args); err != nil {
		return err
	}
	n, err := migrate(ctx, e)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.out, "applied %d migration(s)\n", n)
	return nil
}

// migrate applies the migrations on a pool of its own and returns how many
// it applied.
func migrate(ctx context.Context, e *env) (n int, err error) {
	err = withClients(ctx, e, usePostgres, func(c *clients) error {
		n, err = db.Migrate(ctx, c.pool)
		return err
	})
	return n, err
}
