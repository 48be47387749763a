package dashboards

import (
	"context"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/weirhq/weir/exporters/clickhouseexporter"
	"github.com/weirhq/weir/extensions/journalextension/journaltest"
	"github.com/weirhq/weir/internal/chtest"
)

// selfService is the service name weir's own metrics carry (BuildInfo.Command).
const selfService = "weir"

// defaultBounds are the OpenTelemetry SDK's default explicit bucket bounds, which weir's
// weir_clickhouse_insert_duration histogram (seconds) has.
var defaultBounds = []float64{0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000}

// selfSeed is one series of weir's own metrics, shaped as weir pushes them (delta sums,
// gauges, delta histograms), with one point per minute of the seed: value(i) in minute i, or
// for histograms the observations obs(i).
type selfSeed struct {
	metric string
	typ    pmetric.MetricType
	attrs  func(pcommon.Map)
	value  func(i int) float64
	obs    func(i int) []float64
}

func strAttrs(kv ...string) func(pcommon.Map) {
	return func(m pcommon.Map) {
		for i := 0; i < len(kv); i += 2 {
			m.PutStr(kv[i], kv[i+1])
		}
	}
}

func every(n int, v float64) func(int) float64 {
	return func(i int) float64 {
		if i%n == 0 {
			return v
		}
		return 0
	}
}

func constant(v float64) func(int) float64 { return func(int) float64 { return v } }

func decidedAttrs(kept bool, reason string) func(pcommon.Map) {
	return func(m pcommon.Map) {
		m.PutStr("cause", "complete")
		m.PutBool("kept", kept)
		m.PutStr("reason", reason)
	}
}

var selfSeeds = []selfSeed{
	{"otelcol_receiver_accepted_spans", pmetric.MetricTypeSum, strAttrs("receiver", "otlp", "transport", "grpc"), constant(600), nil},
	{"otelcol_receiver_accepted_spans", pmetric.MetricTypeSum, strAttrs("receiver", "otlp", "transport", "http"), func(i int) float64 { return float64(60 + i%7) }, nil},
	{"otelcol_receiver_accepted_metric_points", pmetric.MetricTypeSum, strAttrs("receiver", "otlp", "transport", "http"), constant(120), nil},
	{"otelcol_receiver_refused_spans", pmetric.MetricTypeSum, strAttrs("receiver", "otlp", "transport", "grpc"), every(10, 30), nil},
	{"otelcol_exporter_send_failed_spans", pmetric.MetricTypeSum, strAttrs("exporter", "clickhouse"), every(60, 5), nil},
	{"weir_clickhouse_rows_set_aside", pmetric.MetricTypeSum, strAttrs("table", "edges_1m"), every(240, 100), nil},
	{"weir_invalid_spans", pmetric.MetricTypeSum, nil, every(120, 2), nil},
	{"weir_clickhouse_queue_rows", pmetric.MetricTypeGauge, nil, func(i int) float64 { return float64(i % 100) }, nil},
	{"otelcol_exporter_queue_capacity", pmetric.MetricTypeGauge, strAttrs("data_type", "traces", "exporter", "clickhouse"), constant(2_000_000), nil},
	{"weir_tailsampling_traces_decided", pmetric.MetricTypeSum, decidedAttrs(true, "error"), constant(3), nil},
	{"weir_tailsampling_traces_decided", pmetric.MetricTypeSum, decidedAttrs(true, "baseline"), constant(20), nil},
	{"weir_tailsampling_traces_decided", pmetric.MetricTypeSum, decidedAttrs(false, "dropped"), func(i int) float64 { return float64(180 + i%3) }, nil},
	{"weir_clickhouse_insert_failures", pmetric.MetricTypeSum, strAttrs("table", "spans"), every(30, 1), nil},
	{"weir_clickhouse_rows_written", pmetric.MetricTypeSum, strAttrs("table", "spans"), constant(1000), nil},
	{"weir_clickhouse_rows_written", pmetric.MetricTypeSum, strAttrs("table", "series_1m"), constant(200), nil},
	{"weir_clickhouse_insert_duration", pmetric.MetricTypeHistogram, strAttrs("table", "spans"), nil, func(i int) []float64 {
		if i%120 == 0 {
			return []float64{0.01, 0.02, 0.03, 0.2, 7}
		}
		return []float64{0.01, 0.02, 0.03, 0.2}
	}},
	{"weir_clickhouse_insert_duration", pmetric.MetricTypeHistogram, strAttrs("table", "series_1m"), nil, func(int) []float64 { return []float64{0.005, 0.015} }},
}

// selfMetricNames are the metric names of selfSeeds, sorted.
func selfMetricNames() []string {
	var out []string
	for _, s := range selfSeeds {
		if !slices.Contains(out, s.metric) {
			out = append(out, s.metric)
		}
	}
	sort.Strings(out)
	return out
}

// bucketCounts counts obs in the explicit buckets of bounds (upper bounds inclusive, as in
// OTLP), one more bucket than bounds.
func bucketCounts(bounds, obs []float64) []uint64 {
	counts := make([]uint64, len(bounds)+1)
	for _, x := range obs {
		j := sort.SearchFloat64s(bounds, x) // first bound >= x
		counts[j]++
	}
	return counts
}

// seedSelf writes selfSeeds through weir's ClickHouse exporter (the real writer of the raw
// metric tables and series_1m), as weir's internal telemetry reaches it: one resource for
// weir, delta points at the middle of every minute of the seed.
func seedSelf(t *testing.T, db *chtest.DB) {
	ctx := testContext(t)
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", selfService)
	rm.Resource().Attributes().PutStr("service.instance.id", "0b6f6a3e-4d7c-4f4e-9f0e-5a2b8c1d9e70")
	rm.Resource().Attributes().PutStr("service.version", "test")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("github.com/weirhq/weir/dashboards/seed")
	for _, s := range selfSeeds {
		m := sm.Metrics().AppendEmpty()
		m.SetName(s.metric)
		var sum pmetric.NumberDataPointSlice
		var hist pmetric.HistogramDataPointSlice
		switch s.typ {
		case pmetric.MetricTypeSum:
			m.SetEmptySum().SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
			m.Sum().SetIsMonotonic(true)
			sum = m.Sum().DataPoints()
		case pmetric.MetricTypeGauge:
			sum = m.SetEmptyGauge().DataPoints()
		case pmetric.MetricTypeHistogram:
			m.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
			hist = m.Histogram().DataPoints()
		}
		i := 0
		for min := seedFrom; min.Before(seedTo); min = min.Add(time.Minute) {
			start, ts := pcommon.NewTimestampFromTime(min), pcommon.NewTimestampFromTime(min.Add(30*time.Second))
			var attrs pcommon.Map
			if s.typ == pmetric.MetricTypeHistogram {
				p := hist.AppendEmpty()
				p.SetStartTimestamp(start)
				p.SetTimestamp(ts)
				obs := s.obs(i)
				p.SetCount(uint64(len(obs)))
				var total float64
				for _, x := range obs {
					total += x
				}
				p.SetSum(total)
				p.SetMin(slices.Min(obs))
				p.SetMax(slices.Max(obs))
				p.ExplicitBounds().FromRaw(defaultBounds)
				p.BucketCounts().FromRaw(bucketCounts(defaultBounds, obs))
				attrs = p.Attributes()
			} else {
				p := sum.AppendEmpty()
				if s.typ == pmetric.MetricTypeSum {
					p.SetStartTimestamp(start)
				}
				p.SetTimestamp(ts)
				p.SetIntValue(int64(s.value(i)))
				attrs = p.Attributes()
			}
			if s.attrs != nil {
				s.attrs(attrs)
			}
			i++
		}
	}

	f := clickhouseexporter.NewFactory()
	cfg := f.CreateDefaultConfig().(*clickhouseexporter.Config)
	cfg.ClickHouse.Endpoint = chtest.Endpoint()
	cfg.ClickHouse.Database = db.Name
	cfg.HTTPEndpoints = []string{"http://" + chtest.HTTPAddr()}
	set := exportertest.NewNopSettings(f.Type())
	exp, err := f.CreateMetrics(ctx, set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, journaltest.NewTestHost(t, t.TempDir())))
	require.NoError(t, exp.ConsumeMetrics(ctx, md))
	// Shutdown sends what the journal holds (drain_timeout) before it returns.
	require.NoError(t, exp.Shutdown(context.Background()))
}

// selfPoint is one seeded point that a panel reads: its minute, the label the panel splits
// by, and its value (histograms: the observations).
type selfPoint struct {
	minute time.Time
	seed   selfSeed
	i      int
}

// selfPoints are the seeded points of metrics in [from, to) (minutes m with from <= m < to).
func selfPoints(metrics []string, from, to time.Time) []selfPoint {
	var out []selfPoint
	for _, s := range selfSeeds {
		if !slices.Contains(metrics, s.metric) {
			continue
		}
		i := 0
		for m := seedFrom; m.Before(seedTo); m = m.Add(time.Minute) {
			if !m.Before(from) && m.Before(to) {
				out = append(out, selfPoint{m, s, i})
			}
			i++
		}
	}
	return out
}

func (p selfPoint) attr(key string) string {
	if p.seed.attrs == nil {
		return ""
	}
	m := pcommon.NewMap()
	p.seed.attrs(m)
	v, ok := m.Get(key)
	if !ok {
		return ""
	}
	return v.AsString()
}

// histQuantile is histQuantileSQL in Go: the q-quantile of the histogram counts over bounds
// (inf last), interpolated linearly inside the bucket of the rank, narrowed to [lo, hi].
func histQuantile(q float64, bounds []float64, counts []uint64, lo, hi float64) float64 {
	var n uint64
	for _, c := range counts {
		n += c
	}
	if n == 0 {
		return math.NaN()
	}
	rank := q * float64(n)
	var cum uint64
	for i, c := range counts {
		cum += c
		if float64(cum) < rank {
			continue
		}
		lower := lo
		if i > 0 {
			lower = math.Max(bounds[i-1], lo)
		}
		upper := math.Min(bounds[i], hi)
		return lower + (upper-lower)*(rank-float64(cum-c))/float64(c)
	}
	panic("rank beyond the counts")
}

type bucketKey struct {
	time  time.Time
	label string
}

func testWeirItself(t *testing.T, s *suite) {
	const file = "weir-itself.json"
	for _, e := range tierEnvs {
		t.Run(e.name, func(t *testing.T) {
			env, opts := s.envFor(t, file, e.from, e.to, e.interval, nil)
			assert.Equal(t, []string{selfService}, opts[varService], "only weir has collector metrics")
			step := stepFor(e.interval)
			bucket := func(m time.Time) time.Time { return m.Truncate(step) } // epoch-aligned: UTC
			from, to := e.from, e.to

			// Rates: per bucket and label, the seeded deltas over the step.
			rates := []struct {
				title, label, attr string
				metrics            []string
				labelOf            func(selfPoint) string
			}{
				{"Ingest rate", "signal", "", selfIngestMetrics, func(p selfPoint) string {
					return map[string]string{"otelcol_receiver_accepted_spans": "spans", "otelcol_receiver_accepted_metric_points": "metric_points"}[p.seed.metric]
				}},
				{"Refused and lost", "what", "", selfLossMetrics, func(p selfPoint) string {
					if strings.HasPrefix(p.seed.metric, "weir_") {
						return p.seed.metric
					}
					return p.seed.metric[len("otelcol_"):]
				}},
				{"Sampling decisions by reason", "reason", "", selfSamplingMetrics, func(p selfPoint) string { return p.attr("reason") }},
				{"ClickHouse write errors", "table", "", selfFailureMetrics, func(p selfPoint) string { return p.attr("table") }},
				{"ClickHouse rows written", "table", "", selfRowsMetrics, func(p selfPoint) string { return p.attr("table") }},
			}
			for _, r := range rates {
				res := s.panel(t, env, file, r.title, "A")
				res.hasColumns(t, "time DateTime", r.label+" String", "rate Float64")
				want := map[bucketKey]float64{}
				for _, p := range selfPoints(r.metrics, from, to) {
					want[bucketKey{bucket(p.minute), r.labelOf(p)}] += p.seed.value(p.i) / step.Seconds()
				}
				got := map[bucketKey]float64{}
				for i := range res.rows {
					got[bucketKey{res.time(t, i, "time").UTC(), res.str(t, i, r.label)}] = res.num(t, i, "rate")
				}
				require.Equal(t, len(want), len(got), "%s: buckets and labels", r.title)
				for k, w := range want {
					g, ok := got[k]
					require.True(t, ok, "%s: no row for %s %q", r.title, k.time, k.label)
					assert.InDelta(t, w, g, 1e-9*math.Max(1, w), "%s at %s, %q", r.title, k.time, k.label)
				}
			}

			// Queue size: the largest reading per bucket and queue; the capacity is not read.
			queue := s.panel(t, env, file, "Rows waiting for ClickHouse", "A")
			queue.hasColumns(t, "time DateTime", "queue String", "size Float64")
			wantQ := map[bucketKey]float64{}
			for _, p := range selfPoints(selfQueueMetrics, from, to) {
				k := bucketKey{bucket(p.minute), p.seed.metric}
				wantQ[k] = math.Max(wantQ[k], p.seed.value(p.i))
			}
			require.Len(t, queue.rows, len(wantQ))
			for i := range queue.rows {
				k := bucketKey{queue.time(t, i, "time").UTC(), queue.str(t, i, "queue")}
				w, ok := wantQ[k]
				require.True(t, ok, "queue row %v", k)
				assert.Equal(t, w, queue.num(t, i, "size"), "queue %v", k)
			}

			// Write latency: the histogram of both tables merged per bucket.
			lat := s.panel(t, env, file, "ClickHouse write latency", "A")
			lat.hasColumns(t, "time DateTime", "p50 Float64", "p95 Float64", "mean Float64")
			type merged struct {
				obs []float64
			}
			wantL := map[time.Time]*merged{}
			for _, p := range selfPoints(selfLatencyMetrics, from, to) {
				b := bucket(p.minute)
				if wantL[b] == nil {
					wantL[b] = &merged{}
				}
				wantL[b].obs = append(wantL[b].obs, p.seed.obs(p.i)...)
			}
			require.Len(t, lat.rows, len(wantL))
			bounds := append(slices.Clone(defaultBounds), math.Inf(1))
			for i := range lat.rows {
				b := lat.time(t, i, "time").UTC()
				w, ok := wantL[b]
				require.True(t, ok, "latency row %s", b)
				counts := bucketCounts(defaultBounds, w.obs)
				lo, hi := slices.Min(w.obs), slices.Max(w.obs)
				var total float64
				for _, x := range w.obs {
					total += x
				}
				p50, p95 := histQuantile(0.5, bounds, counts, lo, hi), histQuantile(0.95, bounds, counts, lo, hi)
				assert.InEpsilon(t, p50, lat.num(t, i, "p50"), 1e-9, "p50 at %s", b)
				assert.InEpsilon(t, p95, lat.num(t, i, "p95"), 1e-9, "p95 at %s", b)
				assert.InEpsilon(t, total/float64(len(w.obs)), lat.num(t, i, "mean"), 1e-9, "mean at %s", b)
				assert.True(t, lo <= lat.num(t, i, "p50") && lat.num(t, i, "p95") <= hi, "estimates within the observations at %s", b)
			}
		})
	}
}

// The estimate of histQuantile on known histograms.
func TestHistQuantile(t *testing.T) {
	t.Parallel()
	bounds := append(slices.Clone(defaultBounds), math.Inf(1))
	f := func(q float64, obs []float64, want float64) {
		t.Helper()
		got := histQuantile(q, bounds, bucketCounts(defaultBounds, obs), slices.Min(obs), slices.Max(obs))
		assert.InDelta(t, want, got, 1e-12, "q=%g of %v", q, obs)
	}
	// Everything in (0, 5]: linear between the smallest and largest observation.
	f(0.5, []float64{0.01, 0.02, 0.03, 0.21}, 0.01+0.2*0.5)
	f(1, []float64{0.01, 0.02, 0.03, 0.21}, 0.21)
	// The rank in the second bucket (5, 10], narrowed to its largest observation 7.
	f(0.9, []float64{1, 1, 1, 1, 7}, 5+(7-5)*(4.5-4))
	// Above the last bound: the bucket (10000, inf) narrowed to [min, max].
	f(0.5, []float64{20000, 30000}, 20000+(30000-20000)*0.5)
	assert.True(t, math.IsNaN(histQuantile(0.5, bounds, make([]uint64, len(bounds)), 0, 0)))
}
