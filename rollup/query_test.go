package rollup

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
)

// assertCovers checks that reads cover [from, to) exactly once, in order.
func assertCovers(t *testing.T, reads []Read, from, to time.Time) {
	t.Helper()
	require.NotEmpty(t, reads)
	assert.True(t, reads[0].From.Equal(from), "first read starts at %s, not %s", reads[0].From, from)
	for i, r := range reads {
		assert.True(t, r.From.Before(r.To), "read %d is empty", i)
		if i > 0 {
			assert.True(t, reads[i-1].To.Equal(r.From), "gap or overlap before read %d", i)
		}
	}
	assert.True(t, reads[len(reads)-1].To.Equal(to), "last read ends at %s, not %s", reads[len(reads)-1].To, to)
}

func TestPlanQuery_PicksTiers(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 3, 10, 12, 3, 0, 0, time.UTC)
	at := func(m time.Month, d, h, min int) time.Time { return time.Date(2024, m, d, h, min, 0, 0, time.UTC) }
	rolled := Availability{Tiers: map[string]TierSpan{
		TableRED1h: {From: at(2, 10, 0, 0), To: at(3, 10, 11, 0)},
		TableRED1d: {From: at(1, 1, 0, 0), To: at(3, 10, 0, 0)},
	}}
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	require.NoError(t, err)
	withLoc := func(loc *time.Location) Availability { a := rolled; a.Location = loc; return a }

	type read struct {
		table    string
		from, to time.Time
	}
	for _, tc := range []struct {
		name     string
		from, to time.Time
		step     time.Duration
		avail    Availability
		want     []read
	}{
		{"7 days at 1h: hours, then the minutes not rolled up yet", now.Add(-7 * 24 * time.Hour), now, time.Hour, rolled, []read{
			{TableRED1m, at(3, 3, 12, 3), at(3, 3, 13, 0)},
			{TableRED1h, at(3, 3, 13, 0), at(3, 10, 11, 0)},
			{TableRED1m, at(3, 10, 11, 0), now},
		}},
		{"7 days on the hour at 2h", at(3, 3, 12, 0), at(3, 10, 12, 0), 2 * time.Hour, rolled, []read{
			{TableRED1h, at(3, 3, 12, 0), at(3, 10, 11, 0)},
			{TableRED1m, at(3, 10, 11, 0), at(3, 10, 12, 0)},
		}},
		{"15 minutes at 1m", now.Add(-15 * time.Minute), now, time.Minute, rolled, []read{{TableRED1m, now.Add(-15 * time.Minute), now}}},
		{"15 minutes at 15m", now.Add(-15 * time.Minute), now, 15 * time.Minute, rolled, []read{{TableRED1m, now.Add(-15 * time.Minute), now}}},
		{"15 minutes at 1h: no whole hour", at(3, 9, 10, 45), at(3, 9, 11, 0), time.Hour, rolled, []read{{TableRED1m, at(3, 9, 10, 45), at(3, 9, 11, 0)}}},
		{"30 days at 1d: days, hours, minutes", at(2, 9, 0, 0), now, 24 * time.Hour, rolled, []read{
			{TableRED1d, at(2, 9, 0, 0), at(3, 10, 0, 0)},
			{TableRED1h, at(3, 10, 0, 0), at(3, 10, 11, 0)},
			{TableRED1m, at(3, 10, 11, 0), now},
		}},
		{"before the hourly tier starts", at(2, 1, 0, 0), at(2, 20, 0, 0), time.Hour, rolled, []read{
			{TableRED1m, at(2, 1, 0, 0), at(2, 10, 0, 0)},
			{TableRED1h, at(2, 10, 0, 0), at(2, 20, 0, 0)},
		}},
		{"nothing rolled up yet", at(3, 3, 0, 0), now, 24 * time.Hour, Availability{}, []read{{TableRED1m, at(3, 3, 0, 0), now}}},
		{"90m is not a whole number of hours", at(3, 3, 0, 0), now, 90 * time.Minute, rolled, []read{{TableRED1m, at(3, 3, 0, 0), now}}},
		{"Berlin: hours line up with epoch buckets, days do not", at(3, 3, 0, 0), at(3, 5, 0, 0), 24 * time.Hour, withLoc(berlin), []read{
			{TableRED1h, at(3, 3, 0, 0), at(3, 5, 0, 0)},
		}},
		{"Kolkata (+05:30): only minutes line up", at(3, 3, 0, 0), at(3, 5, 0, 0), time.Hour, withLoc(kolkata), []read{
			{TableRED1m, at(3, 3, 0, 0), at(3, 5, 0, 0)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := PlanQuery("weir", Query{Signal: SignalRED, From: tc.from, To: tc.to, Step: tc.step}, tc.avail)
			require.NoError(t, err)
			var got []read
			for _, r := range p.Reads {
				got = append(got, read{r.Table, r.From.UTC(), r.To.UTC()})
			}
			assert.Equal(t, tc.want, got, p.String())
			assertCovers(t, p.Reads, tc.from, tc.to)
			for _, r := range p.Reads {
				assert.Regexp(t, regexp.QuoteMeta("FROM weir."+r.Table+"\n")+` *`+regexp.QuoteMeta("WHERE Timestamp >= "+sqlTime(r.From)+" AND Timestamp < "+sqlTime(r.To)), p.SQL)
			}
			assert.Equal(t, len(p.Reads)-1, strings.Count(p.SQL, "UNION ALL"))
		})
	}
}

func TestPlanQuery_SQL(t *testing.T) {
	t.Parallel()
	from := time.Date(2024, 3, 3, 0, 0, 0, 0, time.UTC)
	q := Query{Signal: SignalRED, From: from, To: from.Add(2 * time.Hour), Step: 5 * time.Minute,
		ServiceNames: []string{"checkout", "x') OR 1=1 --"}, SpanKinds: []uint8{2}, GroupBy: []string{GroupService}}
	p, err := PlanQuery("weir", q, Availability{})
	require.NoError(t, err)
	assert.Equal(t, `SELECT toDateTime(intDiv(toUInt32(Timestamp), 300) * 300) AS bucket, ServiceName AS service, '' AS span_name, toUInt8(0) AS span_kind,
       sum(Requests) AS requests, sumIf(Requests, StatusCode = 2) AS errors, sum(DurationSumNano) AS duration_sum_nano, sum(ZeroCount) AS zero_count,
       toInt32(arrayReduce('min', (sumMap(arrayMap(i -> toInt32(greatest(floor(i / 2), -1)), BucketIndexes), BucketCounts) AS m).1)) AS bucket_offset, arrayReduce('groupArrayInsertAt', m.2, arrayMap(x -> toUInt32(x), arrayCumSum(arrayDifference(m.1)))) AS bucket_counts
FROM weir.red_1m
WHERE Timestamp >= toDateTime(1709424000) AND Timestamp < toDateTime(1709431200) AND ServiceName IN (?, ?) AND SpanKind IN (?)
GROUP BY bucket, service
ORDER BY bucket, service`, p.SQL)
	assert.Equal(t, []any{"checkout", "x') OR 1=1 --", uint8(2)}, p.Args, "user values are bound, never spliced")
	assert.NotContains(t, p.SQL, "toStartOfInterval")
	assert.Equal(t, []string{TableRED1m}, p.Tables())

	// Without the span kind filter the per-service tier serves the hours it holds. At a 1h
	// step its rows are the result's rows and pass through, their stored percentiles too.
	held := Availability{Tiers: map[string]TierSpan{TableREDService1h: {From: from, To: from.Add(time.Hour)}}}
	q.SpanKinds, q.Step, q.Quantiles = nil, time.Hour, []float64{0.5, 0.99, 0.999}
	p, err = PlanQuery("weir", q, held)
	require.NoError(t, err)
	assert.Equal(t, []string{TableREDService1h, TableRED1m}, p.Tables())
	assert.Contains(t, p.SQL, `
    SELECT toDateTime(intDiv(toUInt32(Timestamp), 3600) * 3600) AS bucket, ServiceName AS service, '' AS span_name, toUInt8(0) AS span_kind,
           Requests AS requests, Errors AS errors, DurationSumNano AS duration_sum_nano, ZeroCount AS zero_count,
           P50Nano AS quantile_0,
           P99Nano AS quantile_1,
           `+QuantileSQL(0.999, "q2", "ZeroCount", "BucketOffset", "BucketCounts")+` AS quantile_2
    FROM weir.red_service_1h
    WHERE Timestamp >= toDateTime(1709424000) AND Timestamp < toDateTime(1709427600) AND ServiceName IN (?, ?)
    UNION ALL`)
	assert.NotContains(t, p.SQL, "sumForEach", "no bucket takes rows of two reads")

	// At a 2h step the first bucket takes an hour of each: the reads are merged per bucket.
	q.Step = 2 * time.Hour
	p, err = PlanQuery("weir", q, held)
	require.NoError(t, err)
	assert.Contains(t, p.SQL, "\nGROUP BY bucket, service\nORDER BY bucket, service")
	assert.Contains(t, p.SQL, "sumForEach(counts)")
	assert.Contains(t, p.SQL, "           "+denseAtOriginSQL("BucketOffset", "BucketCounts")+" AS counts\n    FROM weir.red_service_1h\n")
	assert.Equal(t, []any{"checkout", "x') OR 1=1 --", "checkout", "x') OR 1=1 --"}, p.Args, "one set per read")
}

func TestPlanQuery_RejectsBadQueries(t *testing.T) {
	t.Parallel()
	from := time.Date(2024, 3, 3, 0, 0, 0, 0, time.UTC)
	ok := Query{Signal: SignalRED, From: from, To: from.Add(time.Hour), Step: time.Minute}
	for _, tc := range []struct {
		name string
		edit func(*Query)
		want string
	}{
		{"unknown signal", func(q *Query) { q.Signal = 9 }, "unknown signal"},
		{"series has no requests", func(q *Query) { q.Signal = SignalSeries }, "no requests to query"},
		{"empty range", func(q *Query) { q.To = q.From }, "empty range"},
		{"sub-minute step", func(q *Query) { q.Step = 30 * time.Second }, "whole number of minutes"},
		{"odd step", func(q *Query) { q.Step = 90 * time.Second }, "whole number of minutes"},
		{"edge filter on RED", func(q *Query) { q.Clients = []string{"a"} }, "apply to edges"},
		{"RED filter on edges", func(q *Query) { q.Signal = SignalEdges; q.ServiceNames = []string{"a"} }, "apply to RED"},
		{"unknown group", func(q *Query) { q.GroupBy = []string{"ServiceName; DROP TABLE x"} }, "cannot group red"},
		{"edge group on RED", func(q *Query) { q.GroupBy = []string{GroupClient} }, "cannot group red"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := ok
			tc.edit(&q)
			_, err := PlanQuery("weir", q, Availability{})
			assert.ErrorContains(t, err, tc.want)
		})
	}
	_, err := PlanQuery("weir; x", ok, Availability{})
	assert.ErrorContains(t, err, "database name")
}

// rowMap indexes rows by bucket and series.
func rowMap(rows []Row) map[string]Row {
	out := make(map[string]Row, len(rows))
	for _, r := range rows {
		out[r.Bucket.UTC().Format(time.RFC3339)+" "+fmt.Sprint(r.Series)] = r
	}
	return out
}

type totals struct {
	requests, errors, zero uint64
	durSum                 float64
	buckets                map[int32]uint64
}

func sumRows(rows []Row) totals {
	tot := totals{buckets: map[int32]uint64{}}
	for _, r := range rows {
		tot.requests += r.Requests
		tot.errors += r.Errors
		tot.durSum += r.DurationSumNano
		tot.zero += r.Latency.ZeroCount
		for k, i := range r.Latency.Indexes {
			tot.buckets[i] += r.Latency.Counts[k]
		}
	}
	return tot
}

// seedTotals sums seeded rows in [from, to) the way a query over them must: buckets at
// QueryScale.
func seedTotals(rows []tierRow, from, to time.Time, errorOf func(tierRow) bool, keep func(tierRow) bool) totals {
	tot := totals{buckets: map[int32]uint64{}}
	for _, r := range rows {
		if r.ts.Before(from) || !r.ts.Before(to) || (keep != nil && !keep(r)) {
			continue
		}
		tot.requests += r.count
		if errorOf(r) {
			tot.errors += r.count
		}
		tot.durSum += r.durSum
		tot.zero += r.zero
		for k, i := range r.idx {
			tot.buckets[i>>queryDownscale] += r.counts[k]
		}
	}
	return tot
}

func TestQuerier_StitchedTiersMatchOneMinute(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	ctx := testContext(t)
	_, err := Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)
	now := time.Date(2024, 3, 10, 12, 3, 0, 0, time.UTC)
	start := time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(3, 4))
	red := genRows(rng, redSeries, start, now)
	edges := genRows(rng, edgeSeries, start, now)
	insertRows(t, db, TableRED1m, redFamily, red)
	insertRows(t, db, TableEdges1m, edgeFamily, edges)
	_, err = (&Job{Conn: db.Conn, Database: db.Name, Now: func() time.Time { return now }}).Run(ctx, start, now)
	require.NoError(t, err)

	querier := &Querier{Conn: db.Conn, Database: db.Name}
	redErr := func(r tierRow) bool { return r.series[3] == uint8(2) }
	edgeErr := func(r tierRow) bool { return r.series[3] == uint8(1) }
	for _, tc := range []struct {
		name   string
		q      Query
		tables []string
		seeds  []tierRow
		isErr  func(tierRow) bool
		keep   func(tierRow) bool
	}{
		{"7 days at 1h", Query{Signal: SignalRED, From: now.Add(-7 * 24 * time.Hour), To: now, Step: time.Hour},
			[]string{TableRED1h, TableRED1m}, red, redErr, nil},
		{"7 days at 1d", Query{Signal: SignalRED, From: now.Add(-7 * 24 * time.Hour), To: now, Step: 24 * time.Hour},
			[]string{TableRED1d, TableRED1h, TableRED1m}, red, redErr, nil},
		{"15 minutes at 1m", Query{Signal: SignalRED, From: now.Add(-15 * time.Minute), To: now, Step: time.Minute},
			[]string{TableRED1m}, red, redErr, nil},
		{"one service, by service", Query{Signal: SignalRED, From: start, To: now, Step: 6 * time.Hour,
			ServiceNames: []string{"checkout", "o'brien\\"}, GroupBy: []string{GroupService}},
			[]string{TableREDService1h, TableRED1m}, red, redErr, func(r tierRow) bool { return r.series[0] == "checkout" }},
		{"7 days by service at 1h: per-service rows pass through", Query{Signal: SignalRED, From: now.Add(-7 * 24 * time.Hour), To: now, Step: time.Hour,
			GroupBy: []string{GroupService}},
			[]string{TableREDService1h, TableRED1m}, red, redErr, nil},
		{"7 days by service at 1d", Query{Signal: SignalRED, From: now.Add(-7 * 24 * time.Hour), To: now, Step: 24 * time.Hour,
			GroupBy: []string{GroupService}},
			[]string{TableREDService1d, TableREDService1h, TableRED1m}, red, redErr, nil},
		{"every service together at 1h", Query{Signal: SignalRED, From: now.Add(-3 * 24 * time.Hour), To: now, Step: time.Hour,
			GroupBy: []string{}},
			[]string{TableREDService1h, TableRED1m}, red, redErr, nil},
		{"one service by kind: per operation", Query{Signal: SignalRED, From: now.Add(-7 * 24 * time.Hour), To: now, Step: time.Hour,
			ServiceNames: []string{"cart"}, GroupBy: []string{GroupService, GroupSpanKind}},
			[]string{TableRED1h, TableRED1m}, red, redErr, func(r tierRow) bool { return r.series[0] == "cart" }},
		{"client spans", Query{Signal: SignalRED, From: start, To: now, Step: 24 * time.Hour, SpanKinds: []uint8{3}},
			[]string{TableRED1d, TableRED1h, TableRED1m}, red, redErr, func(r tierRow) bool { return r.series[2] == uint8(3) }},
		{"edges from frontend", Query{Signal: SignalEdges, From: now.Add(-7 * 24 * time.Hour), To: now, Step: time.Hour, Clients: []string{"frontend"}},
			[]string{TableEdges1h, TableEdges1m}, edges, edgeErr, func(r tierRow) bool { return r.series[0] == "frontend" }},
		{"edges per server", Query{Signal: SignalEdges, From: start, To: now, Step: 24 * time.Hour, GroupBy: []string{GroupServer}},
			[]string{TableEdges1d, TableEdges1h, TableEdges1m}, edges, edgeErr, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := querier.Query(ctx, tc.q)
			require.NoError(t, err)
			assert.Equal(t, tc.tables, res.Plan.Tables(), res.Plan.String())
			assertCovers(t, res.Plan.Reads, tc.q.From, tc.q.To)
			require.NotEmpty(t, res.Rows)

			// The same query over the one-minute tier alone.
			flat, err := PlanQuery(db.Name, tc.q, Availability{})
			require.NoError(t, err)
			require.Equal(t, []string{tc.tables[len(tc.tables)-1]}, flat.Tables())
			flatRows, err := querier.Rows(ctx, flat)
			require.NoError(t, err)
			assert.Equal(t, rowMap(flatRows), rowMap(res.Rows), "stitched tiers and the 1m tier agree bucket by bucket")

			// PanelSQL, with the range and step filled in as Grafana's data source fills them
			// in, picks its tiers on the server and returns the same rows.
			sql, err := PanelSQL(panelQueryOf(tc.q), panelAt(db.Name, tc.q.From, tc.q.To, tc.q.Step))
			require.NoError(t, err)
			panelRows, err := querier.Rows(ctx, QueryPlan{Query: tc.q, SQL: sql})
			require.NoError(t, err)
			assert.Equal(t, rowMap(res.Rows), rowMap(panelRows), "PanelSQL and Querier.Query agree bucket by bucket")

			// Asked for quantiles, the server returns the distribution's: stored ones where a
			// per-service row passes through, computed from the buckets elsewhere.
			qq := tc.q
			qq.Quantiles = []float64{0.5, 0.95, 0.99, 0.999, 0}
			withQ, err := querier.Query(ctx, qq)
			require.NoError(t, err)
			require.Len(t, withQ.Rows, len(res.Rows))
			sql, err = PanelSQL(panelQueryOf(qq), panelAt(db.Name, tc.q.From, tc.q.To, tc.q.Step))
			require.NoError(t, err)
			panelQ, err := querier.Rows(ctx, QueryPlan{Query: qq, SQL: sql})
			require.NoError(t, err)
			require.Len(t, panelQ, len(res.Rows))
			for i, r := range res.Rows {
				for k, q := range qq.Quantiles {
					want := r.Latency.Quantile(q)
					assert.InEpsilon(t, want+1, withQ.Rows[i].Quantiles[k]+1, 1e-12, "%s: q%v of %s", r.Series, q, r.Bucket)
					assert.InEpsilon(t, want+1, panelQ[i].Quantiles[k]+1, 1e-12, "PanelSQL %s: q%v of %s", r.Series, q, r.Bucket)
				}
				assert.Equal(t, r.Requests, withQ.Rows[i].Requests)
				assert.Equal(t, r.Latency.ZeroCount, withQ.Rows[i].Latency.ZeroCount)
			}

			want := seedTotals(tc.seeds, tc.q.From, tc.q.To, tc.isErr, tc.keep)
			assert.Equal(t, want, sumRows(res.Rows), "totals match the seeded rows")
			assert.NotZero(t, want.requests)

			for i, r := range res.Rows {
				assert.Zero(t, r.Bucket.Unix()%int64(tc.q.Step/time.Second), "bucket %s on a step boundary", r.Bucket)
				assert.True(t, slices.IsSorted(r.Latency.Indexes))
				if i > 0 {
					assert.False(t, r.Bucket.Before(res.Rows[i-1].Bucket), "ordered by bucket")
				}
				if tc.q.GroupBy != nil {
					switch tc.q.Signal {
					case SignalRED:
						assert.Empty(t, r.Series.SpanName)
						assert.Equal(t, slices.Contains(tc.q.GroupBy, GroupService), r.Series.ServiceName != "")
					case SignalEdges:
						assert.Empty(t, r.Series.Client)
						assert.NotEmpty(t, r.Series.Server)
					}
				}
			}
		})
	}

	t.Run("injection attempt is a value", func(t *testing.T) {
		t.Parallel()
		res, err := querier.Query(ctx, Query{Signal: SignalRED, From: start, To: now, Step: time.Hour,
			ServiceNames: []string{"x' OR 1=1 OR ServiceName = '"}})
		require.NoError(t, err)
		assert.Empty(t, res.Rows)
	})
}

// panelQueryOf is q as a PanelQuery, its filter values written as SQL literals.
func panelQueryOf(q Query) PanelQuery { return q.panelQuery() }

// Pick the tiers for a week of RED at a one-hour step: the hourly tier up to its newest
// rolled-up hour, the one-minute tier for the rest.
func ExamplePlanQuery() {
	now := time.Date(2024, 3, 10, 12, 3, 0, 0, time.UTC)
	avail := Availability{Tiers: map[string]TierSpan{
		TableRED1h: {From: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2024, 3, 10, 11, 0, 0, 0, time.UTC)},
	}}
	p, err := PlanQuery("weir", Query{
		Signal: SignalRED, From: time.Date(2024, 3, 3, 12, 0, 0, 0, time.UTC), To: now, Step: time.Hour,
		ServiceNames: []string{"checkout"},
	}, avail)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Tables())
	fmt.Println(p)
	fmt.Println(p.Args)
	// Output:
	// [red_1h red_1m]
	// red_1h [2024-03-03T12:00:00Z, 2024-03-10T11:00:00Z) + red_1m [2024-03-10T11:00:00Z, 2024-03-10T12:03:00Z)
	// [checkout checkout]
}

// countingConn counts the queries sent through it.
type countingConn struct {
	driver.Conn
	queries atomic.Int64
}

func (c *countingConn) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	c.queries.Add(1)
	return c.Conn.Query(ctx, query, args...)
}

func (c *countingConn) QueryRow(ctx context.Context, query string, args ...any) driver.Row {
	c.queries.Add(1)
	return c.Conn.QueryRow(ctx, query, args...)
}

// A Querier plans with the tiers its previous query saw, and notices, by a check that runs
// beside the query, when the rollup job or retention changed them: it then plans again and
// runs the query again.
func TestQuerier_PlansWithWhatItSawAndChecks(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	ctx := testContext(t)
	_, err := Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(4 * 24 * time.Hour)
	red := genRows(rand.New(rand.NewPCG(9, 9)), redSeries, start, end)
	insertRows(t, db, TableRED1m, redFamily, red)
	job := func(now time.Time) {
		t.Helper()
		_, err := (&Job{Conn: db.Conn, Database: db.Name, Now: func() time.Time { return now }}).Run(ctx, start, end)
		require.NoError(t, err)
	}
	job(start.Add(50 * time.Hour)) // with the grace, hours up to 01:00 on the third day

	conn := &countingConn{Conn: db.Conn}
	querier := &Querier{Conn: conn, Database: db.Name}
	q := Query{Signal: SignalRED, From: start, To: end, Step: time.Hour, GroupBy: []string{GroupService}, Quantiles: []float64{0.5, 0.99}}
	want := seedTotals(red, start, end, func(r tierRow) bool { return r.series[3] == uint8(2) }, nil)
	want.buckets = map[int32]uint64{} // quantiles only
	check := func(name string, queries int64, reads string) {
		t.Helper()
		before := conn.queries.Load()
		res, err := querier.Query(ctx, q)
		require.NoError(t, err)
		assert.Equal(t, queries, conn.queries.Load()-before, "%s: queries", name)
		assert.Equal(t, reads, res.Plan.String(), name)
		got := sumRows(res.Rows)
		got.zero = 0
		assert.Equal(t, want.requests, got.requests, name)
		assert.Equal(t, want.errors, got.errors, name)
		assert.Equal(t, 4*24*2, len(res.Rows), "%s: two services, every hour", name)
		// The same answer as a fresh Querier's.
		fresh, err := (&Querier{Conn: db.Conn, Database: db.Name}).Query(ctx, q)
		require.NoError(t, err)
		assert.Equal(t, fresh.Plan.String(), res.Plan.String(), name)
		assert.Equal(t, rowMap(fresh.Rows), rowMap(res.Rows), name)
	}
	// The first query of a Querier also asks once whether the tiers are Distributed tables.
	check("first query: where the parts are, the tiers, then the rows", 3, "red_service_1h [2024-03-01T00:00:00Z, 2024-03-03T01:00:00Z) + red_1m [2024-03-03T01:00:00Z, 2024-03-05T00:00:00Z)")
	check("the same tiers: the rows, and the check beside them", 2, "red_service_1h [2024-03-01T00:00:00Z, 2024-03-03T01:00:00Z) + red_1m [2024-03-03T01:00:00Z, 2024-03-05T00:00:00Z)")

	job(start.Add(80 * time.Hour))
	check("rolled up further: the tiers again, and the rows again", 3, "red_service_1h [2024-03-01T00:00:00Z, 2024-03-04T07:00:00Z) + red_1m [2024-03-04T07:00:00Z, 2024-03-05T00:00:00Z)")
	check("and then the rows and the check again", 2, "red_service_1h [2024-03-01T00:00:00Z, 2024-03-04T07:00:00Z) + red_1m [2024-03-04T07:00:00Z, 2024-03-05T00:00:00Z)")

	// Retention drops the first day of the hour tiers: reading red_service_1h there, as the
	// plan before the drop would, would miss it.
	for _, table := range []string{TableRED1h, TableREDService1h} {
		db.Exec(t, "ALTER TABLE "+db.Table(table)+" DROP PARTITION ID '20240301'")
	}
	check("a day dropped: the tiers again", 3, "red_1m [2024-03-01T00:00:00Z, 2024-03-02T00:00:00Z) + red_service_1h [2024-03-02T00:00:00Z, 2024-03-04T07:00:00Z) + red_1m [2024-03-04T07:00:00Z, 2024-03-05T00:00:00Z)")
}

// A user with readonly = 1 may change no setting: the Querier then runs its SQL without its
// SETTINGS clause, and answers the same.
func TestQuerier_ReadonlyUser(t *testing.T) {
	t.Parallel()
	db := migratedDB(t)
	ctx := testContext(t)
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(24 * time.Hour)
	red := genRows(rand.New(rand.NewPCG(3, 4)), redSeries, start, end)
	insertRows(t, db, TableRED1m, redFamily, red)
	q := Query{Signal: SignalRED, From: start, To: end, Step: time.Hour, GroupBy: []string{GroupService}}
	want, err := (&Querier{Conn: db.Conn, Database: db.Name}).Query(ctx, q)
	require.NoError(t, err)
	require.NotEmpty(t, want.Rows)

	readonly := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"readonly": 1}))
	querier := &Querier{Conn: db.Conn, Database: db.Name}
	for range 2 { // the first finds out, the second knows
		got, err := querier.Query(readonly, q)
		require.NoError(t, err)
		assert.Equal(t, rowMap(want.Rows), rowMap(got.Rows))
	}
	assert.True(t, querier.plain.Load())
}
