package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"unicode/utf8"
)

// enrichedJSON is the enriched message (CONTRACT §5) of a valid order event from
// the World's reference data, encoded as compact JSON. It panics on an event
// it cannot enrich.
func (w *World) enrichedJSON(value []byte) []byte {
	var o struct {
		ObjectID int64       `json:"object_id"`
		Payload  wirePayload `json:"payload"`
	}
	if err := json.Unmarshal(value, &o); err != nil {
		panic(fmt.Sprintf("simulator: enrich: %v", err))
	}
	type product struct {
		ID       string  `json:"id"`
		Price    float64 `json:"price"`
		Quantity int     `json:"quantity"`
		Name     string  `json:"name"`
		Category string  `json:"category"`
	}
	type named struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	type user struct {
		ID    string  `json:"id"`
		Name  *string `json:"name"`
		Login *string `json:"login"`
	}
	type payload struct {
		ID         int64     `json:"id"`
		Date       string    `json:"date"`
		Cost       float64   `json:"cost"`
		Payment    float64   `json:"payment"`
		Status     string    `json:"status"`
		Restaurant named     `json:"restaurant"`
		User       user      `json:"user"`
		Products   []product `json:"products"`
	}
	p := o.Payload
	r := w.Restaurants[w.restaurantIndex(p.Restaurant.ID)]
	e := payload{ID: o.ObjectID, Date: p.Date, Cost: p.Cost, Payment: p.Payment, Status: p.FinalStatus,
		Restaurant: named{r.ID, r.Name}, User: user{ID: p.User.ID}}
	for i := range w.Users {
		if u := &w.Users[i]; u.ID == p.User.ID {
			e.User.Name, e.User.Login = &u.Name, &u.Login
		}
	}
	for _, it := range p.OrderItems {
		mi, ok := r.Item(it.ID)
		if !ok {
			panic(fmt.Sprintf("simulator: enrich: item %s is not on the menu", it.ID))
		}
		e.Products = append(e.Products, product{it.ID, it.Price, it.Quantity, mi.Name, mi.Category})
	}
	b, err := json.Marshal(struct {
		ObjectID   int64   `json:"object_id"`
		ObjectType string  `json:"object_type"`
		Payload    payload `json:"payload"`
	}{o.ObjectID, "order", e})
	if err != nil {
		panic(err)
	}
	return b
}

// replaceOnce replaces the first old in v by new; old must occur.
func replaceOnce(v []byte, old, new string) []byte {
	if !bytes.Contains(v, []byte(old)) {
		panic(fmt.Sprintf("simulator: %q not found in %s", old, clipBytes(v)))
	}
	return bytes.Replace(v, []byte(old), []byte(new), 1)
}

// replaceRe replaces the first match of pattern in v (with $1 expanded); it
// must match.
func replaceRe(v []byte, pattern, repl string) []byte {
	re := regexp.MustCompile(pattern)
	loc := re.FindSubmatchIndex(v)
	if loc == nil {
		panic(fmt.Sprintf("simulator: %s does not match %s", pattern, clipBytes(v)))
	}
	out := append([]byte(nil), v[:loc[0]]...)
	out = re.Expand(out, []byte(repl), v, loc)
	return append(out, v[loc[1]:]...)
}

var nameRe = regexp.MustCompile(`"name":"([^"\\]*)"`)

// spoilName inserts bad into the name of item k of v: at its start (where
// 0), after its first character (1) or at its end (2).
func spoilName(v []byte, k, where int, bad []byte) []byte {
	all := nameRe.FindAllSubmatchIndex(v, -1)
	if k >= len(all) {
		panic(fmt.Sprintf("simulator: item %d has no name in %s", k, clipBytes(v)))
	}
	from, to := all[k][2], all[k][3]
	at := from
	switch where {
	case 1:
		_, size := utf8.DecodeRune(v[from:to])
		at = from + size
	case 2:
		at = to
	}
	return slices.Concat(v[:at], bad, v[at:])
}

func clipBytes(v []byte) string {
	if len(v) > 200 {
		return string(v[:200]) + "…"
	}
	return string(v)
}
