package order

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Event is a validated order event: what the pipeline needs of one record.
type Event struct {
	ObjectID     int64
	ObjectType   string
	SentDttm     time.Time
	Payload      json.RawMessage // the raw payload, stored as is in STG
	RestaurantID string
	UserID       string
	Date         time.Time
	UpdateTS     time.Time
	FinalStatus  string
	Cost         float64
	Payment      float64
	Items        []Item
}

// Item is one line of an order as the order-service sent it.
type Item struct {
	ID       string
	Name     string
	Price    float64
	Quantity int
}

// MaxObjectID is the largest object_id that fits the int columns of CONTRACT §4 and 6.
const MaxObjectID = math.MaxInt32

// TimeLayout is the timestamp format of the contract: UTC, no zone.
const TimeLayout = "2006-01-02 15:04:05"

// wireTop is a message's top level; the payload stays raw (STG stores it as
// sent) and is decoded into wirePayload on its own.
type wireTop struct {
	ObjectID   *float64        `json:"object_id"`
	ObjectType json.RawMessage `json:"object_type"`
	SentDttm   *string         `json:"sent_dttm"`
	Payload    json.RawMessage `json:"payload"`
}

type wireRef struct {
	ID *string `json:"id"`
}

type wirePayload struct {
	Restaurant  *wireRef     `json:"restaurant"`
	Date        *string      `json:"date"`
	User        *wireRef     `json:"user"`
	OrderItems  []wireItem   `json:"order_items"`
	Cost        *float64     `json:"cost"`
	Payment     *float64     `json:"payment"`
	FinalStatus *string      `json:"final_status"`
	UpdateTS    *string      `json:"update_ts"`
	Statuses    []wireStatus `json:"statuses"`
}

type wireStatus struct {
	Status *string `json:"status"`
	Dttm   *string `json:"dttm"`
}

type wireItem struct {
	ID       *string  `json:"id"`
	Name     *string  `json:"name"`
	Price    *float64 `json:"price"`
	Quantity *float64 `json:"quantity"`
}

// Decode parses and validates one record value. recordTS stands in for a
// missing sent_dttm. A message that cannot be loaded returns a Rejection
// whose detail names the offending field: a tombstone (nil, empty, blank or
// null) is empty_record; a value that is not UTF-8 JSON is malformed_json;
// one that breaks the strict reading of CONTRACT §2 (strict.go: exact field
// names, no key twice, no U+0000 or lone surrogate, nesting, numbers) or a
// rule of the schema is invalid_order. Whatever it accepts, PostgreSQL's JSON
// operators can read.
func Decode(value []byte, recordTS time.Time) (Event, *Rejection) {
	var ev Event
	if rej := emptyRecord(value); rej != nil {
		return ev, rej
	}
	if !utf8.Valid(value) {
		return ev, reject(ReasonMalformedJSON, "value is not valid UTF-8")
	}
	// The strict reading (strict.go) first: with every key exact and once
	// per object, encoding/json's case-insensitive, last-wins matching below
	// has only one way to read the value.
	if rej := checkStrict(value); rej != nil {
		return ev, rej
	}
	// One pass over the value (encoding/json validates it first), the
	// payload kept raw for STG and decoded in a second, smaller pass.
	var top wireTop
	topErr := json.Unmarshal(value, &top)
	var se *json.SyntaxError
	if errors.As(topErr, &se) {
		return ev, reject(ReasonMalformedJSON, "value is not valid JSON: %s", syntaxDetail(value))
	}
	var te *json.UnmarshalTypeError
	if errors.As(topErr, &te) && te.Field == "" {
		return ev, reject(ReasonInvalidOrder, "value is not a JSON object")
	}
	if len(top.ObjectType) > 0 && !bytes.Equal(top.ObjectType, []byte("null")) {
		var ot string
		if err := json.Unmarshal(top.ObjectType, &ot); err != nil {
			return ev, reject(ReasonInvalidOrder, "object_type: want a string")
		}
		if ot != "order" {
			return ev, reject(ReasonIgnoredObjectType, "object_type %q is not an order", clip(ot))
		}
		ev.ObjectType = ot
	}
	if topErr != nil {
		return ev, reject(ReasonInvalidOrder, "%s", typeDetail(topErr, ""))
	}
	var p *wirePayload
	if len(top.Payload) > 0 && !bytes.Equal(top.Payload, []byte("null")) {
		p = new(wirePayload)
		if err := json.Unmarshal(top.Payload, p); err != nil {
			return ev, reject(ReasonInvalidOrder, "%s", typeDetail(err, "payload"))
		}
	}
	if ev.ObjectType == "" {
		return ev, reject(ReasonInvalidOrder, "object_type: missing")
	}
	if top.ObjectID == nil {
		return ev, reject(ReasonInvalidOrder, "object_id: missing")
	}
	id := *top.ObjectID
	if id != math.Trunc(id) || id < 1 || id > MaxObjectID {
		return ev, reject(ReasonInvalidOrder, "object_id: want an integer from 1 to %d, got %v", MaxObjectID, id)
	}
	ev.ObjectID = int64(id)
	if top.SentDttm != nil {
		t, err := ParseTime(*top.SentDttm)
		if err != nil {
			return ev, reject(ReasonInvalidOrder, "sent_dttm: %v", err)
		}
		ev.SentDttm = t
	} else {
		ev.SentDttm = recordTS.UTC().Truncate(time.Microsecond)
	}
	if p == nil {
		return ev, reject(ReasonInvalidOrder, "payload: missing")
	}
	ev.Payload = top.Payload
	var rej *Rejection
	if ev.RestaurantID, rej = requiredRef(p.Restaurant, "payload.restaurant.id"); rej != nil {
		return ev, rej
	}
	if ev.UserID, rej = requiredRef(p.User, "payload.user.id"); rej != nil {
		return ev, rej
	}
	if ev.Date, rej = requiredTime(p.Date, "payload.date"); rej != nil {
		return ev, rej
	}
	if ev.UpdateTS, rej = requiredTime(p.UpdateTS, "payload.update_ts"); rej != nil {
		return ev, rej
	}
	if p.FinalStatus == nil {
		return ev, reject(ReasonInvalidOrder, "payload.final_status: missing")
	}
	if rej := knownStatus(*p.FinalStatus, "payload.final_status"); rej != nil {
		return ev, rej
	}
	ev.FinalStatus = *p.FinalStatus
	for i, st := range p.Statuses {
		// Field names are built only for a rejection: this runs per status.
		field := func(name string) string { return "payload.statuses[" + itoa(i) + "]." + name }
		if st.Status == nil {
			return ev, reject(ReasonInvalidOrder, "%s: missing", field("status"))
		}
		if !isStatus(*st.Status) {
			return ev, knownStatus(*st.Status, field("status"))
		}
		if st.Dttm != nil {
			if _, err := ParseTime(*st.Dttm); err != nil {
				return ev, reject(ReasonInvalidOrder, "%s: %v", field("dttm"), err)
			}
		}
	}
	if ev.Cost, rej = requiredAmount(p.Cost, "payload.cost"); rej != nil {
		return ev, rej
	}
	if ev.Payment, rej = requiredAmount(p.Payment, "payload.payment"); rej != nil {
		return ev, rej
	}
	if len(p.OrderItems) == 0 {
		return ev, reject(ReasonInvalidOrder, "payload.order_items: missing or empty")
	}
	ev.Items = make([]Item, len(p.OrderItems))
	for i, it := range p.OrderItems {
		field := func(name string) string { return "payload.order_items[" + itoa(i) + "]." + name }
		if it.ID == nil || strings.TrimSpace(*it.ID) == "" {
			return ev, reject(ReasonInvalidOrder, "%s: missing", field("id"))
		}
		if msg := storableProblem(*it.ID); msg != "" {
			return ev, reject(ReasonInvalidOrder, "%s: %s", field("id"), msg)
		}
		if it.Name == nil {
			return ev, reject(ReasonInvalidOrder, "%s: missing", field("name"))
		}
		if msg := amountProblem(it.Price); msg != "" {
			return ev, reject(ReasonInvalidOrder, "%s: %s", field("price"), msg)
		}
		price := *it.Price
		if it.Quantity == nil {
			return ev, reject(ReasonInvalidOrder, "%s: missing", field("quantity"))
		}
		q := *it.Quantity
		if q != math.Trunc(q) || q < 1 || q > math.MaxInt32 {
			return ev, reject(ReasonInvalidOrder, "%s: want an integer >= 1, got %v", field("quantity"), q)
		}
		ev.Items[i] = Item{ID: *it.ID, Name: *it.Name, Price: price, Quantity: int(q)}
	}
	return ev, nil
}

// ParseTime reads a contract timestamp (YYYY-MM-DD HH:MM:SS, UTC) or RFC 3339,
// returning UTC with microsecond precision (PostgreSQL's).
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse("2006-01-02 15:04:05.999999999", s)
	if err != nil {
		var err2 error
		if t, err2 = time.Parse(time.RFC3339Nano, s); err2 != nil {
			return time.Time{}, errors.New("want YYYY-MM-DD HH:MM:SS or RFC 3339, got " + quote(s))
		}
	}
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, errors.New("year out of range in " + quote(s))
	}
	return t.UTC().Truncate(time.Microsecond), nil
}
