package serieslimitprocessor

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

type harness struct {
	l   *limiter
	now time.Time
	tel *componenttest.Telemetry
}

func newHarness(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	h := &harness{now: time.Unix(1_790_000_000, 0), tel: componenttest.NewTelemetry()}
	l, err := newLimiter(cfg, h.tel.NewTelemetrySettings())
	require.NoError(t, err)
	l.now = func() time.Time { return h.now }
	t.Cleanup(func() {
		require.NoError(t, l.shutdown(context.Background()))
		_ = h.tel.Shutdown(context.Background())
	})
	h.l = l
	return h
}

func (h *harness) process(t *testing.T, md pmetric.Metrics) pmetric.Metrics {
	t.Helper()
	out, err := h.l.processMetrics(context.Background(), md)
	require.NoError(t, err)
	return out
}

// pt is one data point of a delta sum: its service, metric, attributes and value.
type pt struct {
	service string
	metric  string
	attrs   map[string]any
	value   int64
}

// deltaSums makes one resource per point, so the order of points is kept.
func deltaSums(points ...pt) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for _, p := range points {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", p.service)
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName(p.metric)
		s := m.SetEmptySum()
		s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		dp := s.DataPoints().AppendEmpty()
		dp.SetIntValue(p.value)
		_ = dp.Attributes().FromRaw(p.attrs)
	}
	return md
}

// series lists "service/metric{attrs}=value" per point, and the total per service and metric.
func series(md pmetric.Metrics) ([]string, map[string]int64) {
	var out []string
	totals := map[string]int64{}
	for r := 0; r < md.ResourceMetrics().Len(); r++ {
		rm := md.ResourceMetrics().At(r)
		svc, _ := rm.Resource().Attributes().Get("service.name")
		sms := rm.ScopeMetrics()
		for s := 0; s < sms.Len(); s++ {
			ms := sms.At(s).Metrics()
			for i := 0; i < ms.Len(); i++ {
				m := ms.At(i)
				dps := m.Sum().DataPoints()
				for j := 0; j < dps.Len(); j++ {
					p := dps.At(j)
					out = append(out, fmt.Sprintf("%s/%s %v=%d", svc.Str(), m.Name(), p.Attributes().AsRaw(), p.IntValue()))
					totals[svc.Str()+"/"+m.Name()] += p.IntValue()
				}
			}
		}
	}
	return out, totals
}

func counter(t *testing.T, tel *componenttest.Telemetry, name string) map[string]int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	require.NoError(t, err, name)
	out := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		svc, _ := dp.Attributes.Value("service")
		reason, _ := dp.Attributes.Value("reason")
		out[svc.AsString()+" "+reason.AsString()] += dp.Value
	}
	return out
}

func gauge(t *testing.T, tel *componenttest.Telemetry, name string) map[string]int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	require.NoError(t, err, name)
	out := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
		svc, _ := dp.Attributes.Value("service")
		key := svc.AsString()
		if metric, ok := dp.Attributes.Value("metric"); ok {
			key += "/" + metric.AsString()
		}
		out[key] = dp.Value
	}
	return out
}

func TestLimit_OverflowKeepsTotals(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSeriesPerMetric = 3 })
	var in []pt
	for i := 0; i < 10; i++ {
		in = append(in, pt{"checkout", "requests", map[string]any{"user": int64(i), "route": "/pay"}, int64(i + 1)})
	}
	in = append(in,
		pt{"checkout", "errors", map[string]any{"user": int64(9)}, 100}, // another metric: its own limit
		pt{"cart", "requests", map[string]any{"user": int64(9)}, 1000},  // another service too
	)
	md := deltaSums(in...)
	_, wantTotals := series(md)
	got, totals := series(h.process(t, md))
	assert.Equal(t, wantTotals, totals, "totals stay right")
	assert.Equal(t, int64(55), totals["checkout/requests"])
	want := []string{
		"checkout/requests map[route:/pay user:0]=1",
		"checkout/requests map[route:/pay user:1]=2",
		"checkout/requests map[route:/pay user:2]=3",
	}
	for i := 3; i < 10; i++ {
		want = append(want, fmt.Sprintf("checkout/requests map[otel.metric.overflow:true]=%d", i+1))
	}
	want = append(want, "checkout/errors map[user:9]=100", "cart/requests map[user:9]=1000")
	assert.Equal(t, want, got)
	assert.Equal(t, map[string]int64{"checkout max_series_per_metric": 7}, counter(t, h.tel, "weir_series_overflow_points"))

	// The next batch: the three live series go on, new ones overflow, attribute order and
	// points already in overflow form take no place.
	got, _ = series(h.process(t, deltaSums(
		pt{"checkout", "requests", map[string]any{"route": "/pay", "user": int64(2)}, 1},
		pt{"checkout", "requests", map[string]any{"user": int64(5), "route": "/pay"}, 1},
		pt{"checkout", "requests", map[string]any{OverflowAttribute: true}, 1},
		pt{"checkout", "requests", map[string]any{"user": int64(0), "route": "/pay"}, 1},
	)))
	assert.Equal(t, []string{
		"checkout/requests map[route:/pay user:2]=1",
		"checkout/requests map[otel.metric.overflow:true]=1",
		"checkout/requests map[otel.metric.overflow:true]=1",
		"checkout/requests map[route:/pay user:0]=1",
	}, got)
	assert.Equal(t, map[string]int64{"checkout max_series_per_metric": 8}, counter(t, h.tel, "weir_series_overflow_points"))
}

func TestLimit_TypedValuesAreDifferentSeries(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSeriesPerMetric = 1 })
	got, _ := series(h.process(t, deltaSums(
		pt{"s", "m", map[string]any{"code": "1"}, 1},
		pt{"s", "m", map[string]any{"code": int64(1)}, 1},
		pt{"s", "m", map[string]any{"code": "1"}, 1},
	)))
	assert.Equal(t, []string{"s/m map[code:1]=1", "s/m map[otel.metric.overflow:true]=1", "s/m map[code:1]=1"}, got)
}

func TestLimit_EveryMetricType(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSeriesPerMetric = 1 })
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	var maps []pcommon.Map
	g := ms.AppendEmpty()
	g.SetName("g")
	g.SetEmptyGauge()
	for i := 0; i < 2; i++ {
		maps = append(maps, g.Gauge().DataPoints().AppendEmpty().Attributes())
	}
	hi := ms.AppendEmpty()
	hi.SetName("h")
	hi.SetEmptyHistogram()
	e := ms.AppendEmpty()
	e.SetName("e")
	e.SetEmptyExponentialHistogram()
	q := ms.AppendEmpty()
	q.SetName("q")
	q.SetEmptySummary()
	for i := 0; i < 2; i++ {
		maps = append(maps, hi.Histogram().DataPoints().AppendEmpty().Attributes(),
			e.ExponentialHistogram().DataPoints().AppendEmpty().Attributes(),
			q.Summary().DataPoints().AppendEmpty().Attributes())
	}
	for i, m := range maps {
		m.PutInt("i", int64(i))
	}
	h.process(t, md)
	overflowed := 0
	for _, m := range maps {
		if isOverflow(m) {
			overflowed++
		}
	}
	assert.Equal(t, 4, overflowed, "the second series of each of the four metrics")
	assert.Equal(t, 8, len(maps))
	assert.Equal(t, map[string]int64{"unknown_service max_series_per_metric": 4}, counter(t, h.tel, "weir_series_overflow_points"))
}

func TestLimit_ExpiryFreesRoom(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSeriesPerMetric = 2; c.SeriesIdle = time.Minute })
	p := func(user string) pt { return pt{"s", "m", map[string]any{"user": user}, 1} }
	send := func(users ...string) []string {
		var in []pt
		for _, u := range users {
			in = append(in, p(u))
		}
		got, _ := series(h.process(t, deltaSums(in...)))
		return got
	}
	assert.Equal(t, []string{"s/m map[user:a]=1", "s/m map[user:b]=1", "s/m map[otel.metric.overflow:true]=1"}, send("a", "b", "c"))
	h.now = h.now.Add(30 * time.Second)
	assert.Equal(t, []string{"s/m map[user:a]=1", "s/m map[otel.metric.overflow:true]=1"}, send("a", "c"))
	// b has been idle for series_idle; a has not. c takes b's place, at once, with no sweep
	// having run.
	h.now = h.now.Add(30 * time.Second)
	assert.Equal(t, []string{"s/m map[user:c]=1", "s/m map[otel.metric.overflow:true]=1", "s/m map[user:a]=1"}, send("c", "b", "a"))
	assert.Equal(t, map[string]int64{"s/m": 2}, gauge(t, h.tel, "weir_series_active"))

	// Everything idle: the periodic sweep forgets it all.
	h.now = h.now.Add(time.Minute)
	h.l.expire()
	assert.Empty(t, h.l.metrics)
	assert.Zero(t, h.l.total)
	_, err := h.tel.GetMetric("weir_series_active")
	assert.Error(t, err, "no live series, no points")
	assert.Equal(t, []string{"s/m map[user:x]=1", "s/m map[user:y]=1"}, send("x", "y"))
}

func TestLimit_MaxSeriesTotal(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSeriesPerMetric = 2; c.MaxSeriesTotal = 3 })
	got, totals := series(h.process(t, deltaSums(
		pt{"s", "a", map[string]any{"k": "1"}, 1},
		pt{"s", "a", map[string]any{"k": "2"}, 2},
		pt{"s", "b", map[string]any{"k": "1"}, 3},
		pt{"s", "b", map[string]any{"k": "2"}, 4},
		pt{"s", "c", map[string]any{"k": "1"}, 5},
	)))
	assert.Equal(t, []string{
		"s/a map[k:1]=1", "s/a map[k:2]=2", "s/b map[k:1]=3",
		"s/b map[otel.metric.overflow:true]=4", "s/c map[otel.metric.overflow:true]=5",
	}, got)
	assert.Equal(t, int64(5), totals["s/c"])
	assert.Equal(t, map[string]int64{"s max_series_total": 2}, counter(t, h.tel, "weir_series_overflow_points"))
	assert.Len(t, h.l.metrics, 2, "a metric whose every point overflowed holds no state")
}

func TestTelemetry_GaugesReportCounts(t *testing.T) {
	h := newHarness(t, nil)
	var in []pt
	// 150 metrics of "big" with 1..150 series, and two small metrics of "small".
	for m := 1; m <= 150; m++ {
		for s := 0; s < m; s++ {
			in = append(in, pt{"big", fmt.Sprintf("m%03d", m), map[string]any{"s": int64(s)}, 1})
		}
	}
	in = append(in, pt{"small", "x", nil, 1}, pt{"small", "y", map[string]any{"a": "b"}, 1})
	h.process(t, deltaSums(in...))

	perMetric := gauge(t, h.tel, "weir_series_active")
	require.Len(t, perMetric, topMetrics, "only the top metrics")
	var names []string
	for k, v := range perMetric {
		names = append(names, k)
		var n int64
		_, err := fmt.Sscanf(k, "big/m%d", &n)
		require.NoError(t, err)
		assert.Equal(t, n, v, k)
	}
	sort.Strings(names)
	assert.Equal(t, "big/m051", names[0], "the 100 with the most series: m051..m150")
	assert.Equal(t, map[string]int64{"big": 150 * 151 / 2, "small": 2}, gauge(t, h.tel, "weir_series_active_per_service"))
}

// TestFactory_Pipeline runs the processor as the collector does: created by the factory,
// started (its sweeper too), fed, shut down. goleak checks the sweeper stopped.
func TestFactory_Pipeline(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.MaxSeriesPerMetric = 1
	sink := new(consumertest.MetricsSink)
	p, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(component.MustNewType(typeStr)), cfg, sink)
	require.NoError(t, err)
	assert.True(t, p.Capabilities().MutatesData)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, p.ConsumeMetrics(context.Background(), deltaSums(
		pt{"s", "m", map[string]any{"k": "1"}, 1}, pt{"s", "m", map[string]any{"k": "2"}, 2})))
	require.NoError(t, p.Shutdown(context.Background()))
	require.Len(t, sink.AllMetrics(), 1)
	got, _ := series(sink.AllMetrics()[0])
	assert.Equal(t, []string{"s/m map[k:1]=1", "s/m map[otel.metric.overflow:true]=2"}, got)
}

func BenchmarkLimit_ProcessMetrics(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	l, err := newLimiter(cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(b, err)
	var in []pt
	for i := 0; i < 2000; i++ {
		in = append(in, pt{"svc", fmt.Sprintf("m%d", i%20), map[string]any{"route": fmt.Sprintf("/r%d", i%100), "code": int64(200)}, 1})
	}
	md := deltaSums(in...)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, _ = l.processMetrics(context.Background(), md)
	}
}

// TestLimit_Concurrent feeds batches from several goroutines while telemetry is read; run
// with -race. Every service ends up with exactly the limit.
func TestLimit_Concurrent(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSeriesPerMetric = 50 })
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for b := 0; b < 20; b++ {
				var in []pt
				for i := 0; i < 10; i++ {
					in = append(in, pt{fmt.Sprintf("svc-%d", g), "m", map[string]any{"i": int64(b*10 + i)}, 1})
				}
				_, err := h.l.processMetrics(context.Background(), deltaSums(in...))
				assert.NoError(t, err)
			}
		}()
	}
	for g := 0; g < 4; g++ {
		_, _ = h.tel.GetMetric("weir_series_active")
		<-done
	}
	assert.Equal(t, map[string]int64{"svc-0": 50, "svc-1": 50, "svc-2": 50, "svc-3": 50}, gauge(t, h.tel, "weir_series_active_per_service"))
	over := counter(t, h.tel, "weir_series_overflow_points")
	assert.Equal(t, int64(4*150), over["svc-0 max_series_per_metric"]+over["svc-1 max_series_per_metric"]+over["svc-2 max_series_per_metric"]+over["svc-3 max_series_per_metric"])
}
