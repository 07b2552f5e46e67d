//go:build !faults

package main

import (
	"fmt"
	"os"
	"strings"

	"go.uber.org/fx"
)

// faultOptions contributes nothing: fault injection (internal/faults) is
// linked only into binaries built with -tags faults, for the tests. A
// production binary asked for a fault (an ORDERFLOW_FAULT_* variable set and
// not empty) refuses to start rather than run without it (exit status 2).
func faultOptions() (fx.Option, error) {
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "ORDERFLOW_FAULT_") && v != "" {
			return nil, &exitError{exitUsage, fmt.Errorf("%s is set, but this orderflow binary has no fault injection: only binaries built with -tags faults (the tests') have it; unset it", k)}
		}
	}
	return fx.Options(), nil
}
