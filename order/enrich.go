package order

import (
	"encoding/json"

	"github.com/orderflow/orderflow/refdata"
)

// Enriched is the message of CONTRACT §5, published to stg-service-orders.
type Enriched struct {
	ObjectID   int64           `json:"object_id"`
	ObjectType string          `json:"object_type"`
	Payload    EnrichedPayload `json:"payload"`
}

// EnrichedPayload is the body of an enriched order.
type EnrichedPayload struct {
	ID         int64     `json:"id"`
	Date       string    `json:"date"`
	Cost       float64   `json:"cost"`
	Payment    float64   `json:"payment"`
	Status     string    `json:"status"`
	Restaurant Named     `json:"restaurant"`
	User       UserRef   `json:"user"`
	Products   []Product `json:"products"`
}

// Named is a reference with its name.
type Named struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// UserRef is the order's user; Name and Login are null for a user Redis does not know.
type UserRef struct {
	ID    string  `json:"id"`
	Name  *string `json:"name"`
	Login *string `json:"login"`
}

// Product is an order line with its name and category from the restaurant's menu.
type Product struct {
	ID       string  `json:"id"`
	Price    float64 `json:"price"`
	Quantity int     `json:"quantity"`
	Name     string  `json:"name"`
	Category string  `json:"category"`
}

// Enrich translates an event's ids into names with the batch's reference
// data. An unknown user still loads (with null name and login); an unknown
// restaurant, or an item missing from the restaurant's menu, is rejected.
func Enrich(ev Event, refs refdata.Snapshot) (Enriched, *Rejection) {
	rest, ok := refs.Restaurants[ev.RestaurantID]
	if !ok {
		if why, broken := refs.Broken[ev.RestaurantID]; broken {
			return Enriched{}, reject(ReasonUnknownRestaurant, "restaurant %s: reference data is not valid JSON: %s", clip(ev.RestaurantID), why)
		}
		return Enriched{}, reject(ReasonUnknownRestaurant, "restaurant %s is not in Redis", clip(ev.RestaurantID))
	}
	products := make([]Product, len(ev.Items))
	for i, it := range ev.Items {
		m, ok := rest.Item(it.ID)
		if !ok {
			return Enriched{}, reject(ReasonNotInMenu, "item %s (%s) is not on the menu of restaurant %s", clip(it.ID), clip(it.Name), clip(ev.RestaurantID))
		}
		products[i] = Product{ID: it.ID, Price: it.Price, Quantity: it.Quantity, Name: m.Name, Category: m.Category}
	}
	user := UserRef{ID: ev.UserID}
	if u, ok := refs.Users[ev.UserID]; ok {
		user.Name, user.Login = &u.Name, &u.Login
	}
	return Enriched{
		ObjectID:   ev.ObjectID,
		ObjectType: "order",
		Payload: EnrichedPayload{
			ID:         ev.ObjectID,
			Date:       ev.Date.Format(TimeLayout),
			Cost:       ev.Cost,
			Payment:    ev.Payment,
			Status:     ev.FinalStatus,
			Restaurant: Named{ID: rest.ID, Name: rest.Name},
			User:       user,
			Products:   products,
		},
	}, nil
}

// JSON encodes the enriched order as published.
func (e Enriched) JSON() []byte {
	b, err := json.Marshal(e)
	if err != nil {
		panic("order: enriched order does not encode: " + err.Error()) // only plain types: cannot happen
	}
	return b
}
