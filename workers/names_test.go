package workers

import (
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/testsuite"

	"github.com/orderflow/orderflow/activities"
	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/workflows"
)

// recorder is a registry that keeps the names the SDK gives what is
// registered: the function's or method's own name (its last dotted
// element, without the -fm of a method value), as worker.RegisterWorkflow
// and RegisterActivity name them.
type recorder struct{ workflows, activities []string }

func sdkName(fn any) string {
	full := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	return strings.TrimSuffix(full[strings.LastIndex(full, ".")+1:], "-fm")
}

func (r *recorder) RegisterWorkflow(w any) { r.workflows = append(r.workflows, sdkName(w)) }
func (r *recorder) RegisterActivity(a any) { r.activities = append(r.activities, sdkName(a)) }

// TestRegisteredNames: each role's worker registers the workflows and
// activities under the names running workflows, schedules and the Temporal
// UI know them by (activities.Names, workflows.PipelineName, VerifyName);
// every activity runs on exactly one role.
func TestRegisteredNames(t *testing.T) {
	a := &activities.Activities{}
	wantWorkflows := map[config.Role][]string{
		config.RoleStg: {workflows.PipelineName},
		config.RoleDds: {workflows.VerifyName},
	}
	wantActivities := map[config.Role][]string{
		config.RoleStg: {"FetchBatch", "EnrichViaRedis", "LoadStg", "CommitOffsets", "SplitBatch", "StorePoison",
			"RecordFailure", "FetchSlice", "FinishSlice"},
		config.RoleDds: {"LoadDdsVault", "EmitCounters", "RetractPoison", "RunVerify"},
		config.RoleCdm: {"UpsertCdm"},
	}
	if workflows.PipelineName != "Pipeline" || workflows.VerifyName != "Verify" {
		t.Errorf("workflow names %q, %q: the schedules start Pipeline and Verify", workflows.PipelineName, workflows.VerifyName)
	}
	var all []string
	for _, role := range config.Roles {
		var r recorder
		registerRole(&r, role, a)
		if got, want := sorted(r.workflows), sorted(wantWorkflows[role]); !slices.Equal(got, want) {
			t.Errorf("%s worker: workflows %v, want %v", role, got, want)
		}
		if got, want := sorted(r.activities), sorted(wantActivities[role]); !slices.Equal(got, want) {
			t.Errorf("%s worker: activities %v, want %v", role, got, want)
		}
		all = append(all, r.activities...)

		// The SDK itself registers them under those names.
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		registerRole(env, role, a)
		for _, name := range wantActivities[role] {
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Errorf("%s worker: activity %s not registered under its name: %v", role, name, p)
					}
				}()
				env.OnActivity(name)
			}()
		}
	}
	if got, want := sorted(all), sorted(activities.Names); !slices.Equal(got, want) {
		t.Errorf("the roles run %v; activities.Names is %v", got, want)
	}
	if got := fmt.Sprint(sorted(activities.Names)); got != fmt.Sprint(slices.Compact(sorted(activities.Names))) {
		t.Errorf("activities.Names repeats a name: %v", activities.Names)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
