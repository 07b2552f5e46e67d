package order

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const good = `{"object_id": 1371198, "object_type": "order", "sent_dttm": "2023-04-08 20:27:36",
 "payload": {"restaurant": {"id": "ef8c42c19b7518a9aebec106"}, "date": "2023-04-01 20:45:43",
  "user": {"id": "626a81ce9a8cd1920641e29c"},
  "order_items": [{"id": "aeca4d08abab78869c20128c", "name": "Рис с лимоном", "price": 175, "quantity": 5}],
  "bonus_payment": 0, "cost": 875, "payment": 875, "bonus_grant": 0,
  "statuses": [{"status": "CLOSED", "dttm": "2023-04-01 20:45:43"}, {"status": "OPEN", "dttm": "2023-04-01 18:55:52"}],
  "final_status": "CLOSED", "update_ts": "2023-04-01 20:45:43"}}`

var recordTS = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func TestDecodeSpecExample(t *testing.T) {
	ev, rej := Decode([]byte(good), recordTS)
	if rej != nil {
		t.Fatal(rej)
	}
	if ev.ObjectID != 1371198 || ev.UserID != "626a81ce9a8cd1920641e29c" || ev.RestaurantID != "ef8c42c19b7518a9aebec106" {
		t.Errorf("ids: %+v", ev)
	}
	if ev.FinalStatus != "CLOSED" || ev.Cost != 875 || ev.Payment != 875 {
		t.Errorf("status/cost: %+v", ev)
	}
	if got := ev.SentDttm.Format(TimeLayout); got != "2023-04-08 20:27:36" {
		t.Errorf("sent_dttm %s", got)
	}
	if got := ev.UpdateTS.Format(TimeLayout); got != "2023-04-01 20:45:43" {
		t.Errorf("update_ts %s", got)
	}
	if len(ev.Items) != 1 || ev.Items[0].Quantity != 5 || ev.Items[0].Price != 175 || ev.Items[0].Name != "Рис с лимоном" {
		t.Errorf("items %+v", ev.Items)
	}
	if !json.Valid(ev.Payload) || !strings.Contains(string(ev.Payload), `"final_status": "CLOSED"`) {
		t.Errorf("payload not kept raw: %s", ev.Payload)
	}
}

// mutate applies edit to the decoded spec example and re-encodes it.
func mutate(t *testing.T, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(good), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func payload(m map[string]any) map[string]any { return m["payload"].(map[string]any) }
func item0(m map[string]any) map[string]any {
	return payload(m)["order_items"].([]any)[0].(map[string]any)
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name   string
		value  []byte
		reason Reason
		detail string // a fragment the detail must contain
	}{
		{"empty", []byte(``), ReasonMalformedJSON, "not valid JSON"},
		{"truncated", []byte(good[:120]), ReasonMalformedJSON, "not valid JSON"},
		{"garbage", []byte("\x00\x01hello"), ReasonMalformedJSON, "not valid"},
		{"not utf-8", []byte(strings.Replace(good, "Рис", "\xff\xfe", 1)), ReasonMalformedJSON, "UTF-8"},
		{"an array", []byte(`[1,2]`), ReasonInvalidOrder, "JSON object"},
		{"a string", []byte(`"order"`), ReasonInvalidOrder, "JSON object"},
		{"payment event", mutate(t, func(m map[string]any) { m["object_type"] = "payment" }), ReasonIgnoredObjectType, `"payment"`},
		{"object_type a number", mutate(t, func(m map[string]any) { m["object_type"] = 5 }), ReasonInvalidOrder, "object_type"},
		{"object_type missing", mutate(t, func(m map[string]any) { delete(m, "object_type") }), ReasonInvalidOrder, "object_type: missing"},
		{"object_id missing", mutate(t, func(m map[string]any) { delete(m, "object_id") }), ReasonInvalidOrder, "object_id: missing"},
		{"object_id zero", mutate(t, func(m map[string]any) { m["object_id"] = 0 }), ReasonInvalidOrder, "object_id"},
		{"object_id negative", mutate(t, func(m map[string]any) { m["object_id"] = -4 }), ReasonInvalidOrder, "object_id"},
		{"object_id fraction", mutate(t, func(m map[string]any) { m["object_id"] = 1.5 }), ReasonInvalidOrder, "object_id"},
		{"object_id too big", mutate(t, func(m map[string]any) { m["object_id"] = 1e12 }), ReasonInvalidOrder, "object_id"},
		{"object_id a string", mutate(t, func(m map[string]any) { m["object_id"] = "1371198" }), ReasonInvalidOrder, "object_id: want a number"},
		{"payload missing", mutate(t, func(m map[string]any) { delete(m, "payload") }), ReasonInvalidOrder, "payload: missing"},
		{"payload a string", mutate(t, func(m map[string]any) { m["payload"] = "x" }), ReasonInvalidOrder, "payload: want an object"},
		{"user missing", mutate(t, func(m map[string]any) { delete(payload(m), "user") }), ReasonInvalidOrder, "payload.user.id: missing"},
		{"user id empty", mutate(t, func(m map[string]any) { payload(m)["user"] = map[string]any{"id": " "} }), ReasonInvalidOrder, "payload.user.id: empty"},
		{"user id huge", mutate(t, func(m map[string]any) { payload(m)["user"] = map[string]any{"id": strings.Repeat("x", 5000)} }), ReasonInvalidOrder, "longer than"},
		{"restaurant id a number", mutate(t, func(m map[string]any) { payload(m)["restaurant"] = map[string]any{"id": 7} }), ReasonInvalidOrder, "payload.restaurant.id: want a string"},
		{"date missing", mutate(t, func(m map[string]any) { delete(payload(m), "date") }), ReasonInvalidOrder, "payload.date: missing"},
		{"date wrong format", mutate(t, func(m map[string]any) { payload(m)["date"] = "01.04.2023" }), ReasonInvalidOrder, "payload.date"},
		{"update_ts impossible", mutate(t, func(m map[string]any) { payload(m)["update_ts"] = "2023-02-30 10:00:00" }), ReasonInvalidOrder, "payload.update_ts"},
		{"sent_dttm wrong", mutate(t, func(m map[string]any) { m["sent_dttm"] = "yesterday" }), ReasonInvalidOrder, "sent_dttm"},
		{"final_status missing", mutate(t, func(m map[string]any) { delete(payload(m), "final_status") }), ReasonInvalidOrder, "final_status"},
		{"cost negative", mutate(t, func(m map[string]any) { payload(m)["cost"] = -1 }), ReasonInvalidOrder, "payload.cost"},
		{"cost a string", mutate(t, func(m map[string]any) { payload(m)["cost"] = "875" }), ReasonInvalidOrder, "payload.cost: want a number"},
		{"cost huge", mutate(t, func(m map[string]any) { payload(m)["cost"] = 1e300 }), ReasonInvalidOrder, "payload.cost"},
		{"payment missing", mutate(t, func(m map[string]any) { delete(payload(m), "payment") }), ReasonInvalidOrder, "payload.payment: missing"},
		{"items empty", mutate(t, func(m map[string]any) { payload(m)["order_items"] = []any{} }), ReasonInvalidOrder, "order_items"},
		{"items missing", mutate(t, func(m map[string]any) { delete(payload(m), "order_items") }), ReasonInvalidOrder, "order_items"},
		{"items an object", mutate(t, func(m map[string]any) { payload(m)["order_items"] = map[string]any{} }), ReasonInvalidOrder, "order_items: want an array"},
		{"quantity zero", mutate(t, func(m map[string]any) { item0(m)["quantity"] = 0 }), ReasonInvalidOrder, "order_items[0].quantity"},
		{"quantity negative", mutate(t, func(m map[string]any) { item0(m)["quantity"] = -2 }), ReasonInvalidOrder, "order_items[0].quantity"},
		{"quantity fraction", mutate(t, func(m map[string]any) { item0(m)["quantity"] = 1.5 }), ReasonInvalidOrder, "order_items[0].quantity"},
		{"quantity a string", mutate(t, func(m map[string]any) { item0(m)["quantity"] = "5" }), ReasonInvalidOrder, "quantity: want a number"},
		{"price negative", mutate(t, func(m map[string]any) { item0(m)["price"] = -175 }), ReasonInvalidOrder, "order_items[0].price"},
		{"item id missing", mutate(t, func(m map[string]any) { delete(item0(m), "id") }), ReasonInvalidOrder, "order_items[0].id"},
		{"user id with NUL", mutate(t, func(m map[string]any) { payload(m)["user"] = map[string]any{"id": "ab\x00cd"} }), ReasonInvalidOrder, "NUL"},
		{"item id with NUL", mutate(t, func(m map[string]any) { item0(m)["id"] = "\x00" }), ReasonInvalidOrder, "NUL"},
		{"status with NUL", mutate(t, func(m map[string]any) { payload(m)["final_status"] = "CLOSED\x00" }), ReasonInvalidOrder, "NUL"},
		{"ignored type with NUL", mutate(t, func(m map[string]any) { m["object_type"] = "pay\x00ment" }), ReasonIgnoredObjectType, `pay\x00ment`},
		{"item name missing", mutate(t, func(m map[string]any) { delete(item0(m), "name") }), ReasonInvalidOrder, "order_items[0].name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rej := Decode(tt.value, recordTS)
			if rej == nil {
				t.Fatalf("accepted %s", tt.value)
			}
			if rej.Reason != tt.reason || !strings.Contains(rej.Detail, tt.detail) {
				t.Fatalf("got %s %q, want %s containing %q", rej.Reason, rej.Detail, tt.reason, tt.detail)
			}
			if !utf8.ValidString(rej.Detail) || strings.ContainsRune(rej.Detail, 0) {
				t.Fatalf("detail cannot be stored: %q", rej.Detail)
			}
		})
	}
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, rej := Decode(tt.value, recordTS)
			if rej != nil {
				t.Fatal(rej)
			}
			tt.check(t, ev)
		})
	}
}

// FuzzDecode: any bytes either decode into an event that satisfies every
// rule of SPEC 2, or are rejected with a known reason and a UTF-8 detail.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(good[:200]))
	f.Add([]byte(`{"object_type":"payment"}`))
	f.Add([]byte(`{"object_id":1,"object_type":"order","payload":{"order_items":[{}]}}`))
	f.Fuzz(func(t *testing.T, value []byte) {
		ev, rej := Decode(value, recordTS)
		if rej != nil {
			known := false
			for _, r := range Reasons {
				known = known || r == rej.Reason
			}
			if !known || rej.Detail == "" || !utf8.ValidString(rej.Detail) || strings.ContainsRune(rej.Detail, 0) {
				t.Fatalf("bad rejection %+v", rej)
			}
			return
		}
		if ev.ObjectID < 1 || ev.ObjectID > MaxObjectID || ev.UserID == "" || ev.RestaurantID == "" || len(ev.Items) == 0 {
			t.Fatalf("accepted an invalid event %+v", ev)
		}
		for _, s := range []string{ev.UserID, ev.RestaurantID, ev.FinalStatus} {
			if strings.ContainsRune(s, 0) || !utf8.ValidString(s) {
				t.Fatalf("accepted a value PostgreSQL text cannot store: %q", s)
			}
		}
		for _, it := range ev.Items {
			if it.Quantity < 1 || it.Price < 0 || it.ID == "" || strings.ContainsRune(it.ID, 0) {
				t.Fatalf("accepted an invalid item %+v", it)
			}
		}
		if !utf8.Valid(ev.Payload) || !json.Valid(ev.Payload) {
			t.Fatalf("payload is not valid UTF-8 JSON")
		}
	})
}
