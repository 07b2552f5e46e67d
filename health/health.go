// Package health reports how the pipeline is doing: lag per input partition
// and what each layer holds. It only reads.
package health

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/orderflow/orderflow/config"
	"github.com/orderflow/orderflow/kafkaio"
)

// Report is one look at the pipeline.
type Report struct {
	Lag          map[int32]int64 // records waiting per input partition
	TotalLag     int64
	StgOrders    int64
	Rejected     int64
	Batches      int64
	UserProducts int64
	UserCats     int64
}

// Take reads the group's lag from Kafka and the row counts from PostgreSQL.
func Take(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, adm *kadm.Client) (Report, error) {
	r := Report{Lag: map[int32]int64{}}
	parts, err := kafkaio.Owned(ctx, adm, cfg.Kafka.InputTopic, 0, 1)
	if err != nil {
		return r, err
	}
	pos, err := kafkaio.Position(ctx, adm, cfg.Kafka.Group, cfg.Kafka.InputTopic, parts)
	if err != nil {
		return r, err
	}
	for p, end := range pos.End {
		r.Lag[p] = max(0, end-pos.Next[p])
	}
	r.TotalLag = pos.Lag()
	err = pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM stg.order_events),
		(SELECT count(*) FROM stg.rejected_messages),
		(SELECT count(*) FROM stg.batches WHERE committed_at IS NOT NULL),
		(SELECT count(*) FROM cdm.user_product_counters),
		(SELECT count(*) FROM cdm.user_category_counters)`).
		Scan(&r.StgOrders, &r.Rejected, &r.Batches, &r.UserProducts, &r.UserCats)
	if err != nil {
		return r, fmt.Errorf("count rows: %w", err)
	}
	return r, nil
}

// String is the one-line progress summary printed while the pipeline runs.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lag %d | stg orders %d | rejected %d | batches %d | marts %d product + %d category rows",
		r.TotalLag, r.StgOrders, r.Rejected, r.Batches, r.UserProducts, r.UserCats)
	return b.String()
}
