// Package order decodes and validates order events (CONTRACT §2), enriches them
// with reference data into the message of CONTRACT §5, and names the reasons a
// message can be rejected (CONTRACT §9).
package order

import (
	"fmt"
	"strings"
)

// Reason is why a message could not be loaded; stored in stg.rejected_messages.
type Reason string

// The reasons of CONTRACT §9.
const (
	ReasonMalformedJSON     Reason = "malformed_json"
	ReasonInvalidOrder      Reason = "invalid_order"
	ReasonIgnoredObjectType Reason = "ignored_object_type"
	ReasonUnknownRestaurant Reason = "unknown_restaurant"
	ReasonNotInMenu         Reason = "product_not_in_menu"
	// ReasonEmptyRecord is a record whose value is null or empty (a tombstone).
	ReasonEmptyRecord Reason = "empty_record"
	// ReasonOutputTooLarge is an order whose enriched message is larger than
	// the output topic accepts; it is rejected before any layer stores it.
	ReasonOutputTooLarge Reason = "output_too_large"
	// ReasonPoison is a record that made an activity fail for good; the
	// pipeline isolated it and loaded the rest of its batch.
	ReasonPoison Reason = "poison"
)

// Reasons lists every reason, in the order the pipeline checks them.
var Reasons = []Reason{ReasonEmptyRecord, ReasonMalformedJSON, ReasonInvalidOrder, ReasonIgnoredObjectType,
	ReasonUnknownRestaurant, ReasonNotInMenu, ReasonOutputTooLarge, ReasonPoison}

// Fixable reports whether a message rejected for r can load later without
// changing its bytes (the reference data can be fixed; the bytes cannot).
func (r Reason) Fixable() bool { return r == ReasonUnknownRestaurant || r == ReasonNotInMenu }

// Rejection is a message that cannot be loaded, with a human-readable detail.
type Rejection struct {
	Reason Reason
	Detail string
}

func (r *Rejection) Error() string { return fmt.Sprintf("%s: %s", r.Reason, r.Detail) }

func reject(reason Reason, format string, args ...any) *Rejection {
	// A detail quotes input, and PostgreSQL text cannot hold NUL.
	return &Rejection{Reason: reason, Detail: strings.ReplaceAll(fmt.Sprintf(format, args...), "\x00", `\u0000`)}
}
