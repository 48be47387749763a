package rollup_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/rollup"
)

// Render the DDL weir would run against an empty ClickHouse 18.16 server.
func ExamplePlan() {
	v, _ := rollup.ParseVersion("18.16.1")
	stmts, err := rollup.Plan(rollup.Options{Database: "weir", Features: rollup.FeaturesFor(v)}, 0, rollup.LatestVersion())
	if err != nil {
		panic(err)
	}
	for _, st := range stmts {
		fmt.Println(st.Name)
	}
	// Output:
	// database
	// schema_migrations
	// spans
	// metrics_gauge
	// metrics_sum
	// metrics_histogram
	// metrics_exponential_histogram
	// metrics_summary
	// trace_index
	// trace_index_mv
	// red_1m
	// red_1h
	// red_1d
	// edges_1m
	// edges_1h
	// edges_1d
	// series_1m
	// series_1h
	// series_1d
	// spend
	// allocation
	// service_cost_1d
	// hotspots
	// trace_index_mv_drop
	// insert_id
	// insert_id
	// insert_id
	// insert_id
	// insert_id
	// insert_id
	// insert_id
	// insert_id
	// insert_id
	// red_service_1h
	// red_service_1d
}

// usageDB is a migrated database of its own for a usage test, which runs in parallel.
func usageDB(t *testing.T) *chtest.DB {
	t.Parallel()
	db := chtest.New(t)
	_, err := rollup.Migrate(t.Context(), db.Conn, db.Name, 0)
	require.NoError(t, err)
	return db
}

// The usage of SpendWriter, run on the test server (an Example could not reach one): replace
// a billing period of an account with new rows. They are staged, then swapped in partition
// by partition; until Commit the spend table is untouched.
func TestSpendWriter_Usage(t *testing.T) {
	db := usageDB(t)
	conn, database, ctx := db.Conn, db.Name, t.Context()
	var out strings.Builder

	w, err := rollup.NewSpendWriter(ctx, conn, database)
	require.NoError(t, err)
	sep := time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)
	var b rollup.SpendBlock
	row := rollup.SpendRow{
		BillingPeriodStart: sep, BillingPeriodEnd: sep.AddDate(0, 1, 0),
		ChargePeriodStart: sep, ChargePeriodEnd: sep.Add(time.Hour),
		Provider: "AWS", BillingAccountID: "123456789012", ServiceName: "Amazon EC2",
		BilledCost: 0.42, BillingCurrency: "USD", Source: "bill.csv", LineNumber: 2,
	}
	b.Append(&row) // copies row: it may be reused
	if err := w.Write(ctx, &b); err != nil {
		_ = w.Abort(ctx)
		require.NoError(t, err)
	}
	c, err := w.Commit(ctx)
	require.NoError(t, err)
	for _, p := range c.Periods {
		fmt.Fprintln(&out, p.Start.Format("2006-01"), p.BillingAccountID, p.Rows, "rows replace", p.PreviousRows)
	}
	assert.Equal(t, "2024-09 123456789012 1 rows replace 0\n", out.String())
}

// The usage of TraceIndexWriter, run on the test server: index the spans of one block, as
// the clickhouse exporter does after their INSERT into spans succeeded, one trace_index row
// per trace and day.
func TestTraceIndexWriter_Usage(t *testing.T) {
	db := usageDB(t)
	conn, database, ctx := db.Conn, db.Name, t.Context()
	var out strings.Builder

	sv, err := conn.ServerVersion()
	require.NoError(t, err)
	w, err := rollup.NewTraceIndexWriter(conn, database)
	require.NoError(t, err)
	b := rollup.NewTraceIndexBlock(sv.Timezone) // Day is the server's, as toDate(Timestamp)
	start := time.Date(2024, 9, 1, 12, 0, 0, 0, time.UTC)
	trace := [16]byte{0x4b, 0xf9, 0x2f, 0x35}
	b.Add(trace, uint64(start.UnixNano()), uint64(start.Add(80*time.Millisecond).UnixNano()), "frontend")
	b.Add(trace, uint64(start.Add(5*time.Millisecond).UnixNano()), uint64(start.Add(60*time.Millisecond).UnixNano()), "cart")
	require.NoError(t, w.Write(ctx, b))
	fmt.Fprintln(&out, b.Len(), "row for", b.Spans(), "spans")
	b.Reset() // ready for the next block
	assert.Equal(t, "1 row for 2 spans\n", out.String())
	assert.Equal(t, uint64(1), db.QueryUint64(t, "SELECT count() FROM "+db.Table(rollup.TableTraceIndex)))
}
