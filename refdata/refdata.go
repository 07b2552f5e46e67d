// Package refdata reads the reference data (users and restaurants with their
// menus) that the order-service keeps in Redis, one MGET per batch.
//
// Keys are the raw source ids with no prefix; values are JSON strings (CONTRACT §3).
package refdata

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// User is a user's reference record.
type User struct {
	ID          string `json:"_id"`
	Name        string `json:"name"`
	Login       string `json:"login"`
	UpdateTsUTC string `json:"update_ts_utc"`
}

// MenuItem is one dish of a restaurant's menu.
type MenuItem struct {
	ID       string  `json:"_id"`
	Name     string  `json:"name"`
	Price    float64 `json:"price"`
	Category string  `json:"category"`
}

// Restaurant is a restaurant's reference record with its menu.
type Restaurant struct {
	ID          string     `json:"_id"`
	Name        string     `json:"name"`
	Menu        []MenuItem `json:"menu"`
	UpdateTsUTC string     `json:"update_ts_utc"`
}

// Item finds a dish of the menu by its id.
func (r Restaurant) Item(id string) (MenuItem, bool) {
	for _, it := range r.Menu {
		if it.ID == id {
			return it, true
		}
	}
	return MenuItem{}, false
}

// Snapshot is the reference data one batch needs, looked up at once.
type Snapshot struct {
	Users       map[string]User
	Restaurants map[string]Restaurant
	// Broken maps a key whose value is not valid reference JSON to the
	// parse error, so the order that needs it is rejected with that detail
	// instead of stopping the batch.
	Broken map[string]string
}

// Store reads reference data from Redis.
type Store struct {
	rdb redis.UniversalClient
}

// NewStore wraps a Redis client.
func NewStore(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// Lookup fetches the given users and restaurants with a single MGET. Missing
// keys are absent from the snapshot; a value that is not valid JSON is listed
// in Broken. Only a failure to reach Redis is an error.
func (s *Store) Lookup(ctx context.Context, userIDs, restaurantIDs []string) (Snapshot, error) {
	snap := Snapshot{Users: map[string]User{}, Restaurants: map[string]Restaurant{}, Broken: map[string]string{}}
	keys := append(slices.Clone(userIDs), restaurantIDs...)
	if len(keys) == 0 {
		return snap, nil
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return snap, fmt.Errorf("redis mget %d keys: %w", len(keys), err)
	}
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		if i < len(userIDs) {
			var u User
			if err := json.Unmarshal([]byte(str), &u); err != nil {
				snap.Broken[keys[i]] = err.Error()
				continue
			}
			u.Name, u.Login = clean(u.Name), clean(u.Login)
			snap.Users[keys[i]] = u
			continue
		}
		var r Restaurant
		if err := json.Unmarshal([]byte(str), &r); err != nil {
			snap.Broken[keys[i]] = err.Error()
			continue
		}
		r.Name = clean(r.Name)
		for j := range r.Menu {
			r.Menu[j].Name, r.Menu[j].Category = clean(r.Menu[j].Name), clean(r.Menu[j].Category)
		}
		snap.Restaurants[keys[i]] = r
	}
	return snap, nil
}

// clean drops NUL characters, which PostgreSQL text cannot store: a name
// from Redis must never stop a batch.
func clean(s string) string { return strings.ReplaceAll(s, "\x00", "") }

// Save writes users and restaurants as CONTRACT §3 describes, in one pipelined MSET.
func Save(ctx context.Context, rdb redis.UniversalClient, users []User, restaurants []Restaurant) error {
	pairs := make([]any, 0, 2*(len(users)+len(restaurants)))
	for _, u := range users {
		b, err := json.Marshal(u)
		if err != nil {
			return err
		}
		pairs = append(pairs, u.ID, string(b))
	}
	for _, r := range restaurants {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		pairs = append(pairs, r.ID, string(b))
	}
	if len(pairs) == 0 {
		return nil
	}
	if err := rdb.MSet(ctx, pairs...).Err(); err != nil {
		return fmt.Errorf("redis mset %d keys: %w", len(pairs)/2, err)
	}
	return nil
}
