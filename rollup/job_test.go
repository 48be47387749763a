package rollup

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/model"
)

// tierRow is one row of a RED or edges tier: the family's series values in order, then
// the counters and the distribution.
type tierRow struct {
	ts     time.Time
	series []any
	count  uint64
	durSum float64
	zero   uint64
	idx    []int32
	counts []uint64
}

// agg is what one series has in one window, merged.
type agg struct {
	count   uint64
	durSum  float64
	zero    uint64
	buckets map[int32]uint64
	rows    int // stored rows merged into it
}

func (a *agg) add(r tierRow) {
	a.count += r.count
	a.durSum += r.durSum
	a.zero += r.zero
	if a.buckets == nil {
		a.buckets = map[int32]uint64{}
	}
	for k, i := range r.idx {
		a.buckets[i] += r.counts[k]
	}
	a.rows++
}

// key identifies a series in a window.
func key(window time.Time, series []any) string {
	return window.UTC().Format(time.RFC3339) + " " + fmt.Sprint(series...)
}

// mergeBy merges rows per series and window; windowOf maps a row's time to its window.
func mergeBy(rows []tierRow, windowOf func(time.Time) time.Time) map[string]*agg {
	out := map[string]*agg{}
	for _, r := range rows {
		k := key(windowOf(r.ts), r.series)
		a := out[k]
		if a == nil {
			a = &agg{}
			out[k] = a
		}
		a.add(r)
	}
	return out
}

func hourOf(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }
func dayOf(t time.Time) time.Time  { return t.UTC().Truncate(24 * time.Hour) }

// assertSameAggs compares merged windows, ignoring how many rows each came from.
func assertSameAggs(t *testing.T, want, got map[string]*agg, msg string) {
	t.Helper()
	require.Equal(t, sortedKeys(want), sortedKeys(got), "%s: series and windows", msg)
	for k, w := range want {
		g := got[k]
		assert.Equal(t, w.count, g.count, "%s %s: count", msg, k)
		assert.Equal(t, w.durSum, g.durSum, "%s %s: duration sum", msg, k)
		assert.Equal(t, w.zero, g.zero, "%s %s: zero count", msg, k)
		assert.Equal(t, w.buckets, g.buckets, "%s %s: buckets", msg, k)
	}
}

func sortedKeys(m map[string]*agg) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// insertRows writes rows into table as one block.
func insertRows(t *testing.T, db *chtest.DB, table string, fam family, rows []tierRow) {
	t.Helper()
	ctx := testContext(t)
	batch, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+db.Table(table)+" ("+strings.Join(fam.columns(), ", ")+")")
	require.NoError(t, err)
	for _, r := range rows {
		vals := append([]any{r.ts}, r.series...)
		vals = append(vals, r.count, r.durSum, r.zero, r.idx, r.counts)
		require.NoError(t, batch.Append(vals...))
	}
	require.NoError(t, batch.Send())
}

// readRows reads every row of table.
func readRows(t *testing.T, db *chtest.DB, table string, fam family) []tierRow {
	t.Helper()
	rows, err := db.Conn.Query(testContext(t), "SELECT "+strings.Join(fam.columns(), ", ")+" FROM "+db.Table(table))
	require.NoError(t, err)
	defer rows.Close()
	var out []tierRow
	for rows.Next() {
		var r tierRow
		var series []any
		if fam.values[0] == "Requests" {
			var svc, span string
			var kind, status uint8
			var dk, dv []string
			series = []any{&svc, &span, &kind, &status, &dk, &dv}
		} else {
			var client, server, ct string
			var failed uint8
			series = []any{&client, &server, &ct, &failed}
		}
		dest := append([]any{&r.ts}, series...)
		dest = append(dest, &r.count, &r.durSum, &r.zero, &r.idx, &r.counts)
		require.NoError(t, rows.Scan(dest...))
		for _, p := range series {
			switch v := p.(type) {
			case *string:
				r.series = append(r.series, *v)
			case *uint8:
				r.series = append(r.series, *v)
			case *[]string:
				r.series = append(r.series, *v)
			}
		}
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

// genSeries are the series the generators write.
var (
	redSeries = [][]any{
		{"checkout", "POST /checkout", uint8(2), uint8(0), []string{"region"}, []string{"eu"}},
		{"checkout", "POST /checkout", uint8(2), uint8(2), []string{"region"}, []string{"eu"}},
		{"checkout", "POST /checkout", uint8(2), uint8(0), []string{"region"}, []string{"us"}},
		{"cart", "GET /cart", uint8(2), uint8(1), []string{}, []string{}},
		{"cart", "SELECT", uint8(3), uint8(0), []string{}, []string{}},
	}
	edgeSeries = [][]any{
		{"frontend", "checkout", "", uint8(0)},
		{"frontend", "checkout", "", uint8(1)},
		{"checkout", "postgres", "database", uint8(0)},
	}
)

// genRows writes, for every minute of [from, to), one to three rows for most series (the
// exporter flushes several times a minute), each with a few lognormal durations bucketed at
// model.LatencyScale and the odd zero duration. Durations are whole nanoseconds, so sums are exact.
func genRows(rng *rand.Rand, series [][]any, from, to time.Time) []tierRow {
	var out []tierRow
	for m := from; m.Before(to); m = m.Add(time.Minute) {
		for _, s := range series {
			if rng.IntN(10) < 2 {
				continue
			}
			for range 1 + rng.IntN(3) {
				r := tierRow{ts: m.Add(time.Duration(rng.IntN(60)) * time.Second), series: s}
				b := map[int32]uint64{}
				for range 1 + rng.IntN(12) {
					r.count++
					if rng.IntN(40) == 0 {
						r.zero++
						continue
					}
					d := math.Round(math.Exp(math.Log(20e6) + rng.NormFloat64()))
					if d < 1 {
						d = 1
					}
					r.durSum += d
					b[model.LatencyBucketIndex(d)]++
				}
				for i := range b {
					r.idx = append(r.idx, i)
				}
				sort.Slice(r.idx, func(a, c int) bool { return r.idx[a] < r.idx[c] })
				for _, i := range r.idx {
					r.counts = append(r.counts, b[i])
				}
				out = append(out, r)
			}
		}
	}
	return out
}

func before(rows []tierRow, end time.Time) []tierRow {
	var out []tierRow
	for _, r := range rows {
		if r.ts.Before(end) {
			out = append(out, r)
		}
	}
	return out
}

// seeded is a database with one-minute rows from 2024-02-28 22:00 to 2024-03-01 12:05 UTC:
// three day partitions, a month boundary, and an open hour at the end.
type seeded struct {
	db         *chtest.DB
	red, edges []tierRow
	now        time.Time
}

var (
	seedFrom = time.Date(2024, 2, 28, 22, 0, 0, 0, time.UTC)
	seedTo   = time.Date(2024, 3, 1, 12, 5, 0, 0, time.UTC)
	// seedNow is 3 minutes past 12:00: with the default 5-minute grace the 11:00 hour is still open.
	seedNow = time.Date(2024, 3, 1, 12, 3, 0, 0, time.UTC)
)

func seed(t *testing.T) seeded {
	t.Helper()
	db := chtest.New(t)
	_, err := Migrate(testContext(t), db.Conn, db.Name, 0)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	s := seeded{db: db, now: seedNow,
		red:   genRows(rng, redSeries, seedFrom, seedTo),
		edges: genRows(rng, edgeSeries, seedFrom, seedTo)}
	// Two blocks per table, so the rows of a minute sit in different parts too.
	half := len(s.red) / 2
	insertRows(t, db, TableRED1m, redFamily, s.red[:half])
	insertRows(t, db, TableRED1m, redFamily, s.red[half:])
	insertRows(t, db, TableEdges1m, edgeFamily, s.edges)
	return s
}

func (s seeded) job() *Job {
	return &Job{Conn: s.db.Conn, Database: s.db.Name, Now: func() time.Time { return s.now }}
}

// checkTiers asserts that every hourly row is the merge of its one-minute rows and every
// daily row the merge of its hourly rows, for the windows closed by closedBy.
func checkTiers(t *testing.T, db *chtest.DB, red, edges []tierRow, closedBy time.Time) {
	t.Helper()
	for _, tc := range []struct {
		name          string
		rows          []tierRow
		fam           family
		hour, daytier string
	}{
		{"red", red, redFamily, TableRED1h, TableRED1d},
		{"edges", edges, edgeFamily, TableEdges1h, TableEdges1d},
	} {
		hourEnd, dayEnd := hourOf(closedBy), dayOf(closedBy)
		hourly := readRows(t, db, tc.hour, tc.fam)
		gotHours := mergeBy(hourly, hourOf)
		for k, a := range gotHours {
			assert.Equal(t, 1, a.rows, "%s: one row per series and hour: %s", tc.hour, k)
		}
		for _, r := range hourly {
			assert.Equal(t, hourOf(r.ts), r.ts.UTC(), "%s rows start on the hour", tc.hour)
		}
		assertSameAggs(t, mergeBy(before(tc.rows, hourEnd), hourOf), gotHours, tc.hour+" from 1m")

		daily := readRows(t, db, tc.daytier, tc.fam)
		gotDays := mergeBy(daily, dayOf)
		for k, a := range gotDays {
			assert.Equal(t, 1, a.rows, "%s: one row per series and day: %s", tc.daytier, k)
		}
		assertSameAggs(t, mergeBy(before(hourly, dayEnd), dayOf), gotDays, tc.daytier+" from 1h")
		assertSameAggs(t, mergeBy(before(tc.rows, dayEnd), dayOf), gotDays, tc.daytier+" from 1m")
	}
}

// serviceRow is a row of a per-service tier.
type serviceRow struct {
	requests, errors uint64
	durSum           float64
	latency          model.Distribution
	p50, p95, p99    float64
}

// readServiceRows reads a per-service tier by service and window.
func readServiceRows(t *testing.T, db *chtest.DB, table string) map[string]serviceRow {
	t.Helper()
	rows, err := db.Conn.Query(testContext(t), "SELECT Timestamp, ServiceName, Requests, Errors, DurationSumNano, ZeroCount, BucketOffset, BucketCounts, "+
		"P50Nano, P95Nano, P99Nano FROM "+db.Table(table))
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]serviceRow{}
	for rows.Next() {
		var ts time.Time
		var svc string
		var r serviceRow
		var zero uint64
		var offset int32
		var counts []uint64
		require.NoError(t, rows.Scan(&ts, &svc, &r.requests, &r.errors, &r.durSum, &zero, &offset, &counts, &r.p50, &r.p95, &r.p99))
		k := key(ts, []any{svc})
		require.NotContains(t, out, k, "%s: one row per service and window", table)
		if len(counts) > 0 {
			assert.NotZero(t, counts[0], "%s %s: counts start at the first non-empty bucket", table, k)
			assert.NotZero(t, counts[len(counts)-1], "%s %s: and end at the last", table, k)
		}
		r.latency = denseDistribution(zero, offset, counts)
		out[k] = r
	}
	require.NoError(t, rows.Err())
	return out
}

// checkServiceTiers asserts that every row of the per-service tiers is the merge of its
// service's rows in the per-operation tier of the same window, downscaled to QueryScale, with
// the failed requests counted and the percentiles of its distribution stored.
func checkServiceTiers(t *testing.T, db *chtest.DB) {
	t.Helper()
	for _, tc := range []struct{ source, table string }{{TableRED1h, TableREDService1h}, {TableRED1d, TableREDService1d}} {
		want := map[string]*serviceRow{}
		for _, r := range readRows(t, db, tc.source, redFamily) {
			k := key(r.ts, r.series[:1])
			w := want[k]
			if w == nil {
				w = &serviceRow{latency: model.Distribution{Downscale: queryDownscale}}
				want[k] = w
			}
			w.requests += r.count
			if r.series[3] == uint8(2) {
				w.errors += r.count
			}
			w.durSum += r.durSum
			w.latency.Merge(model.Distribution{ZeroCount: r.zero, Indexes: r.idx, Counts: r.counts})
		}
		got := readServiceRows(t, db, tc.table)
		require.Equal(t, len(want), len(got), "%s: a row per service and window of %s", tc.table, tc.source)
		require.NotEmpty(t, got)
		for k, w := range want {
			g, ok := got[k]
			require.True(t, ok, "%s has %s", tc.table, k)
			assert.Equal(t, w.requests, g.requests, "%s %s: requests", tc.table, k)
			assert.Equal(t, w.errors, g.errors, "%s %s: errors", tc.table, k)
			assert.Equal(t, w.durSum, g.durSum, "%s %s: duration sum", tc.table, k)
			assert.Equal(t, w.latency, g.latency, "%s %s: buckets", tc.table, k)
			// The server's exp2 may differ from Go's in the last bit.
			p50, p95, p99 := g.latency.Percentiles()
			for i, want := range []float64{p50, p95, p99} {
				assert.InEpsilon(t, want, []float64{g.p50, g.p95, g.p99}[i], 1e-12, "%s %s: stored percentile %d", tc.table, k, i)
			}
		}
	}
}

// snapshot is every tier's rows, merged per key, for before/after comparisons.
func snapshot(t *testing.T, db *chtest.DB) map[string]map[string]*agg {
	t.Helper()
	out := map[string]map[string]*agg{}
	for _, tc := range []struct {
		table string
		fam   family
	}{
		{TableRED1m, redFamily}, {TableRED1h, redFamily}, {TableRED1d, redFamily},
		{TableEdges1m, edgeFamily}, {TableEdges1h, edgeFamily}, {TableEdges1d, edgeFamily},
	} {
		out[tc.table] = mergeBy(readRows(t, db, tc.table, tc.fam), func(t time.Time) time.Time { return t })
	}
	return out
}

func partitionIDs(rep Report) []string {
	var out []string
	for _, p := range rep.Partitions {
		out = append(out, p.Table+"/"+p.PartitionID)
	}
	return out
}

func TestJob_RollsUpClosedWindows(t *testing.T) {
	t.Parallel()
	s := seed(t)
	ctx := testContext(t)
	job := s.job()

	rep, err := job.Run(ctx, seedFrom, seedTo)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"red_1h/20240228", "red_1h/20240229", "red_1h/20240301",
		"edges_1h/20240228", "edges_1h/20240229", "edges_1h/20240301",
		"red_service_1h/20240228", "red_service_1h/20240229", "red_service_1h/20240301",
		"red_1d/202402", "edges_1d/202402", "red_service_1d/202402",
	}, partitionIDs(rep), "hourly tiers first, each per-service tier after its source; March has no closed day yet")
	closedBy := s.now.Add(-DefaultGrace)
	for _, p := range rep.Partitions {
		assert.NotZero(t, p.Rows, p.Table+"/"+p.PartitionID)
		assert.Zero(t, p.Preserved, p.Table+"/"+p.PartitionID)
	}
	partition := func(name string) RebuiltPartition {
		i := slices.Index(partitionIDs(rep), name)
		require.GreaterOrEqual(t, i, 0, name)
		return rep.Partitions[i]
	}
	assert.Equal(t, time.Date(2024, 3, 1, 11, 0, 0, 0, time.UTC), partition("red_1h/20240301").To.UTC(), "last closed hour ends at 11:00")
	assert.Equal(t, time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), partition("red_1d/202402").To.UTC(), "last closed day ends on March 1")
	checkTiers(t, s.db, s.red, s.edges, closedBy)
	checkServiceTiers(t, s.db)

	var rows uint64
	for _, table := range []string{TableRED1h, TableEdges1h, TableRED1d, TableEdges1d, TableREDService1h, TableREDService1d} {
		rows += s.db.QueryUint64(t, "SELECT count() FROM "+s.db.Table(table))
	}
	assert.Equal(t, rows, rep.Rows(), "the report counts the rows written")

	// The open hour (11:00, ends within the grace) and the open day are not rolled up.
	assert.Zero(t, s.db.QueryUint64(t, "SELECT count() FROM "+s.db.Table(TableRED1h)+" WHERE Timestamp >= toDateTime('2024-03-01 11:00:00')"))
	assert.Zero(t, s.db.QueryUint64(t, "SELECT count() FROM "+s.db.Table(TableRED1d)+" WHERE Timestamp >= toDateTime('2024-03-01 00:00:00')"))
	// No staging table is left behind.
	assert.Zero(t, s.db.QueryUint64(t, "SELECT count() FROM system.tables WHERE database = ? AND name LIKE '%staging%'", s.db.Name))
}

func TestJob_RerunChangesNothing(t *testing.T) {
	t.Parallel()
	s := seed(t)
	ctx := testContext(t)
	job := s.job()
	_, err := job.Run(ctx, seedFrom, seedTo)
	require.NoError(t, err)
	want := snapshot(t, s.db)

	for _, r := range []struct{ from, to time.Time }{
		{seedFrom, seedTo},
		{seedFrom.Add(-72 * time.Hour), seedTo.Add(72 * time.Hour)},
		{time.Date(2024, 2, 29, 13, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 14, 0, 0, 0, time.UTC)},
	} {
		rep, err := job.Run(ctx, r.from, r.to)
		require.NoError(t, err)
		require.NotEmpty(t, rep.Partitions)
		got := snapshot(t, s.db)
		for table, w := range want {
			assertSameAggs(t, w, got[table], fmt.Sprintf("%s after rerun over [%s, %s)", table, r.from, r.to))
		}
	}
}

func TestJob_OpenWindowsWaitForGrace(t *testing.T) {
	t.Parallel()
	s := seed(t)
	ctx := testContext(t)
	job := s.job()
	_, err := job.Run(ctx, seedFrom, seedTo)
	require.NoError(t, err)

	// A late row for a closed hour and more rows for the open hour arrive.
	late := tierRow{ts: time.Date(2024, 3, 1, 10, 59, 0, 0, time.UTC), series: redSeries[0],
		count: 5, durSum: 5e6, idx: []int32{model.LatencyBucketIndex(1e6)}, counts: []uint64{5}}
	insertRows(t, s.db, TableRED1m, redFamily, []tierRow{late})
	red := append(append([]tierRow(nil), s.red...), late)

	// Still within the grace of 12:00: 11:00 stays open, 10:00 is recomputed with the late row.
	s.now = time.Date(2024, 3, 1, 12, 4, 59, 0, time.UTC)
	_, err = s.job().Run(ctx, seedFrom, seedTo)
	require.NoError(t, err)
	checkTiers(t, s.db, red, s.edges, s.now.Add(-DefaultGrace))
	assert.Zero(t, s.db.QueryUint64(t, "SELECT count() FROM "+s.db.Table(TableRED1h)+" WHERE Timestamp >= toDateTime('2024-03-01 11:00:00')"))

	// Past the grace the 11:00 hour closes; 12:00 (its rows run to 12:05) stays open.
	s.now = time.Date(2024, 3, 1, 12, 5, 0, 0, time.UTC)
	_, err = s.job().Run(ctx, seedFrom, seedTo)
	require.NoError(t, err)
	checkTiers(t, s.db, red, s.edges, s.now.Add(-DefaultGrace))
	assert.NotZero(t, s.db.QueryUint64(t, "SELECT count() FROM "+s.db.Table(TableRED1h)+" WHERE Timestamp = toDateTime('2024-03-01 11:00:00')"))
	assert.Zero(t, s.db.QueryUint64(t, "SELECT count() FROM "+s.db.Table(TableRED1h)+" WHERE Timestamp >= toDateTime('2024-03-01 12:00:00')"))

	// A longer grace holds back more.
	s.now = time.Date(2024, 3, 2, 0, 30, 0, 0, time.UTC)
	job = s.job()
	job.Grace = time.Hour
	_, err = job.Run(ctx, seedFrom, seedTo)
	require.NoError(t, err)
	assert.Zero(t, s.db.QueryUint64(t, "SELECT count() FROM "+s.db.Table(TableRED1d)+" WHERE Timestamp >= toDateTime('2024-03-01 00:00:00')"),
		"March 1 ends within the hour of grace")
	job.Grace = 30 * time.Minute
	_, err = job.Run(ctx, seedFrom, seedTo)
	require.NoError(t, err)
	checkTiers(t, s.db, red, s.edges, s.now.Add(-job.Grace))
	assert.NotZero(t, s.db.QueryUint64(t, "SELECT count() FROM "+s.db.Table(TableRED1d)+" WHERE Timestamp = toDateTime('2024-03-01 00:00:00')"))
}

func TestJob_KeepsWindowsTheSourceLost(t *testing.T) {
	t.Parallel()
	s := seed(t)
	ctx := testContext(t)
	job := s.job()
	_, err := job.Run(ctx, seedFrom, seedTo)
	require.NoError(t, err)
	want := snapshot(t, s.db)

	// Retention dropped February 28 and 29 from the one-minute tiers and February 28 from
	// the hourly ones. Rolling up again must keep the hourly partition of February 29 as it
	// is and keep February 28 in the daily partition of February, which is rebuilt from
	// the hours of February 29.
	for _, table := range []string{TableRED1m, TableEdges1m} {
		s.db.Exec(t, "ALTER TABLE "+s.db.Table(table)+" DROP PARTITION ID '20240228'")
		s.db.Exec(t, "ALTER TABLE "+s.db.Table(table)+" DROP PARTITION ID '20240229'")
	}
	for _, table := range []string{TableRED1h, TableEdges1h} {
		s.db.Exec(t, "ALTER TABLE "+s.db.Table(table)+" DROP PARTITION ID '20240228'")
		for k := range want[table] {
			if strings.HasPrefix(k, "2024-02-28") {
				delete(want[table], k)
			}
		}
	}
	rep, err := job.Run(ctx, seedFrom, seedTo)
	require.NoError(t, err)
	assert.Equal(t, []string{"red_1h/20240301", "edges_1h/20240301", "red_service_1h/20240229", "red_service_1h/20240301",
		"red_1d/202402", "edges_1d/202402", "red_service_1d/202402"},
		partitionIDs(rep), "only partitions with source rows are rebuilt")
	for _, p := range rep.Partitions[4:6] {
		var feb28 uint64
		for k := range want[p.Table] {
			if strings.HasPrefix(k, "2024-02-28") {
				feb28++
			}
		}
		assert.NotZero(t, feb28)
		assert.Equal(t, feb28, p.Preserved, "%s keeps February 28", p.Table)
	}
	got := snapshot(t, s.db)
	for _, table := range []string{TableRED1h, TableRED1d, TableEdges1h, TableEdges1d} {
		assertSameAggs(t, want[table], got[table], table)
	}
	// The per-service tiers follow: February 28 stays in the day (from red_1d, which kept it)
	// and is gone from the hours with red_1h's partition, as retention would drop both.
	s.db.Exec(t, "ALTER TABLE "+s.db.Table(TableREDService1h)+" DROP PARTITION ID '20240228'")
	checkServiceTiers(t, s.db)
}

func TestJob_EmptyAndBadInput(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	ctx := testContext(t)
	_, err := Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)
	job := &Job{Conn: db.Conn, Database: db.Name}
	rep, err := job.RunRecent(ctx, 0)
	require.NoError(t, err)
	assert.Empty(t, rep.Partitions)

	_, err = job.Run(ctx, seedTo, seedFrom)
	assert.ErrorContains(t, err, "empty range")
	_, err = (&Job{Conn: db.Conn, Database: "no-such db"}).Run(ctx, seedFrom, seedTo)
	assert.ErrorContains(t, err, "database name")
	_, err = (&Job{Conn: db.Conn, Database: "weir_missing_db_for_rollup"}).Run(ctx, seedFrom, seedTo)
	assert.NoError(t, err, "no parts, nothing to do")
}

func TestJob_ConcurrentRunsSerialise(t *testing.T) {
	t.Parallel()
	s := seed(t)
	ctx := testContext(t)
	job := s.job()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = job.Run(ctx, seedFrom, seedTo) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	checkTiers(t, s.db, s.red, s.edges, s.now.Add(-DefaultGrace))
}

func TestPartitionRange(t *testing.T) {
	t.Parallel()
	f := func(id string, wantStart, wantEnd time.Time, wantOK bool) {
		t.Helper()
		start, end, ok := partitionRange(id, time.UTC)
		require.Equal(t, wantOK, ok, id)
		if ok {
			assert.Equal(t, wantStart, start, id)
			assert.Equal(t, wantEnd, end, id)
		}
	}
	d := func(y int, m time.Month, day int) time.Time { return time.Date(y, m, day, 0, 0, 0, 0, time.UTC) }
	f("20240229", d(2024, 2, 29), d(2024, 3, 1), true)
	f("20241231", d(2024, 12, 31), d(2025, 1, 1), true)
	f("202402", d(2024, 2, 1), d(2024, 3, 1), true)
	f("202412", d(2024, 12, 1), d(2025, 1, 1), true)
	f("20230229", time.Time{}, time.Time{}, false) // not a date
	f("202413", time.Time{}, time.Time{}, false)
	f("all", time.Time{}, time.Time{}, false)
	f("2024-03-05", time.Time{}, time.Time{}, false)
	f("", time.Time{}, time.Time{}, false)
}

// The usage of Job.RunRecent, run on the test server (an Example could not reach one): roll
// up the last two days and apply the default retention, as `weir rollup --retention` does.
func TestJob_RunRecentUsage(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	conn, database := db.Conn, db.Name
	ctx := testContext(t)
	_, err := Migrate(ctx, conn, database, 0)
	require.NoError(t, err)
	now := time.Date(2024, 3, 1, 12, 3, 0, 0, time.UTC)
	insertAt(t, db, TableRED1m, now.Add(-3*time.Hour), now.Add(-26*time.Hour), now.AddDate(0, 0, -40))
	var out strings.Builder

	job := &Job{Conn: conn, Database: database, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
	rep, err := job.RunRecent(ctx, 48*time.Hour)
	require.NoError(t, err)
	for _, p := range rep.Partitions {
		fmt.Fprintln(&out, p.Table, p.PartitionID, p.Rows)
	}
	dropped, err := ApplyRetention(ctx, conn, database, DefaultRetention(), now)
	require.NoError(t, err)
	fmt.Fprintln(&out, len(dropped), "partitions dropped")
	// The 26 and 3 hours old minutes make an hour each; the day of the first is closed, so
	// February's daily partition is rebuilt too. The 40 days old minute lies before the
	// lookback, but its hour and day had never been rolled up: they are now, before
	// retention drops the minute (past red_1m's 30 days). Each per-service tier follows its
	// source.
	assert.Equal(t, "red_1h 20240121 1\nred_1h 20240229 1\nred_1h 20240301 1\n"+
		"red_service_1h 20240121 1\nred_service_1h 20240229 1\nred_service_1h 20240301 1\n"+
		"red_1d 202401 1\nred_1d 202402 1\nred_service_1d 202401 1\nred_service_1d 202402 1\n"+
		"1 partitions dropped\n", out.String())
}

func TestJob_SeriesTiers(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	ctx := testContext(t)
	_, err := Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)
	h10 := time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)
	batch, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+db.Table(TableSeries1m)+
		" (Timestamp, ServiceName, MetricName, MetricType, SeriesHash, Count, Sum, Min, Max, Last, LastTimeUnixNano, BucketBounds, BucketCounts)")
	require.NoError(t, err)
	add := func(ts time.Time, count uint64, sum, min, max, last float64, lastAt time.Time, bounds []float64, counts []uint64) {
		require.NoError(t, batch.Append(ts, "svc", "queue.depth", uint8(1), uint64(42), count, sum, min, max, last, uint64(lastAt.UnixNano()), bounds, counts))
	}
	add(h10.Add(5*time.Minute), 2, 3, 1, 2, 2, h10.Add(5*time.Minute+30*time.Second), []float64{1, math.Inf(1)}, []uint64{1, 1})
	add(h10.Add(5*time.Minute), 1, 4, 4, 4, 4, h10.Add(5*time.Minute+10*time.Second), []float64{1, math.Inf(1)}, []uint64{0, 1})
	add(h10.Add(30*time.Minute), 1, 5, 5, 5, 5, h10.Add(30*time.Minute), []float64{1, 10, math.Inf(1)}, []uint64{0, 1, 0})
	add(h10.Add(70*time.Minute), 3, 0, -1, 9, 7, h10.Add(71*time.Minute), nil, nil)
	require.NoError(t, batch.Send())

	job := &Job{Conn: db.Conn, Database: db.Name, Now: func() time.Time { return h10.Add(72 * time.Hour) }}
	_, err = job.Run(ctx, h10.Add(-time.Hour), h10.Add(24*time.Hour))
	require.NoError(t, err)
	var count uint64
	var sum, min, max, last float64
	var bounds []float64
	var counts []uint64
	require.NoError(t, db.Conn.QueryRow(ctx, "SELECT Count, Sum, Min, Max, Last, BucketBounds, BucketCounts FROM "+db.Table(TableSeries1h)+
		" WHERE Timestamp = ?", h10).Scan(&count, &sum, &min, &max, &last, &bounds, &counts))
	assert.Equal(t, uint64(4), count)
	assert.Equal(t, 12.0, sum)
	assert.Equal(t, 1.0, min)
	assert.Equal(t, 5.0, max)
	assert.Equal(t, 5.0, last, "the value with the latest time")
	assert.Equal(t, []float64{1, 10, math.Inf(1)}, bounds)
	assert.Equal(t, []uint64{1, 1, 2}, counts)
	require.NoError(t, db.Conn.QueryRow(ctx, "SELECT Count, Min, Max, Last FROM "+db.Table(TableSeries1d)).Scan(&count, &min, &max, &last))
	assert.Equal(t, uint64(7), count)
	assert.Equal(t, -1.0, min)
	assert.Equal(t, 9.0, max)
	assert.Equal(t, 7.0, last)
	// Rerunning changes nothing.
	_, err = job.Run(ctx, h10.Add(-time.Hour), h10.Add(24*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, uint64(2), db.QueryUint64(t, "SELECT count() FROM "+db.Table(TableSeries1h)))
	assert.Equal(t, uint64(7), db.QueryUint64(t, "SELECT sum(Count) FROM "+db.Table(TableSeries1h)))
}

// After migration 9 the per-service tiers are empty while red_1h and red_1d hold history
// that red_1m no longer has. The next scheduled run fills them from that history, whatever
// its lookback, and a service's queries read them from then on.
func TestJob_FillsServiceTiersFromHistory(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	ctx := testContext(t)
	_, err := Migrate(ctx, db.Conn, db.Name, 8)
	require.NoError(t, err)
	now := time.Date(2024, 3, 1, 12, 3, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(5, 6))
	hours := genRows(rng, redSeries, now.AddDate(0, 0, -200), now.AddDate(0, 0, -200).Add(3*time.Hour))
	for i := range hours {
		hours[i].ts = hourOf(hours[i].ts)
	}
	days := genRows(rng, redSeries, now.AddDate(-3, 0, 0), now.AddDate(-3, 0, 0).Add(2*time.Minute))
	for i := range days {
		days[i].ts = dayOf(days[i].ts)
	}
	insertRows(t, db, TableRED1h, redFamily, hours)
	insertRows(t, db, TableRED1d, redFamily, days)

	_, err = Migrate(ctx, db.Conn, db.Name, 9)
	require.NoError(t, err)
	job := &Job{Conn: db.Conn, Database: db.Name, Now: func() time.Time { return now }}
	rep, err := job.RunRecent(ctx, 0)
	require.NoError(t, err)
	old := now.AddDate(0, 0, -200)
	assert.Equal(t, []string{"red_service_1h/" + old.Format("20060102"), "red_1d/" + old.Format("200601"),
		"red_service_1d/" + now.AddDate(-3, 0, 0).Format("200601"), "red_service_1d/" + old.Format("200601")},
		partitionIDs(rep), "the per-service tiers, and the day of the seeded hours, which red_1d lacked too")
	checkServiceTiers(t, db)

	res, err := (&Querier{Conn: db.Conn, Database: db.Name}).Query(ctx, Query{Signal: SignalRED,
		From: now.AddDate(0, 0, -201), To: now, Step: time.Hour, GroupBy: []string{GroupService}})
	require.NoError(t, err)
	assert.Equal(t, []string{TableREDService1h, TableRED1m}, res.Plan.Tables())
	want := seedTotals(hours, now.AddDate(0, 0, -201), now, func(r tierRow) bool { return r.series[3] == uint8(2) }, nil)
	assert.Equal(t, want, sumRows(res.Rows))

	// A second run has nothing left to fill.
	rep, err = job.RunRecent(ctx, 0)
	require.NoError(t, err)
	assert.Empty(t, rep.Partitions)
}

// A staging table has its tier's settings: the per-service tiers have 256 rows a mark, and a
// part written at 8192 and swapped in lost every row past its first 256 to readers (18.16
// keeps no granularity in a part). 12 services make 288 rows in a day of red_service_1h.
func TestJob_ServiceTierPartitionsOver256Rows(t *testing.T) {
	t.Parallel()
	db := migratedDB(t)
	ctx := testContext(t)
	day := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	var hours []tierRow
	var requests uint64
	for s := range 12 {
		for h := range 24 {
			r := tierRow{ts: day.Add(time.Duration(h) * time.Hour), series: []any{fmt.Sprintf("svc-%02d", s), "GET /", uint8(2), uint8(0), []string{}, []string{}},
				count: uint64(1 + s + h), durSum: 1e6, idx: []int32{600}, counts: []uint64{uint64(1 + s + h)}}
			requests += r.count
			hours = append(hours, r)
		}
	}
	insertRows(t, db, TableRED1h, redFamily, hours)
	job := &Job{Conn: db.Conn, Database: db.Name, Now: func() time.Time { return day.Add(25 * time.Hour) }}
	_, err := job.Run(ctx, day, day.Add(24*time.Hour))
	require.NoError(t, err)
	table := db.Table(TableREDService1h)
	assert.Equal(t, uint64(12*24), db.QueryUint64(t, "SELECT count() FROM "+table), "every row is read")
	assert.Equal(t, requests, db.QueryUint64(t, "SELECT sum(Requests) FROM "+table))
	assert.Equal(t, uint64(12), db.QueryUint64(t, "SELECT uniqExact(ServiceName) FROM "+table))

	// A partition swapped in as weir did before: written at 8192 rows a mark. The next run
	// rebuilds it, though its range is another day.
	db.Exec(t, "CREATE TABLE "+table+"_old AS "+table+" ENGINE = MergeTree PARTITION BY toDate(Timestamp) ORDER BY (ServiceName, Timestamp)")
	db.Exec(t, "INSERT INTO "+table+"_old SELECT * FROM "+table)
	db.Exec(t, "ALTER TABLE "+table+" REPLACE PARTITION ID '20240301' FROM "+table+"_old")
	require.Equal(t, uint64(256), db.QueryUint64(t, "SELECT count() FROM "+table), "the old way loses rows")
	rep, err := job.Run(ctx, day.Add(-48*time.Hour), day.Add(-24*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, []string{"red_service_1h/20240301"}, partitionIDs(rep))
	assert.Equal(t, uint64(12*24), db.QueryUint64(t, "SELECT count() FROM "+table), "rebuilt")
	assert.Equal(t, requests, db.QueryUint64(t, "SELECT sum(Requests) FROM "+table))
}
