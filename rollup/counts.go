package rollup

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weirhq/weir/internal/model"
)

// CountRequests sums the requests (model.RequestKinds) counted in red_1m in [from, to): how
// many requests weir has counted, sampled away or not.
func CountRequests(ctx context.Context, conn driver.Conn, database string, from, to time.Time) (uint64, error) {
	kinds := make([]string, len(model.RequestKinds))
	for i, k := range model.RequestKinds {
		kinds[i] = strconv.Itoa(int(k))
	}
	return countIn(ctx, conn, database, "toUInt64(sum(Requests))", TableRED1m, "SpanKind IN ("+strings.Join(kinds, ", ")+")", from, to)
}

// CountSpans counts the spans stored in [from, to).
func CountSpans(ctx context.Context, conn driver.Conn, database string, from, to time.Time) (uint64, error) {
	return countIn(ctx, conn, database, "count()", TableSpans, "1", from, to)
}

// countIn reads one UInt64 aggregate of table over the rows with a Timestamp in [from, to)
// that match cond.
func countIn(ctx context.Context, conn driver.Conn, database, agg, table, cond string, from, to time.Time) (uint64, error) {
	if err := ValidateDatabase(database); err != nil {
		return 0, err
	}
	var n uint64
	err := conn.QueryRow(ctx, "SELECT "+agg+" FROM "+database+"."+table+
		" WHERE Timestamp >= toDateTime(?, 'UTC') AND Timestamp < toDateTime(?, 'UTC') AND "+cond,
		from.UTC().Format(time.DateTime), to.UTC().Format(time.DateTime)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %s.%s: %w", database, table, err)
	}
	return n, nil
}
