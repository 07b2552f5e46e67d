package verify

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/db"
)

func counters(ctx context.Context, tx pgx.Tx, rep *Report) error {
	rows, err := tx.Query(ctx, db.Query("verify_counters"))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			family, kind                        string
			inFlight                            bool
			table, userID, keyName, wantN, gotN *string
			user, key                           *uuid.UUID
			want, got                           *int64
		)
		if err := rows.Scan(&family, &table, &kind, &inFlight, &user, &userID, &key, &keyName, &want, &got, &wantN, &gotN); err != nil {
			return err
		}
		switch kind {
		case "keys":
			if family == "product" {
				rep.ProductKeys = deref(want)
			} else {
				rep.CategoryKeys = deref(want)
			}
			continue
		case "orders":
			rep.CountedOrders = deref(want)
			continue
		}
		d := Difference{Family: family, Table: deref(table), Kind: kind, UserID: deref(userID), KeyName: deref(keyName),
			Want: deref(want), Got: deref(got), WantName: deref(wantN), GotName: deref(gotN)}
		if user != nil {
			d.User = *user
		}
		if key != nil {
			d.Key = *key
		}
		if inFlight {
			rep.InFlight = append(rep.InFlight, d)
		} else {
			rep.Differences = append(rep.Differences, d)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	sortDiffs(rep.Differences)
	sortDiffs(rep.InFlight)
	return nil
}

func sortDiffs(ds []Difference) {
	slices.SortFunc(ds, func(a, b Difference) int {
		return cmp.Or(cmp.Compare(a.Table, b.Table), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.User.String(), b.User.String()),
			cmp.Compare(a.KeyName, b.KeyName), cmp.Compare(a.Key.String(), b.Key.String()))
	})
}

func orphans(ctx context.Context, tx pgx.Tx, rep *Report) error {
	rows, err := tx.Query(ctx, db.Query("verify_orphans"))
	if err != nil {
		return err
	}
	rep.Orphans, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Orphans, error) {
		var o Orphans
		return o, row.Scan(&o.Table, &o.Column, &o.Rows, &o.Orphans)
	})
	if err != nil {
		return err
	}
	// A table's rows once (its scalar hub columns all read every row).
	tables := map[string]int64{}
	for _, o := range rep.Orphans {
		if !strings.HasSuffix(o.Column, "_pks") {
			tables[o.Table] = max(tables[o.Table], o.Rows)
		}
	}
	for _, n := range tables {
		rep.VaultRows += n
	}
	return nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
