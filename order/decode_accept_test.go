package order

import (
	"strings"
	"testing"
)

// nested is depth arrays, one inside the other.
func nested(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }

// manyKeysJSON is the members "k0": 0, ..., "k<n-1>": 0 of an object.
func manyKeysJSON(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"k` + itoa(i) + `": 0`)
	}
	return b.String()
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name  string
		value []byte
		check func(t *testing.T, ev Event)
	}{
		{"sent_dttm missing uses the record time", mutate(t, func(m map[string]any) { delete(m, "sent_dttm") }), func(t *testing.T, ev Event) {
			if !ev.SentDttm.Equal(recordTS) {
				t.Errorf("sent_dttm %s, want the record time %s", ev.SentDttm, recordTS)
			}
		}},
		{"RFC 3339 timestamps", mutate(t, func(m map[string]any) { payload(m)["update_ts"] = "2023-04-01T23:45:43+03:00" }), func(t *testing.T, ev Event) {
			if got := ev.UpdateTS.Format(TimeLayout); got != "2023-04-01 20:45:43" {
				t.Errorf("update_ts %s, want it in UTC", got)
			}
		}},
		{"escaped names", []byte(strings.Replace(good, "Рис с лимоном", `\u0420\u0438\u0441`, 1)), func(t *testing.T, ev Event) {
			if ev.Items[0].Name != "Рис" {
				t.Errorf("name %q", ev.Items[0].Name)
			}
		}},
		{"fractional cost", mutate(t, func(m map[string]any) { payload(m)["cost"] = 300.5 }), func(t *testing.T, ev Event) {
			if ev.Cost != 300.5 {
				t.Errorf("cost %v", ev.Cost)
			}
		}},
		{"cancelled", mutate(t, func(m map[string]any) { payload(m)["final_status"] = "CANCELLED" }), func(t *testing.T, ev Event) {
			if ev.FinalStatus != "CANCELLED" {
				t.Errorf("status %q", ev.FinalStatus)
			}
		}},
		{"unknown fields are ignored", mutate(t, func(m map[string]any) { m["extra"] = []any{1, 2} }), func(t *testing.T, ev Event) {}},
		{"escaped surrogate pair", []byte(strings.Replace(good, "Рис с лимоном", `Рис \ud83d\ude00`, 1)), func(t *testing.T, ev Event) {
			if ev.Items[0].Name != "Рис 😀" {
				t.Errorf("name %q", ev.Items[0].Name)
			}
		}},
		{"escaped key names", []byte(strings.Replace(good, `"final_status"`, `"fin\u0061l_status"`, 1)), func(t *testing.T, ev Event) {
			if ev.FinalStatus != "CLOSED" {
				t.Errorf("status %q", ev.FinalStatus)
			}
		}},
		{"case variants in unknown fields", []byte(strings.Replace(good, `"bonus_grant": 0`, `"bonus_grant": 0, "extra": {"Cost": 1, "cost": 2, "user": {"ID": 1}}, "Extra": 1`, 1)), func(t *testing.T, ev Event) {
			if ev.Cost != 875 {
				t.Errorf("cost %v", ev.Cost)
			}
		}},
		{"32-deep nesting", []byte(strings.Replace(good, `"bonus_grant": 0`, `"bonus_grant": 0, "deep": `+nested(30), 1)), func(t *testing.T, ev Event) {}},
		{"many distinct keys", []byte(strings.Replace(good, `"bonus_grant": 0`, `"bonus_grant": 0, "x": {`+manyKeysJSON(40)+`}`, 1)), func(t *testing.T, ev Event) {}},
		{"statuses absent", mutate(t, func(m map[string]any) { delete(payload(m), "statuses") }), func(t *testing.T, ev Event) {}},
		{"statuses null", mutate(t, func(m map[string]any) { payload(m)["statuses"] = nil }), func(t *testing.T, ev Event) {}},
		{"statuses empty", mutate(t, func(m map[string]any) { payload(m)["statuses"] = []any{} }), func(t *testing.T, ev Event) {}},
		{"statuses without dttm", mutate(t, func(m map[string]any) {
			payload(m)["statuses"] = []any{map[string]any{"status": "COOKING"}, map[string]any{"status": "DELIVERING"}}
		}), func(t *testing.T, ev Event) {}},
		{"tiny and big numbers", []byte(strings.Replace(good, `"bonus_grant": 0`, `"bonus_grant": 1e-400, "a": -1.5E+308, "b": 5e-324`, 1)), func(t *testing.T, ev Event) {}},
		{"a tab and spaces around", []byte("\t " + good + "\r\n"), func(t *testing.T, ev Event) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, rej := Decode(tt.value, recordTS)
			if rej != nil {
				t.Fatal(rej)
			}
			if msg := readableByPostgres(tt.value) + unambiguous(tt.value); msg != "" {
				t.Fatalf("the fuzz oracles refuse an accepted value: %s", msg)
			}
			tt.check(t, ev)
		})
	}
}
