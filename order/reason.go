// Package order decodes and validates order events (SPEC 2), enriches them
// with reference data into the message of SPEC 5, and names the reasons a
// message can be rejected (SPEC 9).
package order

import (
	"fmt"
	"strings"
)

// Reason is why a message could not be loaded; stored in stg.rejected_messages.
type Reason string

// The reasons of SPEC 9.
const (
	ReasonMalformedJSON     Reason = "malformed_json"
	ReasonInvalidOrder      Reason = "invalid_order"
	ReasonIgnoredObjectType Reason = "ignored_object_type"
	ReasonUnknownRestaurant Reason = "unknown_restaurant"
	ReasonNotInMenu         Reason = "product_not_in_menu"
)

// Reasons lists every reason, in the order the pipeline checks them.
var Reasons = []Reason{ReasonMalformedJSON, ReasonInvalidOrder, ReasonIgnoredObjectType, ReasonUnknownRestaurant, ReasonNotInMenu}

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
