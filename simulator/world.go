// Package simulator imitates the order-service of a food-delivery app: it
// writes users and restaurants to Redis and produces order events (CONTRACT §2) to
// Kafka, with the re-sends, status changes, owner changes (a newer version
// with another user, restaurant or items) and bad messages a real source
// produces. Hostile mixes valid orders with hostile records (tombstones,
// oversize orders, strict-reading traps) for end-to-end tests. Expect is an
// independent oracle that tells what the warehouse must contain after loading
// a list of generated messages.
//
// Everything is deterministic for a given seed. Run records its state on every
// record it produces (StateHeader), so a restarted simulator goes on with the
// same world and never re-uses an object_id with other owners.
package simulator

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/orderflow/orderflow/refdata"
)

// tsLayout is the timestamp format of the order-service (UTC, no zone).
const tsLayout = "2006-01-02 15:04:05"

// Options configure a World.
type Options struct {
	Seed        int64
	Users       int       // users in Redis; 3000 when <= 0
	Restaurants int       // restaurants in Redis; 8 when <= 0
	End         time.Time // history covers the week before End (UTC)
}

// refAnchor is the fixed instant the reference data's ids and update_ts_utc
// are drawn before. It does not depend on End, so the same Seed, Users and
// Restaurants always give the same users and restaurants: a simulator
// restarted later writes the same Redis keys instead of a second set.
var refAnchor = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// World is the order-service's state: reference data and the orders generated
// so far. It is not safe for concurrent use.
type World struct {
	Users       []refdata.User       // those present in Redis
	Restaurants []refdata.Restaurant // those present in Redis

	opts         Options // as built (counts filled in, End truncated)
	end          time.Time
	rnd          *rand.Rand
	nextID       int64
	ids          map[string]bool // every 24-hex id handed out
	userCum      []float64       // cumulative user weights, for skewed picks
	favRest      []int           // per user: favourite restaurant index
	favDish      []int           // per user: favourite dish index in that menu
	unknownUsers []string        // user ids never saved to Redis
	missing      refdata.Restaurant
	orders       []*orderState // current version of every valid order
}

// NewWorld builds users and restaurants from o.Seed. They depend only on
// Seed, Users and Restaurants (not on End), so two worlds with the same three
// hold the same reference data.
func NewWorld(o Options) *World {
	if o.Users <= 0 {
		o.Users = 3000
	}
	if o.Restaurants <= 0 {
		o.Restaurants = 8
	}
	o.End = o.End.UTC().Truncate(time.Second)
	seed := uint64(o.Seed)
	w := &World{
		opts: o,
		end:  o.End,
		rnd:  newRand(seed),
		ids:  map[string]bool{},
	}
	w.nextID = 1_000_000 + w.rnd.Int64N(1_000_000)
	w.makeRestaurants(o.Restaurants)
	w.missing = w.makeRestaurant("Тёмная кухня", w.rnd.Perm(len(catalog))[:4])
	w.makeUsers(o.Users)
	for range max(1, o.Users/100) {
		w.unknownUsers = append(w.unknownUsers, w.hexID())
	}
	return w
}

// newRand is the World's random source for seed.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// hexID returns a new 24-hex-char id shaped like a Mongo ObjectID: a creation
// second some months before refAnchor, then random bytes. Ids never repeat.
func (w *World) hexID() string {
	for {
		var b [12]byte
		created := refAnchor.Add(-time.Duration(200+w.rnd.IntN(400)) * 24 * time.Hour)
		binary.BigEndian.PutUint32(b[:4], uint32(created.Unix()))
		binary.BigEndian.PutUint64(b[4:], w.rnd.Uint64())
		id := hex.EncodeToString(b[:])
		if !w.ids[id] {
			w.ids[id] = true
			return id
		}
	}
}

// refTS is an update_ts_utc for reference data: some time before refAnchor.
func (w *World) refTS() string {
	return refAnchor.Add(-time.Duration(1+w.rnd.IntN(300*24*3600)) * time.Second).Format(tsLayout)
}

// makeRestaurants builds n restaurants; category c is always on the menu of
// restaurant c % n, so every category exists somewhere.
func (w *World) makeRestaurants(n int) {
	for i := range n {
		var cats []int
		for c := range catalog {
			if c%n == i {
				cats = append(cats, c)
			}
		}
		want := 3 + w.rnd.IntN(4)
		for _, c := range w.rnd.Perm(len(catalog)) {
			if len(cats) >= want {
				break
			}
			if !slices.Contains(cats, c) {
				cats = append(cats, c)
			}
		}
		name := restaurantNames[i%len(restaurantNames)]
		if i >= len(restaurantNames) {
			name = fmt.Sprintf("%s №%d", name, i/len(restaurantNames)+1)
		}
		w.Restaurants = append(w.Restaurants, w.makeRestaurant(name, cats))
	}
}

// makeRestaurant builds one restaurant with 10-25 dishes (fewer only if its
// categories hold fewer) from the given catalog categories.
func (w *World) makeRestaurant(name string, cats []int) refdata.Restaurant {
	slices.Sort(cats)
	size := 10 + w.rnd.IntN(16)
	type pick struct{ cat, dish int }
	var first, rest []pick
	for _, c := range cats {
		for k, d := range w.rnd.Perm(len(catalog[c].dishes)) {
			if k == 0 {
				first = append(first, pick{c, d})
			} else {
				rest = append(rest, pick{c, d})
			}
		}
	}
	w.rnd.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	picks := append(first, rest[:max(0, min(len(rest), size-len(first)))]...)
	slices.SortStableFunc(picks, func(a, b pick) int { return a.cat - b.cat })
	r := refdata.Restaurant{ID: w.hexID(), Name: name, UpdateTsUTC: w.refTS()}
	for _, p := range picks {
		d := catalog[p.cat].dishes[p.dish]
		price := float64(d.price*(90+w.rnd.IntN(31))/100/10*10 + 10)
		r.Menu = append(r.Menu, refdata.MenuItem{ID: w.hexID(), Name: d.name, Price: price, Category: catalog[p.cat].name})
	}
	return r
}

// makeUsers builds n users. 5% are regulars (weight 30), 20% frequent
// (weight 5), the rest occasional (weight 1), so some counters reach 10+.
func (w *World) makeUsers(n int) {
	logins := map[string]bool{}
	total := 0.0
	for range n {
		female := w.rnd.IntN(2) == 0
		first := maleFirst[w.rnd.IntN(len(maleFirst))]
		if female {
			first = femaleFirst[w.rnd.IntN(len(femaleFirst))]
		}
		pat := patronymics[w.rnd.IntN(len(patronymics))]
		sur := surnames[w.rnd.IntN(len(surnames))]
		patName, surName := pat[0], sur.ru
		if female {
			patName, surName = pat[1], sur.ru+"а"
		}
		name := first.ru + " " + patName + " " + surName
		if w.rnd.IntN(4) == 0 {
			name = surName + " " + first.ru + " " + patName
		}
		login := first.lat + "_" + sur.lat[:1]
		if w.rnd.IntN(3) != 0 || logins[login] {
			login = fmt.Sprintf("%s%s_%d", first.lat[:3], sur.lat[:3], 1000+w.rnd.IntN(9000))
			for logins[login] {
				login = fmt.Sprintf("%s%s_%d", first.lat[:3], sur.lat[:3], 1000+w.rnd.IntN(9000))
			}
		}
		logins[login] = true
		w.Users = append(w.Users, refdata.User{ID: w.hexID(), Name: name, Login: login, UpdateTsUTC: w.refTS()})

		weight := 1.0
		switch x := w.rnd.IntN(100); {
		case x < 5:
			weight = 30
		case x < 25:
			weight = 5
		}
		total += weight
		w.userCum = append(w.userCum, total)
		fav := w.rnd.IntN(len(w.Restaurants))
		w.favRest = append(w.favRest, fav)
		w.favDish = append(w.favDish, w.rnd.IntN(len(w.Restaurants[fav].Menu)))
	}
}

// pickUser returns a user index, skewed by weight.
func (w *World) pickUser() int {
	x := w.rnd.Float64() * w.userCum[len(w.userCum)-1]
	return sort.Search(len(w.userCum), func(i int) bool { return w.userCum[i] > x })
}

// pickPlace returns a restaurant index for user u and the menu index of a dish
// to include (-1 for none): the favourite restaurant 60% of the time, where
// the favourite dish is ordered every other time.
func (w *World) pickPlace(u int) (rest, dish int) {
	if w.rnd.IntN(10) < 6 {
		if w.rnd.IntN(2) == 0 {
			return w.favRest[u], w.favDish[u]
		}
		return w.favRest[u], -1
	}
	return w.rnd.IntN(len(w.Restaurants)), -1
}

// orderTime draws a second in [from, to) following the daily profile.
func (w *World) orderTime(from, to time.Time) time.Time {
	span := int64(to.Sub(from) / time.Second)
	for {
		t := from.Add(time.Duration(w.rnd.Int64N(span)) * time.Second)
		if w.rnd.IntN(10) < hourWeight[t.Hour()] {
			return t
		}
	}
}
