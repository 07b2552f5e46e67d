//go:build faults

package main

import (
	"os"

	"go.uber.org/fx"

	"github.com/orderflow/orderflow/internal/faults"
)

// faultOptions arms the faults the ORDERFLOW_FAULT_* variables ask for
// (internal/faults): this binary was built with -tags faults, for the
// tests, and `worker` and `dev` add these options to their fx app
// (workers.App, or dev's app around workers.Process).
func faultOptions() (fx.Option, error) {
	return faults.Options(os.Getenv), nil
}
