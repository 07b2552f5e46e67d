package vault

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// vectors is testdata/keys.json: keys computed independently from the spec's rule.
type vectors struct {
	Namespace string `json:"namespace"`
	Hubs      []struct {
		Table       string `json:"table"`
		BusinessKey string `json:"business_key"`
		Key         string `json:"key"`
	} `json:"hubs"`
	Links []struct {
		Table string `json:"table"`
		Input string `json:"input"`
		Key   string `json:"key"`
	} `json:"links"`
	Hashdiffs []struct {
		Table string `json:"table"`
		Input string `json:"input"`
		Key   string `json:"key"`
	} `json:"hashdiffs"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/keys.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNamespaceMatchesVectors(t *testing.T) {
	if got := Namespace.String(); got != loadVectors(t).Namespace {
		t.Fatalf("namespace %s, vectors say %s", got, loadVectors(t).Namespace)
	}
}

func TestHubKeys(t *testing.T) {
	for _, h := range loadVectors(t).Hubs {
		if got := Hub(h.BusinessKey).String(); got != h.Key {
			t.Errorf("%s(%q) = %s, want %s", h.Table, h.BusinessKey, got, h.Key)
		}
	}
	if got := OrderHub(322519).String(); got != "2a47ad67-2be5-505a-8639-052c41707c9e" {
		t.Errorf("OrderHub(322519) = %s", got)
	}
}

func TestLinkKeys(t *testing.T) {
	for _, l := range loadVectors(t).Links {
		a := uuid.MustParse(l.Input[:36])
		b := uuid.MustParse(l.Input[36:])
		if got := Link(a, b).String(); got != l.Key {
			t.Errorf("%s = %s, want %s", l.Table, got, l.Key)
		}
	}
}

func TestHashDiffs(t *testing.T) {
	for _, h := range loadVectors(t).Hashdiffs {
		parts := strings.Split(h.Input, "|")
		got := HashDiff(uuid.MustParse(parts[0]), parts[1:]...).String()
		if got != h.Key {
			t.Errorf("%s %q = %s, want %s", h.Table, h.Input, got, h.Key)
		}
	}
}

func TestHashDiffFormatting(t *testing.T) {
	order := OrderHub(322519)
	user := Hub("626a81ce9a8cd1920641e296")
	login := "olga_k"
	tests := []struct {
		name  string
		key   uuid.UUID
		attrs []string
		want  string
	}{
		{"whole numbers drop the fraction", order, []string{Num(300), Num(300)}, "58fc3112-767a-5b68-ac56-45ecc28bf779"},
		{"fractions are shortest", order, []string{Num(300.5), Num(0)}, "2ca49dcc-26dc-5ab1-a92b-1f8c9b6f7f11"},
		{"null is empty", user, []string{"Котова Ольга Вениаминовна", Opt(nil)}, "ff6bcd12-0ab0-5fe6-9439-dc227938f4d0"},
		{"present login", user, []string{"Котова Ольга Вениаминовна", Opt(&login)}, "2997e075-6e0f-5f43-83a3-2b3fbae0bbef"},
	}
	for _, tt := range tests {
		if got := HashDiff(tt.key, tt.attrs...).String(); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
	if got := Num(1e21); strings.ContainsAny(got, "e") {
		t.Errorf("Num(1e21) = %s: want plain decimal digits", got)
	}
}

func FuzzHubIsStable(f *testing.F) {
	f.Add("626a81ce9a8cd1920641e296")
	f.Add("Выпечка")
	f.Fuzz(func(t *testing.T, s string) {
		a, b := Hub(s), Hub(s)
		if a != b || a.Version() != 5 {
			t.Fatalf("Hub(%q) unstable or not v5: %s %s", s, a, b)
		}
	})
}
