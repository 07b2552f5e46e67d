package workflows

import (
	"testing"

	"go.temporal.io/sdk/worker"
)

// TestReplayRecordedHistory replays the history of a real batch (recorded by
// the e2e test with ORDERFLOW_SAVE_HISTORY=workflows/testdata/pipeline_history.json)
// against today's workflow code: a change that would break running
// workflows fails here. Record a new history only for a deliberate,
// versioned change.
func TestReplayRecordedHistory(t *testing.T) {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflow(Pipeline) // as the workers do: the history names it "Pipeline"
	if err := r.ReplayWorkflowHistoryFromJSONFile(nil, "testdata/pipeline_history.json"); err != nil {
		t.Fatal(err)
	}
}
