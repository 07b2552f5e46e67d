package deploy

import (
	"path/filepath"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orderflow/orderflow/config"
)

// The production overlay (k8s/overlays/production): its namespace, pinned
// images, and the KEDA component's ScaledObjects and TriggerAuthentication.

func TestProductionOverlay(t *testing.T) {
	r := render(t, "k8s/overlays/production")
	checkBase(t, r)
	cm := r.configMaps[0]
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := cm.Data[k]; return v, ok })
	if err != nil {
		t.Fatalf("production settings: %v", err)
	}

	// Every namespaced object lands in the overlay's namespace.
	if len(r.namespaces) != 1 {
		t.Fatalf("%d Namespaces, want 1", len(r.namespaces))
	}
	ns := r.namespaces[0].Name
	for _, d := range r.deployments {
		if d.Namespace != ns {
			t.Errorf("Deployment %s in namespace %q, want %s", d.Name, d.Namespace, ns)
		}
		if c := d.Spec.Template.Spec.Containers[0]; imageTag(c.Image) == "latest" || imageTag(c.Image) == "dev" || imageTag(c.Image) == "" {
			t.Errorf("Deployment %s: image %q is not pinned to a release", d.Name, c.Image)
		}
		if d.Spec.Replicas != nil && d.Spec.Template.Labels[componentLabel] == "worker" {
			t.Errorf("Deployment %s sets replicas %d: with KEDA the ScaledObject owns it", d.Name, *d.Spec.Replicas)
		}
	}
	if r.namespaces[0].Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace %s does not enforce the restricted Pod Security Standard", ns)
	}

	// The scaler's credentials: one TriggerAuthentication, the workers' own.
	if len(r.triggerAuths) != 1 {
		t.Fatalf("%d TriggerAuthentications, want 1", len(r.triggerAuths))
	}
	ta := r.triggerAuths[0]
	params := map[string][2]string{} // parameter -> Secret, key
	for _, ref := range ta.Spec.SecretTargetRef {
		if !slices.Contains([]string{"apiKey", "cert", "key", "keyPassword", "ca"}, ref.Parameter) {
			t.Errorf("TriggerAuthentication %s: parameter %q is none of the temporal scaler's (apiKey, cert, key, keyPassword, ca)", ta.Metadata.Name, ref.Parameter)
		}
		params[ref.Parameter] = [2]string{ref.Name, ref.Key}
	}
	if params["apiKey"] != [2]string{secretName, "TEMPORAL_API_KEY"} {
		t.Errorf("TriggerAuthentication %s: apiKey from %v, want the workers' TEMPORAL_API_KEY in %s", ta.Metadata.Name, params["apiKey"], secretName)
	}
	// The scaler presents the certificate the workers' settings name.
	for param, file := range map[string]string{"cert": cfg.Temporal.TLSCertFile, "key": cfg.Temporal.TLSKeyFile, "ca": cfg.Temporal.TLSCAFile} {
		got, ok := params[param]
		switch {
		case file == "" && ok:
			t.Errorf("TriggerAuthentication %s: %s set but the workers use none", ta.Metadata.Name, param)
		case file != "" && (filepath.Dir(file) != temporalTLSMount || got != [2]string{temporalTLSName, filepath.Base(file)}):
			t.Errorf("TriggerAuthentication %s: %s from %v, want %s key %s (the workers' %s)", ta.Metadata.Name, param, got, temporalTLSName, filepath.Base(file), file)
		}
	}

	// One ScaledObject per role, on the role's Deployment and task queue.
	deployments := map[string]appsv1.Deployment{}
	for _, d := range r.deployments {
		deployments[d.Name] = d
	}
	scaled := map[string]bool{}
	for _, so := range r.scaledObjects {
		d, ok := deployments[so.Spec.ScaleTargetRef.Name]
		if !ok {
			t.Errorf("ScaledObject %s targets %q, no such Deployment", so.Metadata.Name, so.Spec.ScaleTargetRef.Name)
			continue
		}
		if so.Metadata.Namespace != ns {
			t.Errorf("ScaledObject %s in namespace %q, want %s", so.Metadata.Name, so.Metadata.Namespace, ns)
		}
		role := roleOf(t, d)
		scaled[role] = true
		if so.Spec.MinReplicaCount == nil || *so.Spec.MinReplicaCount < 1 || so.Spec.MaxReplicaCount == nil || *so.Spec.MaxReplicaCount < *so.Spec.MinReplicaCount {
			t.Errorf("ScaledObject %s: replicas %v..%v: want 1 <= min <= max (a worker never scales to zero: schedules need it)", so.Metadata.Name, so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount)
		}
		if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "temporal" {
			t.Errorf("ScaledObject %s: triggers %+v, want one of type temporal", so.Metadata.Name, so.Spec.Triggers)
			continue
		}
		tr := so.Spec.Triggers[0]
		if tr.AuthenticationRef == nil || tr.AuthenticationRef.Name != ta.Metadata.Name || tr.AuthenticationRef.Kind != "" && tr.AuthenticationRef.Kind != "TriggerAuthentication" {
			t.Errorf("ScaledObject %s: authenticationRef %+v, want TriggerAuthentication %s", so.Metadata.Name, tr.AuthenticationRef, ta.Metadata.Name)
		}
		md := tr.Metadata
		if md["taskQueue"] != cfg.Temporal.TaskQueue(config.Role(role)) {
			t.Errorf("ScaledObject %s: taskQueue %q, want %q", so.Metadata.Name, md["taskQueue"], cfg.Temporal.TaskQueue(config.Role(role)))
		}
		if md["namespace"] != cfg.Temporal.Namespace {
			t.Errorf("ScaledObject %s: Temporal namespace %q, want TEMPORAL_NAMESPACE %q", so.Metadata.Name, md["namespace"], cfg.Temporal.Namespace)
		}
		if md["endpoint"] == "" && md["endpointFromEnv"] != "TEMPORAL_ADDRESS" {
			t.Errorf("ScaledObject %s: no endpoint (or endpointFromEnv: TEMPORAL_ADDRESS)", so.Metadata.Name)
		}
		if md["tlsServerName"] != cfg.Temporal.TLSServerName {
			t.Errorf("ScaledObject %s: tlsServerName %q, want TEMPORAL_TLS_SERVER_NAME %q", so.Metadata.Name, md["tlsServerName"], cfg.Temporal.TLSServerName)
		}
		if md["targetQueueSize"] == "" {
			t.Errorf("ScaledObject %s: no targetQueueSize", so.Metadata.Name)
		}
		wantQueues := "activity"
		if role == "stg" {
			wantQueues = "workflow,activity" // the stg worker also runs the Pipeline workflow
		}
		if md["queueTypes"] != wantQueues {
			t.Errorf("ScaledObject %s: queueTypes %q, want %q", so.Metadata.Name, md["queueTypes"], wantQueues)
		}
	}
	for _, role := range roles {
		if !scaled[role] {
			t.Errorf("no ScaledObject for role %s", role)
		}
	}
}

// scaledObject is the part of KEDA's ScaledObject (keda.sh/v1alpha1) the
// manifests use; decoding is strict, so a misspelled field fails.
type scaledObject struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion,omitempty"`
			Kind       string `json:"kind,omitempty"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount *int32 `json:"maxReplicaCount,omitempty"`
		PollingInterval *int32 `json:"pollingInterval,omitempty"`
		CooldownPeriod  *int32 `json:"cooldownPeriod,omitempty"`
		Triggers        []struct {
			Type              string            `json:"type"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
				Kind string `json:"kind,omitempty"`
			} `json:"authenticationRef,omitempty"`
		} `json:"triggers"`
	} `json:"spec"`
}

// triggerAuthentication is the part of KEDA's TriggerAuthentication the
// manifests use, decoded strictly.
type triggerAuthentication struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		SecretTargetRef []struct {
			Parameter string `json:"parameter"`
			Name      string `json:"name"`
			Key       string `json:"key"`
		} `json:"secretTargetRef"`
	} `json:"spec"`
}
