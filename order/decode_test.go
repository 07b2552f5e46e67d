package order

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strconv"
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
		{"empty", []byte(``), ReasonEmptyRecord, "empty (a tombstone)"},
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
		// Strict reading comes first: a NUL is invalid_order, whatever the type.
		{"ignored type with NUL", mutate(t, func(m map[string]any) { m["object_type"] = "pay\x00ment" }), ReasonInvalidOrder, "object_type: contains a NUL"},
		{"item name missing", mutate(t, func(m map[string]any) { delete(item0(m), "name") }), ReasonInvalidOrder, "order_items[0].name"},

		// Tombstones (CONTRACT §2): empty_record.
		{"tombstone nil", nil, ReasonEmptyRecord, "empty (a tombstone)"},
		{"tombstone null", []byte(`null`), ReasonEmptyRecord, "null (a tombstone)"},
		{"tombstone null in spaces", []byte(" \n null\t"), ReasonEmptyRecord, "null (a tombstone)"},
		{"only whitespace", []byte(" \r\n\t "), ReasonEmptyRecord, "whitespace (a tombstone)"},
		{"NULL is not null", []byte(`NULL`), ReasonMalformedJSON, "not valid JSON"},

		// Field names match exactly.
		{"OBJECT_ID only", []byte(strings.Replace(good, `"object_id"`, `"OBJECT_ID"`, 1)), ReasonInvalidOrder, "object_id: missing (OBJECT_ID is not object_id"},
		{"escaped OBJECT_ID only", []byte(strings.Replace(good, `"object_id"`, `"\u004fBJECT_ID"`, 1)), ReasonInvalidOrder, "object_id: missing"},
		{"Object_Type beside object_type", []byte(strings.Replace(good, `"object_type": "order"`, `"object_type": "order", "Object_Type": "payment"`, 1)), ReasonInvalidOrder, "Object_Type: field names are case-sensitive (did you mean object_type?)"},
		{"case-variant final_status", []byte(strings.Replace(good, `"final_status": "CLOSED"`, `"final_status": "CLOSED", "Final_Status": "CANCELLED"`, 1)), ReasonInvalidOrder, "payload.Final_Status: field names are case-sensitive (did you mean final_status?)"},
		{"case-variant final_status first", []byte(strings.Replace(good, `"final_status": "CLOSED"`, `"FINAL_STATUS": "CANCELLED", "final_status": "CLOSED"`, 1)), ReasonInvalidOrder, "payload.FINAL_STATUS: field names are case-sensitive"},
		// encoding/json folds the long s (U+017F) to s: not a match either.
		{"long s for s", []byte(strings.Replace(good, `"final_status"`, `"final_\u017ftatus"`, 1)), ReasonInvalidOrder, "payload.final_status: missing (final_ſtatus is not final_status"},
		{"case-variant item price", []byte(strings.Replace(good, `"price": 175`, `"price": 175, "Price": 1`, 1)), ReasonInvalidOrder, "payload.order_items[0].Price: field names are case-sensitive"},
		{"case-variant user id", []byte(strings.Replace(good, `{"id": "626a81ce9a8cd1920641e29c"}`, `{"ID": "626a81ce9a8cd1920641e29c"}`, 1)), ReasonInvalidOrder, "payload.user.id: missing (ID is not id"},
		{"case-variant status in statuses", []byte(strings.Replace(good, `{"status": "OPEN"`, `{"Status": "OPEN"`, 1)), ReasonInvalidOrder, "payload.statuses[1].status: missing (Status is not status"},
		{"case-variant Payload", []byte(strings.Replace(good, `"payload"`, `"Payload"`, 1)), ReasonInvalidOrder, "payload: missing (Payload is not payload"},

		// The same key twice.
		{"duplicate object_id", []byte(strings.Replace(good, `"object_id": 1371198`, `"object_id": 1371198, "object_id": 5`, 1)), ReasonInvalidOrder, "object_id: duplicate key"},
		{"duplicate key in an item", []byte(strings.Replace(good, `"quantity": 5`, `"quantity": 5, "name": "x"`, 1)), ReasonInvalidOrder, "payload.order_items[0].name: duplicate key"},
		{"duplicate key escaped", []byte(strings.Replace(good, `"cost": 875`, `"cost": 875, "c\u006fst": 1`, 1)), ReasonInvalidOrder, "payload.cost: duplicate key"},
		{"duplicate unknown key deep", []byte(strings.Replace(good, `"bonus_grant": 0`, `"bonus_grant": 0, "x": [{"a": 1}, {"b": 2, "b": 3}]`, 1)), ReasonInvalidOrder, "payload.x[1].b: duplicate key"},
		{"duplicate key among many", []byte(strings.Replace(good, `"bonus_grant": 0`, `"bonus_grant": 0, "x": {`+manyKeysJSON(40)+`, "k7": 1}`, 1)), ReasonInvalidOrder, "payload.x.k7: duplicate key"},

		// U+0000 and lone surrogates, anywhere.
		{"escaped NUL in an item name", []byte(strings.Replace(good, "Рис с лимоном", `Рис\u0000`, 1)), ReasonInvalidOrder, "payload.order_items[0].name: contains a NUL"},
		{"raw NUL in an item name", []byte(strings.Replace(good, "Рис с лимоном", "Рис\x00", 1)), ReasonInvalidOrder, "payload.order_items[0].name: contains a NUL"},
		{"NUL in a key", []byte(strings.Replace(good, `"bonus_grant"`, `"bonus\u0000grant"`, 1)), ReasonInvalidOrder, `payload.bonus\u0000grant: field name contains a NUL`},
		{"NUL in restaurant id", []byte(strings.Replace(good, `"ef8c42c19b7518a9aebec106"`, `"ef8c\u0000"`, 1)), ReasonInvalidOrder, "payload.restaurant.id: contains a NUL"},
		{"NUL in an unknown field", mutate(t, func(m map[string]any) { m["note"] = []any{"a", "b\x00"} }), ReasonInvalidOrder, "note[1]: contains a NUL"},
		{"lone high surrogate", []byte(strings.Replace(good, "Рис с лимоном", `Рис \ud800`, 1)), ReasonInvalidOrder, `payload.order_items[0].name: contains a lone surrogate \ud800`},
		{"high surrogate then a letter", []byte(strings.Replace(good, "Рис с лимоном", `\uD83Dx`, 1)), ReasonInvalidOrder, "lone surrogate"},
		{"two high surrogates", []byte(strings.Replace(good, "Рис с лимоном", `\uD83D\uD83D`, 1)), ReasonInvalidOrder, "lone surrogate"},
		{"lone low surrogate", []byte(strings.Replace(good, "Рис с лимоном", `\udc00`, 1)), ReasonInvalidOrder, "lone surrogate \\udc00"},
		{"lone surrogate in a key", []byte(strings.Replace(good, `"bonus_grant"`, `"\udfff"`, 1)), ReasonInvalidOrder, "field name contains a lone surrogate"},

		// Nesting.
		{"40-deep nesting in an unknown field", []byte(strings.Replace(good, `"bonus_grant": 0`, `"bonus_grant": 0, "deep": `+nested(40), 1)), ReasonInvalidOrder, "nested deeper than 32"},
		{"33-deep nesting", []byte(strings.Replace(good, `"bonus_grant": 0`, `"bonus_grant": 0, "deep": `+nested(31), 1)), ReasonInvalidOrder, "payload.deep[0][0]"},
		{"100000-deep nesting", []byte(`{"x":` + nested(100000) + `}`), ReasonInvalidOrder, "nested deeper than 32"},
		{"deep and truncated", []byte(`{"x":` + strings.Repeat("[", 50)), ReasonMalformedJSON, "not valid JSON"},

		// Numbers.
		{"cost 1e400", []byte(strings.Replace(good, `"cost": 875`, `"cost": 1e400`, 1)), ReasonInvalidOrder, "payload.cost: number 1e400 does not fit a float64"},
		{"-1e400 in an unknown field", []byte(strings.Replace(good, `"bonus_grant": 0`, `"bonus_grant": -1e400`, 1)), ReasonInvalidOrder, "payload.bonus_grant: number -1e400"},
		{"huge exponent", []byte(strings.Replace(good, `"bonus_grant": 0`, `"bonus_grant": 0e-99999`, 1)), ReasonInvalidOrder, "payload.bonus_grant: number 0e-99999 is out of range"},
		{"huge integer", []byte(strings.Replace(good, `"bonus_grant": 0`, `"bonus_grant": 1`+strings.Repeat("0", 320), 1)), ReasonInvalidOrder, "does not fit a float64"},
		{"very long number", []byte(strings.Replace(good, `"bonus_grant": 0`, `"bonus_grant": 0.`+strings.Repeat("1", 500), 1)), ReasonInvalidOrder, "number longer than 400"},
		{"object_id 1e400", []byte(strings.Replace(good, `"object_id": 1371198`, `"object_id": 1e400`, 1)), ReasonInvalidOrder, "object_id: number 1e400"},

		// Statuses, exactly.
		{"closed final_status", mutate(t, func(m map[string]any) { payload(m)["final_status"] = "closed" }), ReasonInvalidOrder, `payload.final_status: want one of OPEN, COOKING, DELIVERING, CLOSED, CANCELLED, got "closed"`},
		{"LOST final_status", mutate(t, func(m map[string]any) { payload(m)["final_status"] = "LOST" }), ReasonInvalidOrder, "payload.final_status: want one of"},
		{"final_status with a space", mutate(t, func(m map[string]any) { payload(m)["final_status"] = "CLOSED " }), ReasonInvalidOrder, "payload.final_status: want one of"},
		{"final_status empty", mutate(t, func(m map[string]any) { payload(m)["final_status"] = "" }), ReasonInvalidOrder, "payload.final_status: want one of"},
		{"final_status a number", mutate(t, func(m map[string]any) { payload(m)["final_status"] = 4 }), ReasonInvalidOrder, "payload.final_status: want a string"},
		{"unknown status in statuses", mutate(t, func(m map[string]any) {
			payload(m)["statuses"] = []any{map[string]any{"status": "LOST", "dttm": "2023-04-01 20:45:43"}}
		}), ReasonInvalidOrder, `payload.statuses[0].status: want one of OPEN, COOKING, DELIVERING, CLOSED, CANCELLED, got "LOST"`},
		{"lower-case status in statuses", []byte(strings.Replace(good, `{"status": "OPEN"`, `{"status": "open"`, 1)), ReasonInvalidOrder, "payload.statuses[1].status: want one of"},
		{"statuses not an array", mutate(t, func(m map[string]any) { payload(m)["statuses"] = "CLOSED" }), ReasonInvalidOrder, "payload.statuses: want an array"},
		{"statuses of strings", mutate(t, func(m map[string]any) { payload(m)["statuses"] = []any{"CLOSED"} }), ReasonInvalidOrder, "payload.statuses: want an object"},
		{"status missing in statuses", mutate(t, func(m map[string]any) { payload(m)["statuses"] = []any{map[string]any{"dttm": "2023-04-01 20:45:43"}} }), ReasonInvalidOrder, "payload.statuses[0].status: missing"},
		{"bad dttm in statuses", []byte(strings.Replace(good, `"dttm": "2023-04-01 18:55:52"`, `"dttm": "yesterday"`, 1)), ReasonInvalidOrder, "payload.statuses[1].dttm"},
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

// FuzzDecode: any bytes either decode into an event that satisfies every
// rule of CONTRACT §2, or are rejected with a known reason and a UTF-8 detail.
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
			// The strict scanner's syntax agrees with encoding/json's, but
			// for a raw NUL in a string, which CONTRACT §2 makes invalid_order.
			trimmed := strings.Trim(string(value), " \t\r\n")
			empty := trimmed == "" || trimmed == "null"
			if (rej.Reason == ReasonEmptyRecord) != empty {
				t.Fatalf("empty_record is %v for %q: %+v", empty, value, rej)
			}
			notJSON := !utf8.Valid(value) || !json.Valid(value)
			if !empty && rej.Reason == ReasonMalformedJSON && !notJSON {
				t.Fatalf("valid JSON rejected as malformed: %+v", rej)
			}
			if !empty && rej.Reason != ReasonMalformedJSON && notJSON && !bytes.Contains(value, []byte{0}) {
				t.Fatalf("invalid JSON rejected as %+v", rej)
			}
			return
		}
		if msg := readableByPostgres(value); msg != "" {
			t.Fatalf("accepted a value PostgreSQL cannot read: %s", msg)
		}
		if msg := readableByPostgres(ev.Payload); msg != "" {
			t.Fatalf("accepted a payload PostgreSQL cannot read: %s", msg)
		}
		if msg := unambiguous(value); msg != "" {
			t.Fatalf("accepted an ambiguous value: %s", msg)
		}
		if !slices.Contains(orderStatuses, ev.FinalStatus) {
			t.Fatalf("accepted final_status %q", ev.FinalStatus)
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

// TestFuzzOracles checks that the oracles FuzzDecode trusts catch what they
// are meant to.
func TestFuzzOracles(t *testing.T) {
	for _, v := range []string{`"\u0000"`, `"a\ud800"`, `"\udc00\ud800"`, `"\ud800\u0041"`, "\"a\x00\"", "\"\xff\""} {
		if readableByPostgres([]byte(v)) == "" {
			t.Errorf("readableByPostgres passes %q", v)
		}
	}
	for _, v := range []string{`"\\u0000"`, `"\ud83d\ude00"`, `"\\ud800"`, `"\"\\"`} {
		if msg := readableByPostgres([]byte(v)); msg != "" {
			t.Errorf("readableByPostgres refuses %q: %s", v, msg)
		}
	}
	for _, v := range []string{`{"a":1,"a":2}`, `{"a":{"b":[1,{"c":1,"c":1}]}}`, `{"a":1,"\u0061":2}`, `[1e400]`, nested(maxDepth + 1)} {
		if unambiguous([]byte(v)) == "" {
			t.Errorf("unambiguous passes %q", v)
		}
	}
	for _, v := range []string{`{"a":1,"b":{"a":2},"c":[{"a":1},{"a":1}]}`, nested(maxDepth), `{"a":[],"b":{}}`} {
		if msg := unambiguous([]byte(v)); msg != "" {
			t.Errorf("unambiguous refuses %q: %s", v, msg)
		}
	}
}

// readableByPostgres is the fuzz oracle of "every payload can be read with
// PostgreSQL's JSON operators", written apart from strict.go: valid UTF-8, no
// NUL byte, and no \u escape of U+0000 or of a lone surrogate.
func readableByPostgres(v []byte) string {
	if !utf8.Valid(v) {
		return "not UTF-8"
	}
	if bytes.IndexByte(v, 0) >= 0 {
		return "a NUL byte"
	}
	// Outside strings valid JSON has no backslash, so a flat walk will do.
	esc := func(i int) (rune, bool) {
		if i+6 > len(v) || v[i] != '\\' || v[i+1] != 'u' {
			return 0, false
		}
		r, err := strconv.ParseUint(string(v[i+2:i+6]), 16, 32)
		return rune(r), err == nil
	}
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			continue
		}
		r, ok := esc(i)
		if !ok {
			i++ // \" \\ and the like
			continue
		}
		switch {
		case r == 0:
			return "\\u0000 at byte " + itoa(i)
		case r >= 0xD800 && r < 0xDC00:
			if lo, ok := esc(i + 6); !ok || lo < 0xDC00 || lo >= 0xE000 {
				return "a lone high surrogate at byte " + itoa(i)
			}
			i += 6
		case r >= 0xDC00 && r < 0xE000:
			return "a lone low surrogate at byte " + itoa(i)
		}
		i += 5
	}
	return ""
}

// unambiguous is the fuzz oracle of the strict reading, with encoding/json's
// tokens: no object holds a key twice, nesting stays within maxDepth, and
// every number fits a float64.
func unambiguous(v []byte) string {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	type obj struct {
		keys  map[string]bool
		isKey bool // the next token of this object is a key
	}
	var stack []*obj
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return ""
		}
		if err != nil {
			return "token: " + err.Error()
		}
		var top *obj
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.isKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			k := tok.(string)
			if top.keys[k] {
				return "duplicate key " + strconv.Quote(k)
			}
			top.keys[k] = true
			top.isKey = false
			continue
		}
		if top != nil && top.keys != nil {
			top.isKey = true // after this value, a key or '}'
		}
		switch x := tok.(type) {
		case json.Delim:
			switch x {
			case '{':
				stack = append(stack, &obj{keys: map[string]bool{}, isKey: true})
			case '[':
				stack = append(stack, &obj{})
			default: // ']'
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].keys != nil {
					stack[len(stack)-1].isKey = true
				}
			}
			if len(stack) > maxDepth {
				return "nested deeper than " + itoa(maxDepth)
			}
		case json.Number:
			if _, err := x.Float64(); err != nil {
				return "number " + x.String() + ": " + err.Error()
			}
		}
	}
}
