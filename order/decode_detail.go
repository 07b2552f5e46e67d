package order

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// typeDetail turns encoding/json's type error into "field: want X, got Y";
// prefix is the path of the value that was decoded ("" for the whole message).
func typeDetail(err error, prefix string) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		switch {
		case prefix != "" && field != "":
			field = prefix + "." + field
		case prefix != "":
			field = prefix
		case field == "":
			field = "value"
		}
		want := te.Type.String()
		switch want {
		case "float64":
			want = "a number"
		case "string":
			want = "a string"
		default:
			if strings.HasPrefix(want, "[]") {
				want = "an array"
			} else if strings.Contains(want, "order.wire") {
				want = "an object"
			}
		}
		return field + ": want " + want + ", got " + te.Value
	}
	return err.Error()
}

func syntaxDetail(value []byte) string {
	var v any
	err := json.Unmarshal(value, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Error() + " at byte " + itoa(int(se.Offset))
	}
	if err != nil {
		return err.Error()
	}
	return "unknown syntax error"
}

// clip shortens s to at most 64 runes for a detail message.
func clip(s string) string {
	n := 0
	for i := range s {
		if n == 64 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

func quote(s string) string { return "\"" + clip(s) + "\"" }

func itoa(i int) string { return strconv.Itoa(i) }
