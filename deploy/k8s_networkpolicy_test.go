package deploy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/orderflow/orderflow/config"
)

// pgPort is the port of the DSNs in secret.example.yaml (PostgreSQL's 5432).
const pgPort = 5432

// checkNetworkPolicies checks every pod is isolated in both directions by
// exactly one NetworkPolicy, and what each kind of pod may reach.
func checkNetworkPolicies(t *testing.T, r rendered, cfg config.Config) {
	t.Helper()
	dns := []string{"UDP/53", "TCP/53"}
	temporal := fmt.Sprintf("TCP/%d", portOf(t, cfg.Temporal.Address, 7233))
	pg := fmt.Sprintf("TCP/%d", pgPort)
	redis := fmt.Sprintf("TCP/%d", portOf(t, cfg.Redis.Addr, 6379))
	var kafka []string
	for _, b := range cfg.Kafka.Brokers {
		kafka = append(kafka, fmt.Sprintf("TCP/%d", portOf(t, b, 9092)))
	}
	wantEgress := map[string][]string{
		"worker":    append(append([]string{pg, redis, temporal}, kafka...), dns...),
		"api":       append(append([]string{pg}, kafka...), dns...),
		"migrate":   append([]string{pg}, dns...),
		"schedules": append([]string{temporal}, dns...),
	}
	// Who may connect (pods with one of these labels) and to which port.
	type peer struct{ label, value string }
	prometheus := peer{"app.kubernetes.io/name", "prometheus"}
	wantIngress := map[string]struct {
		from []peer
		port int32
	}{
		"worker": {[]peer{prometheus}, healthPort},
		"api":    {[]peer{{apiClientLabel, "true"}, prometheus}, apiPort},
	}
	for _, p := range r.pods() {
		comp := p.template.Labels[componentLabel]
		var policies []networkingv1.NetworkPolicy
		for _, np := range r.networkPolicies {
			sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if err != nil {
				t.Fatalf("NetworkPolicy %s: %v", np.Name, err)
			}
			if !sel.Empty() && sel.Matches(labels.Set(p.template.Labels)) {
				policies = append(policies, np)
			}
		}
		if len(policies) != 1 {
			t.Errorf("%s is selected by %d NetworkPolicies, want 1", p.owner, len(policies))
			continue
		}
		np := policies[0]
		what := fmt.Sprintf("NetworkPolicy %s (for %s)", np.Name, p.owner)
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			t.Errorf("%s: policyTypes %v, want Ingress and Egress", what, np.Spec.PolicyTypes)
		}
		c := p.template.Spec.Containers[0]
		resolve := func(pp networkingv1.NetworkPolicyPort) string {
			proto := corev1.ProtocolTCP
			if pp.Protocol != nil {
				proto = *pp.Protocol
			}
			if pp.Port == nil || pp.EndPort != nil {
				return string(proto) + "/any"
			}
			return fmt.Sprintf("%s/%d", proto, containerPort(c, *pp.Port))
		}
		var egress []string
		for _, rule := range np.Spec.Egress {
			if len(rule.Ports) == 0 {
				t.Errorf("%s: an egress rule without ports", what)
			}
			for _, pp := range rule.Ports {
				egress = append(egress, resolve(pp))
			}
		}
		want, ok := wantEgress[comp]
		if !ok {
			t.Errorf("%s: no expectations for component %q", what, comp)
			continue
		}
		for _, w := range want {
			if !slices.Contains(egress, w) {
				t.Errorf("%s: egress %v does not allow %s", what, egress, w)
			}
		}
		for _, e := range egress {
			if !slices.Contains(want, e) && !(comp == "worker" || comp == "api") {
				t.Errorf("%s: egress to %s, which a %s pod does not need", what, e, comp)
			}
			if strings.HasSuffix(e, "/any") || strings.HasSuffix(e, "/-1") {
				t.Errorf("%s: egress port %s is not one port of this pod", what, e)
			}
		}
		wi, hasIngress := wantIngress[comp]
		if !hasIngress {
			if len(np.Spec.Ingress) > 0 {
				t.Errorf("%s: ingress rules %v, want none (a Job serves nothing)", what, np.Spec.Ingress)
			}
			continue
		}
		seen := map[peer]bool{}
		for _, rule := range np.Spec.Ingress {
			if len(rule.Ports) != 1 || resolve(rule.Ports[0]) != fmt.Sprintf("TCP/%d", wi.port) {
				t.Errorf("%s: ingress ports %v, want TCP %d only", what, rule.Ports, wi.port)
			}
			if len(rule.From) == 0 {
				t.Errorf("%s: ingress from anywhere, want only pods labelled %v", what, wi.from)
			}
			for _, from := range rule.From {
				ok := from.IPBlock == nil && from.PodSelector != nil && len(from.PodSelector.MatchLabels) == 1 && len(from.PodSelector.MatchExpressions) == 0
				if from.PodSelector != nil {
					for k, v := range from.PodSelector.MatchLabels {
						ok = ok && slices.Contains(wi.from, peer{k, v})
						seen[peer{k, v}] = true
					}
				}
				if !ok {
					t.Errorf("%s: ingress from %+v, want only pods labelled one of %v", what, from, wi.from)
				}
			}
		}
		for _, p := range wi.from {
			if !seen[p] {
				t.Errorf("%s: no ingress from pods labelled %s=%s", what, p.label, p.value)
			}
		}
	}
}
