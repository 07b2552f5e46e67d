package deploy

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// checkJobs checks the two setup Jobs: migrate (as the DDL login, named by
// the schema version) and schedule ensure.
func checkJobs(t *testing.T, r rendered, configMap string) {
	t.Helper()
	byComponent := map[string]batchv1.Job{}
	for _, j := range r.jobs {
		byComponent[j.Spec.Template.Labels[componentLabel]] = j
	}
	if len(r.jobs) != 2 || len(byComponent) != 2 {
		t.Fatalf("%d Jobs (%v), want 2: migrate and schedules", len(r.jobs), slices.Collect(maps.Keys(byComponent)))
	}
	for component, hook := range map[string]string{"migrate": "PreSync", "schedules": "PostSync"} {
		j, ok := byComponent[component]
		if !ok {
			t.Errorf("no Job with %s=%s", componentLabel, component)
			continue
		}
		what := "Job " + j.Name
		spec := j.Spec.Template.Spec
		if spec.RestartPolicy != corev1.RestartPolicyOnFailure && spec.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("%s: restartPolicy %q", what, spec.RestartPolicy)
		}
		if len(spec.InitContainers) > 0 || len(spec.Containers) != 1 {
			t.Errorf("%s: want one container, no initContainers", what)
			continue
		}
		// Re-appliable by Argo CD (a hook, replaced on every sync) and Flux
		// (recreated when the immutable template changes).
		for k, v := range map[string]string{
			"argocd.argoproj.io/hook":               hook,
			"argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
			"kustomize.toolkit.fluxcd.io/force":     "enabled",
		} {
			if j.Annotations[k] != v {
				t.Errorf("%s: annotation %s=%q, want %q", what, k, j.Annotations[k], v)
			}
		}
		if j.Spec.TTLSecondsAfterFinished != nil {
			t.Errorf("%s: ttlSecondsAfterFinished: GitOps tools would recreate (and re-run) the deleted Job", what)
		}
		c := spec.Containers[0]
		if _, ok := envVar(c, "WORKER_ROLES"); ok {
			t.Errorf("%s sets WORKER_ROLES", what)
		}
		switch component {
		case "migrate":
			want := fmt.Sprintf("orderflow-migrate-v%03d", highestMigration(t))
			if j.Name != want {
				t.Errorf("Job %s: want the name %s (the highest db/migrations number): a new schema version must be a new Job", j.Name, want)
			}
			if !slices.Equal(c.Args, []string{"migrate"}) {
				t.Errorf("%s: args %v, want [migrate]", what, c.Args)
			}
			if s, k := secretKeyOf(c, "PG_DSN"); s != migrateSecret || k != migrateDSNKey {
				t.Errorf("%s: PG_DSN from Secret %q key %q, want %s key %s (the DDL login)", what, s, k, migrateSecret, migrateDSNKey)
			}
			// As a PreSync hook it runs before the ConfigMap and the
			// ServiceAccount of the same sync exist: it must need neither.
			if len(c.EnvFrom) > 0 {
				t.Errorf("%s: envFrom %+v: the migrate Job reads only PG_DSN (and must not need the ConfigMap)", what, c.EnvFrom)
			}
			if sa := spec.ServiceAccountName; sa != "" && sa != "default" {
				t.Errorf("%s: ServiceAccount %s: a PreSync hook runs before it is created", what, sa)
			}
		case "schedules":
			if !slices.Equal(c.Args, []string{"schedule", "ensure"}) {
				t.Errorf("%s: args %v, want [schedule ensure]", what, c.Args)
			}
			checkEnvFrom(t, what, c, configMap, true)
			checkTemporalTLSVolume(t, what, spec, c)
		}
	}
	// Only the migrate Job has the DDL login, only the API the reader login.
	owner := map[string]struct{ component, env string }{
		migrateSecret: {"migrate", "PG_DSN"},
		readerSecret:  {"api", "PG_DSN"},
	}
	for _, p := range r.pods() {
		comp := p.template.Labels[componentLabel]
		for _, c := range p.template.Spec.Containers {
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil && (ef.SecretRef.Name == migrateSecret || ef.SecretRef.Name == readerSecret) {
					t.Errorf("%s container %s: envFrom Secret %s", p.owner, c.Name, ef.SecretRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				if o, ok := owner[e.ValueFrom.SecretKeyRef.Name]; ok && (o.component != comp || o.env != e.Name) {
					t.Errorf("%s container %s: %s from Secret %s, which only the %s pods read (as %s)", p.owner, c.Name, e.Name, e.ValueFrom.SecretKeyRef.Name, o.component, o.env)
				}
			}
		}
	}
}

// highestMigration returns the number of the newest db/migrations/NNN_*.sql.
func highestMigration(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob("../db/migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations in ../db/migrations: %v", err)
	}
	highest := 0
	for _, f := range files {
		n, err := strconv.Atoi(strings.SplitN(filepath.Base(f), "_", 2)[0])
		if err != nil {
			t.Fatalf("migration %s: name must start with a number", f)
		}
		highest = max(highest, n)
	}
	return highest
}
