package rollup

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/model"
)

// panelAt is a Panel over [from, to) at interval, its macros expanded the way Grafana's
// ClickHouse data source expands $__fromTime, $__toTime and $__interval_s.
func panelAt(database string, from, to time.Time, interval time.Duration) Panel {
	return Panel{From: sqlTime(from), To: sqlTime(to), Interval: strconv.Itoa(max(int(interval/time.Second), 1)), Database: database}
}

// holdSpan makes table hold [from, to) as far as system.parts can tell: one row in its first
// window and one in its last.
func holdSpan(t *testing.T, db *chtest.DB, table string, w time.Duration, from, to time.Time) {
	t.Helper()
	db.Exec(t, "INSERT INTO "+db.Table(table)+" (Timestamp) SELECT arrayJoin(["+sqlTime(from)+", "+sqlTime(to.Add(-w))+"])")
}

// windowsOfReads lists, per table, the window starts (epoch seconds) that reads cover: the
// rows they read, since every tier keys its rows by window start.
func windowsOfReads(tiers []queryTier, reads []Read) map[string][]int64 {
	out := map[string][]int64{}
	for _, r := range reads {
		i := slices.IndexFunc(tiers, func(q queryTier) bool { return q.table == r.Table })
		w := tiers[i].window
		for s := ceilTime(r.From, w); s.Before(r.To); s = s.Add(w) {
			out[r.Table] = append(out[r.Table], s.Unix())
		}
	}
	return out
}

// windowsOfPanel runs each tier's condition over every window start of that tier that lies
// in [from, to) or begins before from, and lists the ones it picks.
func windowsOfPanel(t *testing.T, db *chtest.DB, tiers []queryTier, reads []PanelRead, from, to time.Time) map[string][]int64 {
	t.Helper()
	require.Len(t, reads, len(tiers))
	var parts []string
	for i, r := range reads {
		require.Equal(t, tiers[i].table, r.Table, "finest first")
		w := int64(tiers[i].window / time.Second)
		lo := floorTime(from, tiers[i].window).Unix()
		n := (to.Unix()-lo+w-1)/w + 1
		parts = append(parts, "SELECT '"+r.Table+"' AS tier, groupArray(toInt64(toUInt32(Timestamp))) AS windows FROM ("+
			"SELECT toDateTime("+strconv.FormatInt(lo, 10)+" + number * "+strconv.FormatInt(w, 10)+") AS Timestamp "+
			"FROM numbers("+strconv.FormatInt(n, 10)+"))\nWHERE "+r.Where)
	}
	rows, err := db.Conn.Query(testContext(t), strings.Join(parts, "\nUNION ALL\n"))
	require.NoError(t, err)
	defer rows.Close()
	out := map[string][]int64{}
	for rows.Next() {
		var tier string
		var windows []int64
		require.NoError(t, rows.Scan(&tier, &windows))
		if len(windows) > 0 {
			slices.Sort(windows)
			out[tier] = windows
		}
	}
	require.NoError(t, rows.Err())
	return out
}

func TestPanelTiers_PickWhatPlanQueryPicks(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	d0 := time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC) // a Monday
	at := func(d time.Duration) time.Time { return d0.Add(d) }

	// What the coarse tiers hold: the 1h and 1d tiers lag behind the 1m tier, as the rollup
	// job leaves them; each signal differently, so that a plan reading another signal's
	// tiers would show.
	rolled := chtest.New(t)
	_, err := Migrate(testContext(t), rolled.Conn, rolled.Name, 0)
	require.NoError(t, err)
	for _, s := range []struct {
		table    string
		w        time.Duration
		from, to time.Time
	}{
		{TableRED1h, time.Hour, at(0), at(58 * time.Hour)},
		{TableRED1d, day, at(0), at(2 * day)},
		{TableEdges1h, time.Hour, at(day), at(58 * time.Hour)}, // the oldest hours dropped, the days kept
		{TableEdges1d, day, at(-2 * day), at(2 * day)},
		{TableSeries1h, time.Hour, at(5 * time.Hour), at(40 * time.Hour)}, // no days rolled up
		// The per-service tiers hold less than the per-operation ones they are built from:
		// the rollup job has not filled their history yet.
		{TableREDService1h, time.Hour, at(20 * time.Hour), at(50 * time.Hour)},
		{TableREDService1d, day, at(day), at(2 * day)},
	} {
		holdSpan(t, rolled, s.table, s.w, s.from, s.to)
	}
	empty := chtest.New(t)
	_, err = Migrate(testContext(t), empty.Conn, empty.Name, 0)
	require.NoError(t, err)

	type tc struct {
		name     string
		from, to time.Time
		interval time.Duration
		step     time.Duration // the step Panel.Step makes of interval
	}
	cases := []tc{
		{"three days at 1d", at(0), at(3 * day), day, day},
		{"three days at 1h", at(0), at(3 * day), time.Hour, time.Hour},
		{"off-hour range at 1h", at(5*time.Hour + 17*time.Minute), at(68*time.Hour + 3*time.Minute), time.Hour, time.Hour},
		{"six hours at 2m", at(54 * time.Hour), at(60 * time.Hour), 2 * time.Minute, 2 * time.Minute},
		{"wider than the data at 1d", at(-day), at(4 * day), day, day},
		{"off-minute start, ending inside the hours, at 1d", at(5*time.Hour + 30*time.Second), at(57*time.Hour + 30*time.Minute), day, day},
		{"inside the hour tier at 2h", at(5*time.Hour + 17*time.Minute), at(40*time.Hour + 30*time.Minute), 2 * time.Hour, 2 * time.Hour},
		{"sub-minute interval", at(57*time.Hour + 30*time.Minute), at(58*time.Hour + 30*time.Minute), 15 * time.Second, time.Minute},
		{"90s rounds up to 2m", at(30 * time.Minute), at(50 * time.Hour), 90 * time.Second, 2 * time.Minute},
		{"no whole hour at 1h", at(12 * time.Hour), at(12*time.Hour + 15*time.Minute), time.Hour, time.Hour},
		{"90m is not whole hours", at(-3 * day), at(3 * day), 90 * time.Minute, 90 * time.Minute},
		{"ten days at 7d", at(-7 * day), at(3 * day), 7 * day, 7 * day},
		{"before every tier at 1d", at(-10 * day), at(-9 * day), day, day},
	}
	chains := []struct {
		name  string
		sig   Signal
		tiers []queryTier
	}{
		{"red", SignalRED, signals[SignalRED].tiers},
		{"red by service", SignalRED, signals[SignalRED].byService},
		{"edges", SignalEdges, signals[SignalEdges].tiers},
		{"series", SignalSeries, signals[SignalSeries].tiers},
	}
	for _, db := range []*chtest.DB{rolled, empty} {
		querier := &Querier{Conn: db.Conn, Database: db.Name}
		for _, chain := range chains {
			avail, err := querier.Availability(testContext(t), chain.sig)
			require.NoError(t, err)
			tiers := chain.tiers
			for _, c := range cases {
				name := chain.name + "/" + c.name
				if db == empty {
					name = chain.name + "/nothing rolled up/" + c.name
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					p := panelAt(db.Name, c.from, c.to, c.interval)
					assert.Equal(t, uint64(c.step/time.Second), db.QueryUint64(t, "SELECT "+p.Step()), "step")

					want := windowsOfReads(tiers, planReads(tiers, c.from, c.to, c.step, avail))
					reads, err := panelTiers(tiers, p)
					require.NoError(t, err)
					assert.Equal(t, want, windowsOfPanel(t, db, tiers, reads, c.from, c.to))
				})
			}
		}
	}

	// The cases do stitch tiers: three days at 1d read days, then hours, then minutes.
	avail, err := (&Querier{Conn: rolled.Conn, Database: rolled.Name}).Availability(testContext(t), SignalRED)
	require.NoError(t, err)
	p, err := PlanQuery("weir", Query{Signal: SignalRED, From: at(0), To: at(3 * day), Step: day}, avail)
	require.NoError(t, err)
	assert.Equal(t, []string{TableRED1d, TableRED1h, TableRED1m}, p.Tables())
	// By service, at 1h: the per-service hours where they are, per-operation hours around them.
	p, err = PlanQuery("weir", Query{Signal: SignalRED, From: at(0), To: at(3 * day), Step: time.Hour, GroupBy: []string{GroupService}}, avail)
	require.NoError(t, err)
	assert.Equal(t, "red_1h [2024-03-04T00:00:00Z, 2024-03-04T20:00:00Z) + red_service_1h [2024-03-04T20:00:00Z, 2024-03-06T02:00:00Z) + "+
		"red_1h [2024-03-06T02:00:00Z, 2024-03-06T10:00:00Z) + red_1m [2024-03-06T10:00:00Z, 2024-03-07T00:00:00Z)", p.String())
}

func TestPanelTiers_EveryTierHasAWindowFunction(t *testing.T) {
	t.Parallel()
	for sig, st := range signals {
		assert.Equal(t, stepUnit, st.tiers[0].window, "%s: a step is whole windows of the finest tier", sig)
		for _, tier := range st.tiers {
			assert.NotPanics(t, func() { windowSQL(tier.window) }, tier.table)
		}
		_, err := PanelTiers(sig, Panel{From: "$__fromTime", To: "$__toTime", Interval: "$__interval_s", Database: "${database:raw}"})
		assert.NoError(t, err, sig)
	}
}

func TestPanelSQL_RejectsBadQueries(t *testing.T) {
	t.Parallel()
	ok := Panel{From: "$__fromTime", To: "$__toTime", Interval: "$__interval_s", Database: "${database:raw}"}
	for _, tc := range []struct {
		name string
		q    PanelQuery
		p    Panel
		want string
	}{
		{"unknown signal", PanelQuery{Signal: 9}, ok, "unknown signal"},
		{"series has no requests", PanelQuery{Signal: SignalSeries}, ok, "no requests"},
		{"unknown filter", PanelQuery{Signal: SignalRED, In: map[string]string{"ServiceName": "'a'"}}, ok, `cannot filter red by "ServiceName"`},
		{"edge filter on RED", PanelQuery{Signal: SignalRED, In: map[string]string{GroupClient: "'a'"}}, ok, "cannot filter red"},
		{"unknown group", PanelQuery{Signal: SignalEdges, GroupBy: []string{GroupService}}, ok, "cannot group edges"},
		{"no range", PanelQuery{Signal: SignalRED}, Panel{Interval: "60", Database: "weir"}, "From is empty"},
		{"quote in database", PanelQuery{Signal: SignalRED}, Panel{From: "a", To: "b", Interval: "60", Database: "x' OR 1"}, "string literal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := PanelSQL(tc.q, tc.p)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestPanelSQL_Text(t *testing.T) {
	t.Parallel()
	p := Panel{From: "$__fromTime", To: "$__toTime", Interval: "$__interval_s", Database: "${database:raw}"}
	sql, err := PanelSQL(PanelQuery{Signal: SignalRED, In: map[string]string{
		GroupSpanName: "${operation:singlequote}", GroupService: "${service:singlequote}",
	}, GroupBy: []string{GroupService}}, p)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(sql, "SELECT bucket, service, '' AS span_name, toUInt8(0) AS span_kind,\n"), sql)
	assert.Contains(t, sql, "\n    SELECT toDateTime(intDiv(toUInt32(Timestamp), greatest(60, intDiv($__interval_s + 59, 60) * 60)) * greatest(60, intDiv($__interval_s + 59, 60) * 60)) AS bucket, ServiceName AS service,\n")
	reads, err := PanelTiers(SignalRED, p)
	require.NoError(t, err)
	for _, r := range reads {
		assert.Contains(t, sql, "\n    FROM ${database:raw}."+r.Table+"\n    WHERE "+r.Where+" AND ServiceName IN (${service:singlequote}) AND SpanName IN (${operation:singlequote})")
	}
	assert.Equal(t, 2, strings.Count(sql, "UNION ALL"), "filtered by span name: the per-operation tiers")
	assert.NotContains(t, sql, "toStartOfInterval")
	assert.NotContains(t, sql, "?")
	assert.True(t, strings.HasSuffix(sql, "\nGROUP BY bucket, service\nORDER BY bucket, service"), sql)

	// Not filtered by span name: the per-service tiers, each after the per-operation tier of
	// its window, which serves what the per-service one does not hold.
	sql, err = PanelSQL(PanelQuery{Signal: SignalRED, In: map[string]string{GroupService: "${service:singlequote}"},
		GroupBy: []string{GroupService}, Quantiles: []float64{0.99}}, p)
	require.NoError(t, err)
	reads, err = panelTiers(signals[SignalRED].byService, p)
	require.NoError(t, err)
	var tables []string
	for _, r := range reads {
		assert.Contains(t, sql, "\n    FROM ${database:raw}."+r.Table+"\n    WHERE "+r.Where+" AND ServiceName IN (${service:singlequote})")
		tables = append(tables, r.Table)
	}
	assert.Equal(t, []string{TableRED1m, TableRED1h, TableREDService1h, TableRED1d, TableREDService1d}, tables)
	assert.Contains(t, sql, " AS quantile_0\nFROM (")
	assert.NotContains(t, sql, "bucket_counts")
}

func TestQuantileSQL_IsDistributionQuantile(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	rng := rand.New(rand.NewPCG(7, 8))
	dists := []model.Distribution{
		{},
		{ZeroCount: 3},
		{ZeroCount: 1, Indexes: []int32{10}, Counts: []uint64{1}},
		{ZeroCount: 50, Indexes: []int32{-1, 600}, Counts: []uint64{45, 5}},
		// 100 values: ceil(0.95*100) is 96 in float64 arithmetic, in Go as in ClickHouse.
		{Indexes: []int32{500, 501}, Counts: []uint64{95, 5}},
	}
	for range 20 {
		var d model.Distribution
		d.ZeroCount = uint64(rng.IntN(3))
		for i := int32(rng.IntN(50)); len(d.Indexes) < 1+rng.IntN(30); i += 1 + int32(rng.IntN(40)) {
			d.Indexes = append(d.Indexes, i+500)
			d.Counts = append(d.Counts, uint64(1+rng.IntN(20)))
		}
		dists = append(dists, d)
	}
	for i := range dists {
		dists[i].Downscale = queryDownscale
	}
	qs := []float64{0, 0.01, 0.25, 0.5, 0.95, 0.99, 1, -1, 2, math.NaN()}
	for i, d := range dists {
		offset, counts := denseOf(d)
		cols := make([]string, len(qs))
		for k, q := range qs {
			cols[k] = QuantileSQL(q, "q"+strconv.Itoa(k), "zc", "bo", "bc")
		}
		sql := "SELECT " + strings.Join(cols, ", ") + " FROM (" + denseRowSQL(d.ZeroCount, offset, counts) + ")"
		got := make([]float64, len(qs))
		dest := make([]any, len(qs))
		for k := range got {
			dest[k] = &got[k]
		}
		require.NoError(t, db.Conn.QueryRow(testContext(t), sql).Scan(dest...), sql)
		for k, q := range qs {
			want := d.Quantile(q)
			if math.IsNaN(want) {
				assert.True(t, math.IsNaN(got[k]), "distribution %d, q %v: got %v, want NaN", i, q, got[k])
				continue
			}
			assert.InEpsilon(t, want+1, got[k]+1, 1e-12, "distribution %d, q %v", i, q)
		}
	}

	// MergeLatencySQL merges rows whose buckets start at different offsets as Merge does.
	var rows []string
	var merged model.Distribution
	for _, d := range dists[5:] {
		offset, counts := denseOf(d)
		rows = append(rows, denseRowSQL(d.ZeroCount, offset, counts))
		merged.Merge(d)
	}
	var got float64
	var gotCounts []uint64
	require.NoError(t, db.Conn.QueryRow(testContext(t), "SELECT "+QuantileSQL(0.95, "p95", "sum(zc)", strconv.Itoa(LatencyOrigin), MergeLatencySQL("bo", "bc"))+
		", "+MergeLatencySQL("bo", "bc")+" FROM ("+strings.Join(rows, " UNION ALL ")+")").Scan(&got, &gotCounts))
	assert.Equal(t, merged.Quantile(0.95), got)
	assert.Equal(t, merged, denseDistribution(merged.ZeroCount, LatencyOrigin, gotCounts), "dense counts from LatencyOrigin")
}

// denseOf is d's buckets as dense counts from its lowest bucket.
func denseOf(d model.Distribution) (int32, []uint64) {
	if len(d.Indexes) == 0 {
		return 0, nil
	}
	offset := slices.Min(d.Indexes)
	counts := make([]uint64, slices.Max(d.Indexes)-offset+1)
	for k, i := range d.Indexes {
		counts[i-offset] += d.Counts[k]
	}
	return offset, counts
}

// denseRowSQL is a one-row SELECT of a distribution in the columns zc, bo and bc.
func denseRowSQL(zero uint64, offset int32, counts []uint64) string {
	bc := "emptyArrayUInt64()"
	if len(counts) > 0 {
		s := make([]string, len(counts))
		for i, v := range counts {
			s[i] = "toUInt64(" + strconv.FormatUint(v, 10) + ")"
		}
		bc = "[" + strings.Join(s, ", ") + "]"
	}
	return "SELECT toUInt64(" + strconv.FormatUint(zero, 10) + ") AS zc, toInt32(" + strconv.Itoa(int(offset)) + ") AS bo, " + bc + " AS bc"
}

// The RED query of a Grafana panel: Grafana's ClickHouse data source fills in the range and
// interval, and the server picks the tiers when the query runs. A query per service reads
// the per-service tiers, and the per-operation ones where those do not hold a window yet.
func ExamplePanelSQL() {
	p := Panel{From: "$__fromTime", To: "$__toTime", Interval: "$__interval_s", Database: "${database:raw}"}
	sql, err := PanelSQL(PanelQuery{
		Signal:  SignalRED,
		In:      map[string]string{GroupService: "${service:singlequote}"},
		GroupBy: []string{GroupService},
	}, p)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Step())
	for _, line := range strings.Split(sql, "\n") {
		if strings.HasPrefix(line, "    FROM ") {
			fmt.Println(strings.TrimSpace(line))
		}
	}
	// Output:
	// greatest(60, intDiv($__interval_s + 59, 60) * 60)
	// FROM ${database:raw}.red_1m
	// FROM ${database:raw}.red_1h
	// FROM ${database:raw}.red_service_1h
	// FROM ${database:raw}.red_1d
	// FROM ${database:raw}.red_service_1d
}

// The 99th percentile of the latency distributions of a RED query's rows, merged per service.
func ExampleQuantileSQL() {
	fmt.Println("SELECT service, " + QuantileSQL(0.99, "p99", "zc", strconv.Itoa(LatencyOrigin), "bc") + " AS p99\n" +
		"FROM (SELECT service, sum(zero_count) AS zc, " + MergeLatencySQL("bucket_offset", "bucket_counts") + " AS bc FROM ... GROUP BY service)")
	// Output:
	// SELECT service, if((zc + arraySum(bc) AS p99_n) = 0, nan, if(zc >= (greatest(1, toUInt64(ceil(0.99 * p99_n))) AS p99_rank), 0, exp2((-1 + arrayFirstIndex(c -> c + zc >= p99_rank, arrayCumSum(bc)) - 0.5) / 32))) AS p99
	// FROM (SELECT service, sum(zero_count) AS zc, sumForEach(arrayConcat(arrayResize(emptyArrayUInt64(), toUInt32(bucket_offset + 1)), bucket_counts)) AS bc FROM ... GROUP BY service)
}
