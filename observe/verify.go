package observe

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The last verification's result (CONTRACT §14), set by the RunVerify activity
// of the Verify workflow (daily schedule <SCHEDULE_ID>-verify) in the dds
// worker. They are 0 until a run finishes in this process: read
// orderflow_verify_last_run_timestamp_seconds first (0: no run yet here).
var (
	// VerifyMismatches is how many problems the last verification found:
	// counter and name differences plus orphan rows (orderflow_verify_mismatches).
	VerifyMismatches = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "orderflow_verify_mismatches",
		Help: "Problems the last verification found: counter and name differences between the vault, the per-user counters and the marts, plus link and satellite rows naming a missing hub.",
	})
	// VerifyRowsChecked is how many rows the last verification compared or
	// checked (orderflow_verify_rows_checked).
	VerifyRowsChecked = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "orderflow_verify_rows_checked",
		Help: "Counters compared plus link and satellite rows checked by the last verification.",
	})
	// VerifyDuration is how long the last verification took (orderflow_verify_duration_seconds).
	VerifyDuration = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "orderflow_verify_duration_seconds",
		Help: "How long the last verification took.",
	})
	// VerifyLastRun is when the last verification finished, in Unix seconds
	// (orderflow_verify_last_run_timestamp_seconds; 0: none in this process).
	VerifyLastRun = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "orderflow_verify_last_run_timestamp_seconds",
		Help: "When the last verification finished (Unix seconds; 0: none since this process started).",
	})
)

func init() {
	Registry.MustRegister(VerifyMismatches, VerifyRowsChecked, VerifyDuration, VerifyLastRun)
}

// VerifyFinished records a verification that finished at with the given result.
func VerifyFinished(mismatches, rowsChecked int64, took time.Duration, at time.Time) {
	VerifyMismatches.Set(float64(mismatches))
	VerifyRowsChecked.Set(float64(rowsChecked))
	VerifyDuration.Set(took.Seconds())
	VerifyLastRun.Set(float64(at.UnixNano()) / 1e9)
}
