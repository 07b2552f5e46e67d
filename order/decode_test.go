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
