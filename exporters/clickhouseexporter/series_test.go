package clickhouseexporter

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/rollup"
)

// seriesBase is a minute boundary; test points fall into it and the next minute.
var seriesBase = time.Unix(1_790_000_000/60*60, 0)

// at is seriesBase + sec seconds + ns nanoseconds, as a point time.
func at(sec, ns int) pcommon.Timestamp {
	return pcommon.NewTimestampFromTime(seriesBase.Add(time.Duration(sec)*time.Second + time.Duration(ns)))
}

// seriesBatch is a batch of every metric type, temporality and a few odd cases, spread over
// two minutes. Batches with a different batch number hold the same series with other
// values and times, so two of them write rows for the same series and minutes.
func seriesBatch(batch int) pmetric.Metrics {
	k := float64(batch)
	ns := batch // distinct times across batches, so "last" is never a tie
	md := pmetric.NewMetrics()

	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "svc-a")
	rm.Resource().Attributes().PutStr("host.name", "h1")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("scope-1")
	ms := sm.Metrics()

	g := ms.AppendEmpty()
	g.SetName("g.temp")
	g.SetUnit("Cel")
	gp := g.SetEmptyGauge().DataPoints()
	for i, v := range []int64{3, 7, 5} {
		p := gp.AppendEmpty()
		p.SetTimestamp(at(10*i+35*(i/2), ns)) // 0s, 10s, 55s... the third in minute 0 too
		p.SetIntValue(v + int64(batch))
		// The same attributes in either order are one series.
		if i%2 == 0 {
			p.Attributes().PutStr("zone", "a")
			p.Attributes().PutStr("rack", "r1")
		} else {
			p.Attributes().PutStr("rack", "r1")
			p.Attributes().PutStr("zone", "a")
		}
	}
	for i, v := range []float64{1.5, -2.5} {
		p := gp.AppendEmpty()
		p.SetTimestamp(at(61+i, ns))
		p.SetDoubleValue(v * k)
		p.Attributes().PutStr("zone", "b")
	}
	p := gp.AppendEmpty() // no recorded value: stored raw, no value for the series
	p.SetTimestamp(at(62, ns))
	p.SetDoubleValue(1000)
	p.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	p.Attributes().PutStr("zone", "b")

	s := ms.AppendEmpty()
	s.SetName("s.req")
	ds := s.SetEmptySum()
	ds.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	ds.SetIsMonotonic(true)
	for i, v := range []int64{1, 2, 3, 4} {
		p := ds.DataPoints().AppendEmpty()
		p.SetTimestamp(at(5+30*i, ns))
		p.SetIntValue(v * int64(batch))
		p.Attributes().PutStr("route", []string{"/a", "/b"}[i%2])
	}
	c := ms.AppendEmpty()
	c.SetName("s.total")
	cs := c.SetEmptySum()
	cs.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	cs.SetIsMonotonic(true)
	for i, v := range []float64{10, 20} {
		p := cs.DataPoints().AppendEmpty()
		p.SetTimestamp(at(20+20*i, ns))
		p.SetDoubleValue(v * k)
	}

	h := ms.AppendEmpty()
	h.SetName("h.lat")
	h.SetUnit("ms")
	dh := h.SetEmptyHistogram()
	dh.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	for i, l := range []struct {
		bounds []float64
		counts []uint64
	}{
		{[]float64{1, 5, 10}, []uint64{1, 2, 3, 4}},
		{[]float64{1, 5, 10}, []uint64{0, 1, 0, 1}},
		{[]float64{2, 5}, []uint64{1, 1, 1}}, // another layout
		{[]float64{1, 5, 10}, []uint64{5, 0, 0, 0}},
	} {
		p := dh.DataPoints().AppendEmpty()
		p.SetTimestamp(at(7*i+20*(i/3)+batch, ns)) // three in minute 0, the last one at 41s+
		p.ExplicitBounds().FromRaw(l.bounds)
		p.BucketCounts().FromRaw(l.counts)
		var n uint64
		for _, c := range l.counts {
			n += c
		}
		p.SetCount(n)
		p.SetSum(float64(10*i) + k)
		if i != 1 {
			p.SetMin(0.5 * float64(i+batch))
			p.SetMax(20 + float64(i+batch))
		}
	}
	ch := ms.AppendEmpty()
	ch.SetName("h.cum")
	cum := ch.SetEmptyHistogram()
	cum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hp := cum.DataPoints().AppendEmpty()
	hp.SetTimestamp(at(30, ns))
	hp.ExplicitBounds().FromRaw([]float64{1})
	hp.BucketCounts().FromRaw([]uint64{4, 5})
	hp.SetCount(9)
	hp.SetSum(99 * k)

	e := ms.AppendEmpty()
	e.SetName("e.lat")
	eh := e.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	for i := 0; i < 2; i++ {
		p := eh.DataPoints().AppendEmpty()
		p.SetTimestamp(at(15+15*i, ns))
		p.SetScale(3)
		p.Positive().BucketCounts().FromRaw([]uint64{1, 2})
		p.SetCount(3)
		p.SetSum(4.25 * k)
		if i == 0 {
			p.SetMin(0.25)
			p.SetMax(3 * k)
		}
	}

	q := ms.AppendEmpty()
	q.SetName("q.sum")
	qp := q.SetEmptySummary().DataPoints().AppendEmpty()
	qp.SetTimestamp(at(50, ns))
	qp.SetCount(4)
	qp.SetSum(40 * k)
	for _, qv := range [][2]float64{{0, 1}, {0.5, 9 * k}, {1, 20 * k}} {
		v := qp.QuantileValues().AppendEmpty()
		v.SetQuantile(qv[0])
		v.SetValue(qv[1])
	}

	// Another service with a metric of the same name: other series.
	rb := md.ResourceMetrics().AppendEmpty()
	rb.Resource().Attributes().PutStr("service.name", "svc-b")
	sb := rb.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	sb.SetName("s.req")
	sbs := sb.SetEmptySum()
	sbs.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	bp := sbs.DataPoints().AppendEmpty()
	bp.SetTimestamp(at(3, ns))
	bp.SetDoubleValue(0.5 * k)
	bp.Attributes().PutStr("route", "/a")

	// weir_red's scope goes to red_1m only, never to the series.
	red := rb.ScopeMetrics().AppendEmpty()
	red.Scope().SetName(model.REDScope)
	rp := red.Metrics().AppendEmpty()
	rp.SetName(model.REDMetric)
	rh := rp.SetEmptyExponentialHistogram()
	rh.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	rdp := rh.DataPoints().AppendEmpty()
	rdp.SetStartTimestamp(at(0, 0))
	rdp.SetTimestamp(at(60, 0))
	rdp.SetCount(1)
	rdp.Attributes().PutStr("span.name", "GET /")
	return md
}

// seriesAgg is series_1m (or the raw points) aggregated per series, minute and type.
type seriesAgg struct {
	Hash     uint64
	Window   uint32
	Type     uint8
	Count    uint64
	Sum      float64
	Min, Max float64
	Last     float64
	LastTime uint64
	Bounds   []float64
	Buckets  []uint64
}

func querySeriesAggs(t *testing.T, db *chtest.DB, query string) []seriesAgg {
	t.Helper()
	rows, err := db.Conn.Query(context.Background(), query)
	require.NoError(t, err, query)
	defer rows.Close()
	var out []seriesAgg
	for rows.Next() {
		var a seriesAgg
		require.NoError(t, rows.Scan(&a.Hash, &a.Window, &a.Type, &a.Count, &a.Sum, &a.Min, &a.Max, &a.Last, &a.LastTime, &a.Bounds, &a.Buckets))
		out = append(out, a)
	}
	require.NoError(t, rows.Err())
	return out
}

// storedSeries reads series_1m as a reader would: every row of a key aggregated.
func storedSeries(t *testing.T, db *chtest.DB) []seriesAgg {
	return querySeriesAggs(t, db, `SELECT SeriesHash, toUInt32(Timestamp) AS w, MetricType, sum(Count), sum(Sum),
		min(Min), max(Max), argMax(Last, LastTimeUnixNano), max(LastTimeUnixNano),
		(sumMap(BucketBounds, BucketCounts) AS m).1, m.2
		FROM `+db.Table(rollup.TableSeries1m)+` GROUP BY SeriesHash, w, MetricType ORDER BY SeriesHash, w, MetricType`)
}

// seriesFromRaw computes the same aggregation in SQL from the raw metric tables, by the
// rules documented in series.go.
func seriesFromRaw(t *testing.T, db *chtest.DB) []seriesAgg {
	const (
		w     = "toUInt32(intDiv(toUInt32(Timestamp), 60) * 60) AS w"
		v     = "if(ValueType = 1, toFloat64(IntValue), DoubleValue)"
		delta = "AggregationTemporality = 1"
		none  = "emptyArrayFloat64(), emptyArrayUInt64()"
		where = " WHERE bitAnd(Flags, 1) = 0 GROUP BY SeriesHash, w"
	)
	minMax := "if(countIf(HasMin = 1) > 0, minIf(Min, HasMin = 1), inf), if(countIf(HasMax = 1) > 0, maxIf(Max, HasMax = 1), -inf)"
	lastSum := "argMax(if(HasSum = 1, Sum, 0), TimeUnixNano), max(TimeUnixNano)"
	sumDelta := "sumIf(Sum, HasSum = 1 AND " + delta + ")"
	q := strings.Join([]string{
		"SELECT SeriesHash, " + w + ", toUInt8(1), count(), sum(" + v + "), min(" + v + "), max(" + v + "), argMax(" + v + ", TimeUnixNano), max(TimeUnixNano), " + none +
			" FROM " + db.Table(rollup.TableMetricsGauge) + where,
		"SELECT SeriesHash, " + w + ", toUInt8(2), count(), sumIf(" + v + ", " + delta + "), min(" + v + "), max(" + v + "), argMax(" + v + ", TimeUnixNano), max(TimeUnixNano), " + none +
			" FROM " + db.Table(rollup.TableMetricsSum) + where,
		"SELECT SeriesHash, " + w + ", toUInt8(3), count(), " + sumDelta + ", " + minMax + ", " + lastSum +
			", (sumMapIf(arrayPushBack(ExplicitBounds, inf), BucketCounts, " + delta + ") AS m).1, m.2" +
			" FROM " + db.Table(rollup.TableMetricsHistogram) + where,
		"SELECT SeriesHash, " + w + ", toUInt8(4), count(), " + sumDelta + ", " + minMax + ", " + lastSum + ", " + none +
			" FROM " + db.Table(rollup.TableMetricsExponentialHistogram) + where,
		"SELECT SeriesHash, " + w + ", toUInt8(5), count(), toFloat64(0), " +
			"min(Quantiles.Value[indexOf(Quantiles.Quantile, 0.)]), max(Quantiles.Value[indexOf(Quantiles.Quantile, 1.)]), " +
			"argMax(Sum, TimeUnixNano), max(TimeUnixNano), " + none +
			" FROM " + db.Table(rollup.TableMetricsSummary) + where,
	}, " UNION ALL ")
	out := querySeriesAggs(t, db, q)
	slices.SortFunc(out, func(a, b seriesAgg) int {
		return compareRefs(seriesRef{hash: a.Hash, key: refKey(int64(a.Window), pmetric.MetricType(a.Type))},
			seriesRef{hash: b.Hash, key: refKey(int64(b.Window), pmetric.MetricType(b.Type))})
	})
	return out
}

// rawRows counts the rows of every raw metric table and red_1m.
func rawRows(t *testing.T, db *chtest.DB) map[string]uint64 {
	out := map[string]uint64{}
	for _, table := range []string{rollup.TableMetricsGauge, rollup.TableMetricsSum, rollup.TableMetricsHistogram,
		rollup.TableMetricsExponentialHistogram, rollup.TableMetricsSummary, rollup.TableRED1m} {
		out[table] = db.QueryUint64(t, "SELECT count() FROM "+db.Table(table))
	}
	return out
}

// requireSeriesMatchRaw checks series_1m against the raw points it was made from.
func requireSeriesMatchRaw(t *testing.T, db *chtest.DB) []seriesAgg {
	t.Helper()
	got := storedSeries(t, db)
	require.NotEmpty(t, got)
	assert.Equal(t, seriesFromRaw(t, db), got)
	return got
}

func TestSeries_EqualsAggregationOfRawPoints(t *testing.T) {
	t.Parallel()
	e, db, tel := startExporter(t, nil)
	ctx := context.Background()
	require.NoError(t, e.pushMetrics(ctx, seriesBatch(1)))
	require.NoError(t, e.pushMetrics(ctx, seriesBatch(2)))
	got := requireSeriesMatchRaw(t, db)

	// The same minute from two batches is two rows that readers aggregate.
	assert.Equal(t, 2*uint64(len(got)), db.QueryUint64(t, "SELECT count() FROM "+db.Table(rollup.TableSeries1m)))
	assert.Equal(t, int64(2*len(got)), counterSum(t, tel, "weir_clickhouse_rows_written")-int64(sumRaw(rawRows(t, db))))

	// A few values by hand, so the comparison above is not between two wrong answers.
	one := func(expr, where string) string {
		return db.QueryString(t, "SELECT toString("+expr+") FROM "+db.Table(rollup.TableSeries1m)+" WHERE "+where)
	}
	// Delta sums: 1·k+2·k+3·k+4·k for k = 1, 2; svc-b's series is apart.
	assert.Equal(t, "30", one("sum(Sum)", "ServiceName = 'svc-a' AND MetricName = 's.req'"))
	assert.Equal(t, "1.5", one("sum(Sum)", "ServiceName = 'svc-b' AND MetricName = 's.req'"))
	// Cumulative sums count points and keep the last value, but add nothing to Sum.
	assert.Equal(t, "4 0 40", one("concat(toString(sum(Count)), ' ', toString(sum(Sum)), ' ', toString(argMax(Last, LastTimeUnixNano)))", "MetricName = 's.total'"))
	// The attribute order did not split the gauge series: 3 points a batch in minute 0.
	assert.Equal(t, "1 6", one("concat(toString(uniqExact(SeriesHash)), ' ', toString(sum(Count)))", "MetricName = 'g.temp' AND has(AttributeKeys, 'rack')"))
	// The flagged point is not in the series; the raw table has it.
	assert.Equal(t, "4 -5", one("concat(toString(sum(Count)), ' ', toString(min(Min)))", "MetricName = 'g.temp' AND NOT has(AttributeKeys, 'rack')"))
	// Histogram buckets over both layouts and both batches (all in minute 0), +Inf for the
	// bucket above the last bound.
	assert.Equal(t, "([1,2,5,10,inf],[12,2,8,6,12])", one("sumMap(BucketBounds, BucketCounts)", "MetricName = 'h.lat'"))
	assert.Equal(t, "([],[])", one("sumMap(BucketBounds, BucketCounts)", "MetricName = 'h.cum'"), "cumulative histograms have no buckets in the series")
	assert.Equal(t, "0.5 25", one("concat(toString(min(Min)), ' ', toString(max(Max)))", "MetricName = 'h.lat'"))
	// Exponential histograms: the point without min and max leaves +Inf and -Inf alone.
	assert.Equal(t, "0.25 6 25.5", one("concat(toString(min(Min)), ' ', toString(max(Max)), ' ', toString(sum(Sum)))", "MetricName = 'e.lat'"))
	// Summaries: min and max from quantiles 0 and 1, last from the sum, nothing in Sum.
	assert.Equal(t, "1 40 80 0", one("concat(toString(min(Min)), ' ', toString(max(Max)), ' ', toString(argMax(Last, LastTimeUnixNano)), ' ', toString(sum(Sum)))", "MetricName = 'q.sum'"))
	// Metadata columns, and nothing from weir_red's scope.
	assert.Equal(t, "ms", one("any(MetricUnit)", "MetricName = 'h.lat'"))
	assert.Equal(t, "0", one("count()", "MetricName = '"+model.REDMetric+"'"))
}

func sumRaw(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

func TestSeries_BucketMerge(t *testing.T) {
	f := func(points [][2][]float64, wantB []float64, wantC []uint64) {
		t.Helper()
		var s seriesBlock
		start := s.bounds.begin()
		for _, p := range points {
			counts := make([]uint64, len(p[1]))
			for i, c := range p[1] {
				counts[i] = uint64(c)
			}
			s.addBuckets(start, p[0], counts)
		}
		assert.Equal(t, wantB, s.bounds.flat)
		assert.Equal(t, wantC, s.buckets.flat)
	}
	inf := math.Inf(1)
	f([][2][]float64{{{1, 5}, {1, 2, 3}}}, []float64{1, 5, inf}, []uint64{1, 2, 3})
	f([][2][]float64{{{1, 5}, {1, 2, 3}}, {{1, 5}, {1, 1, 1}}}, []float64{1, 5, inf}, []uint64{2, 3, 4})
	f([][2][]float64{{{1, 5}, {1, 2, 3}}, {{2}, {7, 8}}}, []float64{1, 2, 5, inf}, []uint64{1, 7, 2, 11})
	f([][2][]float64{{{2}, {7, 8}}, {{1, 5}, {1, 2, 3}}}, []float64{1, 2, 5, inf}, []uint64{1, 7, 2, 11})
	f([][2][]float64{{{}, {4}}, {{3}, {1, 1}}}, []float64{3, inf}, []uint64{1, 5})
	f([][2][]float64{{{1, 5}, {1, 2}}}, nil, nil) // malformed: counts do not fit the bounds
}

// renameTable moves a table away (and back), to make its inserts fail without losing it.
func renameTable(t *testing.T, db *chtest.DB, from, to string) {
	t.Helper()
	db.Exec(t, "RENAME TABLE "+db.Table(from)+" TO "+db.Table(to))
}

// retryData is what a failed push hands back.
func retryData(t *testing.T, err error) pmetric.Metrics {
	t.Helper()
	require.Error(t, err)
	var me consumererror.Metrics
	require.True(t, errors.As(err, &me), "%v", err)
	return me.Data()
}

// scopesOf lists the handed-back scopes as "name[marked]: metric, metric".
func scopesOf(md pmetric.Metrics) []string {
	var out []string
	for r := 0; r < md.ResourceMetrics().Len(); r++ {
		sms := md.ResourceMetrics().At(r).ScopeMetrics()
		for s := 0; s < sms.Len(); s++ {
			sm := sms.At(s)
			desc := sm.Scope().Name()
			if isSeriesOnly(sm) {
				desc += "[series only]"
			}
			var names []string
			for i := 0; i < sm.Metrics().Len(); i++ {
				names = append(names, sm.Metrics().At(i).Name())
			}
			out = append(out, desc+": "+strings.Join(names, ","))
		}
	}
	return out
}

// TestSeries_FailuresNeverCountTwice fails series_1m, a raw table, or both, retries what the
// exporter hands back once the tables are back, and checks that every raw point and every
// series contribution is stored exactly once.
func TestSeries_FailuresNeverCountTwice(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		away   []string
		scopes []string
	}{
		{"series_1m fails", []string{rollup.TableSeries1m}, []string{
			"scope-1[series only]: g.temp,s.req,s.total,h.lat,h.cum,e.lat,q.sum",
			"[series only]: s.req",
		}},
		{"metrics_sum fails", []string{rollup.TableMetricsSum}, []string{
			"scope-1: s.req,s.total",
			": s.req",
		}},
		{"both fail", []string{rollup.TableMetricsSum, rollup.TableSeries1m}, []string{
			"scope-1: s.req,s.total",
			"scope-1[series only]: g.temp,h.lat,h.cum,e.lat,q.sum",
			": s.req",
		}},
		{"red_1m and series_1m fail", []string{rollup.TableRED1m, rollup.TableSeries1m}, []string{
			"scope-1[series only]: g.temp,s.req,s.total,h.lat,h.cum,e.lat,q.sum",
			model.REDScope + ": " + model.REDMetric,
			"[series only]: s.req",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The reference: the same two batches with nothing failing.
			ref, refDB, _ := startExporter(t, nil)
			ctx := context.Background()
			require.NoError(t, ref.pushMetrics(ctx, seriesBatch(1)))
			require.NoError(t, ref.pushMetrics(ctx, seriesBatch(2)))

			e, db, _ := startExporter(t, nil)
			require.NoError(t, e.pushMetrics(ctx, seriesBatch(1)))
			for _, table := range tc.away {
				renameTable(t, db, table, table+"_away")
			}
			left := retryData(t, e.pushMetrics(ctx, seriesBatch(2)))
			assert.Equal(t, tc.scopes, scopesOf(left))
			// A retry while the tables are still away fails the same way and hands back the same.
			again := retryData(t, e.pushMetrics(ctx, left))
			assert.Equal(t, tc.scopes, scopesOf(again))
			for _, table := range tc.away {
				renameTable(t, db, table+"_away", table)
			}
			require.NoError(t, e.pushMetrics(ctx, again))

			assert.Equal(t, rawRows(t, refDB), rawRows(t, db), "every raw point once")
			assert.Equal(t, storedSeries(t, refDB), requireSeriesMatchRaw(t, db), "every series contribution once")
		})
	}
}

func TestMetricsToRetry_KeepsInputAndSplitsScopes(t *testing.T) {
	md := seriesBatch(1)
	before := scopesOf(md)
	out := metricsToRetry(md, map[pmetric.MetricType]bool{pmetric.MetricTypeHistogram: true}, false, true)
	assert.Equal(t, []string{
		"scope-1: h.lat,h.cum",
		"scope-1[series only]: g.temp,s.req,s.total,e.lat,q.sum",
		"[series only]: s.req",
	}, scopesOf(out))
	assert.Equal(t, before, scopesOf(md), "input untouched")
	// The marked copy keeps the scope's name (part of SeriesHash) and the resource.
	marked := out.ResourceMetrics().At(0).ScopeMetrics().At(1).Scope()
	assert.Equal(t, "scope-1", marked.Name())
	assert.Equal(t, map[string]any{seriesOnlyKey: true}, marked.Attributes().AsRaw())
	assert.Equal(t, md.ResourceMetrics().At(0).Resource().Attributes().AsRaw(), out.ResourceMetrics().At(0).Resource().Attributes().AsRaw())

	assert.Empty(t, scopesOf(metricsToRetry(md, nil, false, false)), "nothing failed, nothing to retry")
}

// BenchmarkSeriesBlock_Build measures pre-aggregating series_1m's rows from the filled metric
// blocks of a batch (the work pushMetrics adds to BenchmarkMetricBlocks_Fill).
func BenchmarkSeriesBlock_Build(b *testing.B) {
	md := benchMetrics()
	bs := newMetricBlocks()
	bs.fill(md)
	bs.buildSeries(nil) // grow the columns once
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bs.buildSeries(nil)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*md.DataPointCount()), "ns/point")
	if bs.series.rows == 0 {
		b.Fatal("no series rows")
	}
}
