package order

import (
	"strconv"
	"strings"
	"time"
)

func requiredRef(r *wireRef, field string) (string, *Rejection) {
	if r == nil || r.ID == nil {
		return "", reject(ReasonInvalidOrder, "%s: missing", field)
	}
	if strings.TrimSpace(*r.ID) == "" {
		return "", reject(ReasonInvalidOrder, "%s: empty", field)
	}
	if rej := storable(*r.ID, field); rej != nil {
		return "", rej
	}
	return *r.ID, nil
}

// storable rejects a string that goes into a varchar column but cannot:
// PostgreSQL text holds no NUL, and ids are short.
func storable(s, field string) *Rejection {
	if msg := storableProblem(s); msg != "" {
		return reject(ReasonInvalidOrder, "%s: %s", field, msg)
	}
	return nil
}

func storableProblem(s string) string {
	if strings.ContainsRune(s, 0) {
		return "contains a NUL character"
	}
	if len(s) > 256 {
		return "longer than 256 bytes"
	}
	return ""
}

// orderStatuses are the order statuses of CONTRACT §2, spelt exactly so.
var orderStatuses = []string{"OPEN", "COOKING", "DELIVERING", "CLOSED", "CANCELLED"}

func isStatus(s string) bool {
	switch s {
	case "OPEN", "COOKING", "DELIVERING", "CLOSED", "CANCELLED":
		return true
	}
	return false
}

func knownStatus(s, field string) *Rejection {
	if isStatus(s) {
		return nil
	}
	return reject(ReasonInvalidOrder, "%s: want one of %s, got %s", field, strings.Join(orderStatuses, ", "), quote(s))
}

// emptyRecord rejects a tombstone: a value that is nil, empty, only
// whitespace or the JSON null.
func emptyRecord(value []byte) *Rejection {
	v := value
	for len(v) > 0 && isSpace(v[0]) {
		v = v[1:]
	}
	for len(v) > 0 && isSpace(v[len(v)-1]) {
		v = v[:len(v)-1]
	}
	switch {
	case len(v) == 0 && len(value) == 0:
		return reject(ReasonEmptyRecord, "record value is empty (a tombstone)")
	case len(v) == 0:
		return reject(ReasonEmptyRecord, "record value is only whitespace (a tombstone)")
	case string(v) == "null":
		return reject(ReasonEmptyRecord, "record value is null (a tombstone)")
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func requiredTime(s *string, field string) (time.Time, *Rejection) {
	if s == nil {
		return time.Time{}, reject(ReasonInvalidOrder, "%s: missing", field)
	}
	t, err := ParseTime(*s)
	if err != nil {
		return time.Time{}, reject(ReasonInvalidOrder, "%s: %v", field, err)
	}
	return t, nil
}

// maxAmount keeps amounts inside numeric(19,5).
const maxAmount = 1e14

func requiredAmount(f *float64, field string) (float64, *Rejection) {
	if msg := amountProblem(f); msg != "" {
		return 0, reject(ReasonInvalidOrder, "%s: %s", field, msg)
	}
	return *f, nil
}

func amountProblem(f *float64) string {
	if f == nil {
		return "missing"
	}
	if *f < 0 || *f >= maxAmount {
		return "want a number from 0 to 1e14, got " + strconv.FormatFloat(*f, 'g', -1, 64)
	}
	return ""
}
