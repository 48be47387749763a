package red

import (
	"context"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/internal/otlpgen"
)

// testConn is the connector as tests drive it: spans in through the wire path (the one weir's
// receiver takes), flushes by hand into a metrics sink.
type testConn struct {
	*Aggregator
	sink *consumertest.MetricsSink
	now  func() time.Time
	enc  ptrace.ProtoMarshaler
}

func (c *testConn) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	req, err := c.enc.MarshalTraces(td)
	if err != nil {
		return err
	}
	return c.ConsumeWire(req, c.now())
}

func (c *testConn) flush(ctx context.Context, final bool) error {
	out := NewMetricsOutput(c.window)
	if c.Flush(c.now(), final, out) == 0 {
		return nil
	}
	return c.sink.ConsumeMetrics(ctx, out.Metrics())
}

type harness struct {
	c    *testConn
	sink *consumertest.MetricsSink
	now  time.Time
	tel  *componenttest.Telemetry
}

func newHarness(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	cfg := DefaultConfig()
	cfg.FlushInterval = time.Hour // tests flush by hand
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	h := &harness{sink: new(consumertest.MetricsSink), now: time.Unix(1_790_000_000, 0), tel: componenttest.NewTelemetry()}
	agg, err := New(cfg, h.tel.NewTelemetrySettings())
	require.NoError(t, err)
	c := &testConn{Aggregator: agg, sink: h.sink, now: func() time.Time { return h.now }}
	t.Cleanup(func() {
		require.NoError(t, c.flush(context.Background(), true))
		_ = h.tel.Shutdown(context.Background())
	})
	h.c = c
	return h
}

type sp struct {
	service    string
	name       string
	kind       ptrace.SpanKind
	err        bool
	end        time.Time
	dur        time.Duration
	attrs      map[string]any
	trace      byte
	id, parent byte
	state      string
}

func traces(spans ...sp) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, s := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", s.service)
		x := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		x.SetName(s.name)
		x.SetKind(s.kind)
		x.SetTraceID(pcommon.TraceID{s.trace, 1})
		x.SetSpanID(pcommon.SpanID{s.id, 1})
		if s.parent != 0 {
			x.SetParentSpanID(pcommon.SpanID{s.parent, 1})
		}
		x.SetStartTimestamp(pcommon.NewTimestampFromTime(s.end.Add(-s.dur)))
		x.SetEndTimestamp(pcommon.NewTimestampFromTime(s.end))
		if s.err {
			x.Status().SetCode(ptrace.StatusCodeError)
		}
		_ = x.Attributes().FromRaw(s.attrs)
		x.TraceState().FromRaw(s.state)
	}
	return td
}

// point is a flattened emitted data point.
type point struct {
	metric string
	start  time.Time
	attrs  map[string]any
	count  uint64
	sum    float64
}

func (h *harness) flush(t *testing.T) []point {
	t.Helper()
	require.NoError(t, h.c.flush(context.Background(), false))
	var out []point
	for _, md := range h.sink.AllMetrics() {
		for r := 0; r < md.ResourceMetrics().Len(); r++ {
			rm := md.ResourceMetrics().At(r)
			for s := 0; s < rm.ScopeMetrics().Len(); s++ {
				sm := rm.ScopeMetrics().At(s)
				require.Equal(t, model.REDScope, sm.Scope().Name())
				for i := 0; i < sm.Metrics().Len(); i++ {
					m := sm.Metrics().At(i)
					require.Equal(t, pmetric.AggregationTemporalityDelta, m.ExponentialHistogram().AggregationTemporality())
					dps := m.ExponentialHistogram().DataPoints()
					for j := 0; j < dps.Len(); j++ {
						p := dps.At(j)
						a := p.Attributes().AsRaw()
						if svc, ok := rm.Resource().Attributes().Get("service.name"); ok {
							a["service"] = svc.Str()
						}
						out = append(out, point{metric: m.Name(), start: p.StartTimestamp().AsTime(), attrs: a, count: p.Count(), sum: p.Sum()})
					}
				}
			}
		}
	}
	h.sink.Reset()
	return out
}

func find(ps []point, metric string, match map[string]any) []point {
	var out []point
	for _, p := range ps {
		if p.metric != metric {
			continue
		}
		ok := true
		for k, v := range match {
			if p.attrs[k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, p)
		}
	}
	return out
}

func TestRED_EventTimeWindowsStatusAndDimensions(t *testing.T) {
	h := newHarness(t, nil)
	m0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	require.NoError(t, h.c.ConsumeTraces(context.Background(), traces(
		sp{service: "cart", name: "GET /cart", kind: ptrace.SpanKindServer, end: m0.Add(10 * time.Second), dur: 4 * time.Millisecond, attrs: map[string]any{"http.route": "/cart", "http.request.method": "GET"}},
		sp{service: "cart", name: "GET /cart", kind: ptrace.SpanKindServer, end: m0.Add(50 * time.Second), dur: 6 * time.Millisecond, attrs: map[string]any{"http.route": "/cart", "http.request.method": "GET"}},
		sp{service: "cart", name: "GET /cart", kind: ptrace.SpanKindServer, end: m0.Add(70 * time.Second), dur: 8 * time.Millisecond, err: true, attrs: map[string]any{"http.route": "/cart", "http.request.method": "GET"}},
		// A backfilled span from an hour ago lands in its own minute.
		sp{service: "cart", name: "GET /cart", kind: ptrace.SpanKindServer, end: m0.Add(-time.Hour + time.Second), dur: time.Millisecond, attrs: map[string]any{"http.route": "/cart", "http.request.method": "GET"}},
		// Weighted: sampled upstream at 1/4.
		sp{service: "cart", name: "SELECT", kind: ptrace.SpanKindClient, end: m0.Add(20 * time.Second), dur: time.Millisecond, state: "ot=th:c", attrs: map[string]any{"db.system": "postgresql"}},
	)))
	ps := h.flush(t)
	base := map[string]any{"service": "cart", "span.name": "GET /cart", "span.kind": int64(2), "http.route": "/cart", "http.request.method": "GET"}
	ok := find(ps, model.REDMetric, mergeMap(base, map[string]any{"status.code": int64(0)}))
	require.Len(t, ok, 2)
	byStart := map[time.Time]point{}
	for _, p := range ok {
		byStart[p.start] = p
	}
	assert.Equal(t, uint64(2), byStart[m0].count)
	assert.InDelta(t, 10e6, byStart[m0].sum, 1)
	assert.Equal(t, uint64(1), byStart[m0.Add(-time.Hour)].count)
	errs := find(ps, model.REDMetric, mergeMap(base, map[string]any{"status.code": int64(2)}))
	require.Len(t, errs, 1)
	assert.Equal(t, m0.Add(time.Minute), errs[0].start)
	assert.Equal(t, uint64(1), errs[0].count)
	db := find(ps, model.REDMetric, map[string]any{"span.name": "SELECT"})
	require.Len(t, db, 1)
	assert.Equal(t, uint64(4), db[0].count, "a span sampled at 1/4 counts 4")
	assert.Equal(t, "postgresql", db[0].attrs["db.system"])
	assert.NotContains(t, db[0].attrs, "http.route", "absent dimensions are left out")
	// A second flush emits only what came since.
	assert.Empty(t, find(h.flush(t), model.REDMetric, nil))
}

func mergeMap(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func TestRED_OverflowKeepsTotalsAndSeriesExpire(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSeriesPerService = 3; c.SeriesIdle = time.Minute })
	end := time.Date(2026, 11, 27, 10, 0, 30, 0, time.UTC)
	var spans []sp
	for i := 0; i < 10; i++ {
		spans = append(spans, sp{service: "api", name: string(rune('a' + i)), kind: ptrace.SpanKindServer, end: end, dur: time.Millisecond, err: i == 9})
	}
	require.NoError(t, h.c.ConsumeTraces(context.Background(), traces(spans...)))
	ps := h.flush(t)
	var total uint64
	for _, p := range find(ps, model.REDMetric, map[string]any{"service": "api"}) {
		total += p.count
	}
	assert.Equal(t, uint64(10), total, "totals stay right")
	assert.Len(t, find(ps, model.REDMetric, map[string]any{"span.name": OverflowName, "status.code": int64(0)}), 1)
	assert.Equal(t, uint64(1), find(ps, model.REDMetric, map[string]any{"span.name": OverflowName, "status.code": int64(2)})[0].count, "overflow keeps the status")
	assert.Equal(t, int64(3), h.c.activeSeries()-2, "3 series and 2 overflow series")

	// Idle series expire and make room for new ones.
	h.now = h.now.Add(2 * time.Minute)
	h.flush(t)
	assert.Equal(t, int64(0), h.c.activeSeries())
	require.NoError(t, h.c.ConsumeTraces(context.Background(), traces(sp{service: "api", name: "new", kind: ptrace.SpanKindServer, end: end, dur: time.Millisecond})))
	assert.Len(t, find(h.flush(t), model.REDMetric, map[string]any{"span.name": "new"}), 1)
}

func edgeCounts(ps []point) map[[3]string]uint64 {
	out := map[[3]string]uint64{}
	for _, p := range find(ps, model.EdgeMetric, nil) {
		k := [3]string{p.attrs["client"].(string), p.attrs["server"].(string), p.attrs["connection_type"].(string)}
		if p.attrs["failed"].(bool) {
			k[2] += "!"
		}
		out[k] += p.count
	}
	return out
}

func TestGraph_PairsVirtualNodesMessagingAndUnpaired(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ServiceGraph.WaitTime = time.Second })
	end := time.Date(2026, 11, 27, 10, 0, 30, 0, time.UTC)
	ctx := context.Background()
	// gateway -> cart, client first; cart -> payments, server first; a failed call.
	require.NoError(t, h.c.ConsumeTraces(ctx, traces(
		sp{service: "gateway", kind: ptrace.SpanKindClient, trace: 1, id: 1, end: end, dur: 5 * time.Millisecond},
		sp{service: "payments", kind: ptrace.SpanKindServer, trace: 1, id: 3, parent: 2, end: end, dur: time.Millisecond, err: true},
	)))
	require.NoError(t, h.c.ConsumeTraces(ctx, traces(
		sp{service: "cart", kind: ptrace.SpanKindServer, trace: 1, id: 4, parent: 1, end: end, dur: 4 * time.Millisecond},
		sp{service: "cart", kind: ptrace.SpanKindClient, trace: 1, id: 2, end: end, dur: 2 * time.Millisecond},
		// A database call and a cache call by peer.service: no server spans.
		sp{service: "cart", kind: ptrace.SpanKindClient, trace: 1, id: 5, end: end, dur: time.Millisecond, attrs: map[string]any{"db.system": "postgresql"}},
		sp{service: "cart", kind: ptrace.SpanKindClient, trace: 1, id: 6, end: end, dur: time.Millisecond, attrs: map[string]any{"peer.service": "redis"}},
		// Messaging: producer in checkout, consumer in notifications.
		sp{service: "checkout", kind: ptrace.SpanKindProducer, trace: 2, id: 7, end: end, dur: time.Millisecond},
		sp{service: "notifications", kind: ptrace.SpanKindConsumer, trace: 2, id: 8, parent: 7, end: end, dur: time.Millisecond},
		// Unpaired: a client call nobody answers, a server span whose client is not traced.
		sp{service: "search", kind: ptrace.SpanKindClient, trace: 3, id: 9, end: end, dur: time.Millisecond},
		sp{service: "search", kind: ptrace.SpanKindServer, trace: 3, id: 10, parent: 99, end: end, dur: time.Millisecond},
	)))
	assert.Equal(t, map[[3]string]uint64{
		{"gateway", "cart", ""}:                    1,
		{"cart", "payments", "!"}:                  1,
		{"checkout", "notifications", "messaging"}: 1,
	}, edgeCounts(h.flush(t)), "paired edges are emitted at once; virtual ones wait")
	h.now = h.now.Add(2 * time.Second)
	assert.Equal(t, map[[3]string]uint64{
		{"cart", "postgresql", "database"}: 1,
		{"cart", "redis", "virtual"}:       1,
	}, edgeCounts(h.flush(t)))
	m, err := h.tel.GetMetric("weir_red_unpaired_spans")
	require.NoError(t, err)
	var unpaired int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		unpaired += dp.Value
	}
	assert.Equal(t, int64(2), unpaired)
}

func TestGraph_PendingIsBounded(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ServiceGraph.MaxPending = 100 })
	end := time.Date(2026, 11, 27, 10, 0, 30, 0, time.UTC)
	for i := 0; i < 1000; i++ {
		require.NoError(t, h.c.ConsumeTraces(context.Background(), traces(sp{service: "a", kind: ptrace.SpanKindClient, trace: byte(i), id: byte(i >> 8), end: end, dur: time.Millisecond, attrs: map[string]any{"peer.service": "ext"}})))
		require.LessOrEqual(t, len(h.c.graph.pending), 100)
	}
	h.now = h.now.Add(time.Minute)
	got := edgeCounts(h.flush(t))
	assert.Equal(t, uint64(1000), got[[3]string{"a", "ext", "virtual"}], "evicted halves still become their virtual edge")
	// Evicted unanswered, the peer's halves turn it silent after SilentPeerAfter of them:
	// its calls then skip pending, with the same edges.
	assert.Equal(t, int64(1000-100-128-(1000-100-128)/probeEvery), h.c.graph.silentCalls, "halves evicted at max_pending count as unanswered")
}

// A dimension comes from the span's attribute, else from its resource's, else is left out;
// the first of duplicate keys counts, as Map.Get reads it.
func TestRED_DimensionsSpanThenResource(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Dimensions = []string{"region", "http.route", "tier", "code"} })
	end := time.Date(2026, 11, 27, 10, 0, 30, 0, time.UTC)
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "api")
	rs.Resource().Attributes().PutStr("region", "eu")
	rs.Resource().Attributes().PutStr("http.route", "/from-resource")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	add := func(name string, attrs func(pcommon.Map)) {
		x := spans.AppendEmpty()
		x.SetName(name)
		x.SetKind(ptrace.SpanKindServer)
		x.SetTraceID(pcommon.TraceID{byte(len(name)), 7})
		x.SetSpanID(pcommon.SpanID{byte(len(name)), 7})
		x.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-time.Millisecond)))
		x.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
		attrs(x.Attributes())
	}
	add("resource", func(pcommon.Map) {})
	add("span", func(m pcommon.Map) {
		m.PutStr("http.route", "/from-span")
		m.PutStr("region", "us")
		m.PutInt("code", 404)
		m.PutStr("other", "x")
	})
	add("first", func(m pcommon.Map) {
		// pdata maps should not hold a key twice; if one does (as decoded from the wire),
		// the first wins, as with Map.Get.
		dup, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[` +
			`{"key":"tier","value":{"stringValue":"gold"}},{"key":"tier","value":{"stringValue":"silver"}}]}]}]}]}`))
		require.NoError(t, err)
		dupAttrs := dup.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()
		require.Equal(t, 2, dupAttrs.Len(), "the decoder keeps both")
		dupAttrs.CopyTo(m)
	})
	// A second resource without the attributes: nothing of the first resource leaks into it.
	rs2 := td.ResourceSpans().AppendEmpty()
	rs2.Resource().Attributes().PutStr("service.name", "api")
	spans = rs2.ScopeSpans().AppendEmpty().Spans()
	add("bare", func(pcommon.Map) {})
	require.NoError(t, h.c.ConsumeTraces(context.Background(), td))

	got := map[string]map[string]any{}
	for _, p := range find(h.flush(t), model.REDMetric, nil) {
		a := p.attrs
		name := a["span.name"].(string)
		for _, k := range []string{"service", "span.name", "span.kind", "status.code"} {
			delete(a, k)
		}
		got[name] = a
	}
	assert.Equal(t, map[string]map[string]any{
		"resource": {"region": "eu", "http.route": "/from-resource"},
		"span":     {"region": "us", "http.route": "/from-span", "code": "404"},
		"first":    {"region": "eu", "http.route": "/from-resource", "tier": "gold"},
		"bare":     {},
	}, got)
}

// With more dimensions than readDims compares by name, the map lookup gives the same series.
func TestRED_ManyDimensions(t *testing.T) {
	dims := []string{"d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9"}
	require.Greater(t, len(dims), maxLinearDims)
	h := newHarness(t, func(c *Config) { c.Dimensions = dims })
	end := time.Date(2026, 11, 27, 10, 0, 30, 0, time.UTC)
	require.NoError(t, h.c.ConsumeTraces(context.Background(), traces(
		sp{service: "api", name: "a", end: end, dur: time.Millisecond, attrs: map[string]any{"d9": "x", "d0": true, "d5": 1.5, "zz": "y"}},
		sp{service: "api", name: "a", end: end, dur: time.Millisecond, attrs: map[string]any{"d0": true, "d5": 1.5, "d9": "x"}},
	)))
	ps := find(h.flush(t), model.REDMetric, nil)
	require.Len(t, ps, 1)
	assert.Equal(t, uint64(2), ps[0].count)
	assert.Equal(t, "x", ps[0].attrs["d9"])
	assert.Equal(t, "true", ps[0].attrs["d0"])
	assert.Equal(t, "1.5", ps[0].attrs["d5"])
	assert.NotContains(t, ps[0].attrs, "d1")
}

// Fractional adjusted counts (a threshold that is not a power of two) are summed per bucket
// and rounded once, at emission.
func TestRED_FractionalAdjustedCounts(t *testing.T) {
	h := newHarness(t, nil)
	end := time.Date(2026, 11, 27, 10, 0, 30, 0, time.UTC)
	var spans []sp
	for i := 0; i < 3; i++ {
		spans = append(spans, sp{service: "api", name: "a", kind: ptrace.SpanKindServer, end: end, dur: time.Millisecond, state: "ot=th:4"})
	}
	require.NoError(t, h.c.ConsumeTraces(context.Background(), traces(spans...)))
	ps := find(h.flush(t), model.REDMetric, nil)
	require.Len(t, ps, 1)
	// th:4 keeps 1 - 4/16 = 3/4 of traces: each span stands for 4/3, three for 4.
	assert.Equal(t, uint64(4), ps[0].count)
	assert.InDelta(t, 4e6, ps[0].sum, 1)
}

// Counting a span allocates nothing once its series exists (no service graph).
func TestRED_NoAllocationsPerSpan(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Dimensions = []string{"http.route", "http.request.method"} })
	end := time.Date(2026, 11, 27, 10, 0, 30, 0, time.UTC)
	var spans []sp
	for i := 0; i < 100; i++ {
		spans = append(spans, sp{service: "api", name: "GET", kind: ptrace.SpanKindServer, end: end, dur: time.Duration(i+1) * time.Millisecond,
			attrs: map[string]any{"http.route": "/r", "http.request.method": "GET", "url.scheme": "http", "code": 200}})
	}
	td := traces(spans...)
	ctx := context.Background()
	require.NoError(t, h.c.ConsumeTraces(ctx, td))
	req, err := h.c.enc.MarshalTraces(td)
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() { _ = h.c.ConsumeWire(req, h.now) })
	assert.Zero(t, allocs)
	// The pdata path too.
	allocs = testing.AllocsPerRun(100, func() { h.c.ConsumePdata(td, h.now) })
	assert.Zero(t, allocs)
}

// A series remembers its last window's histogram; a flush, or a span of another window,
// must not leave it counting into an emitted or wrong one.
func TestRED_WindowCacheAcrossFlushes(t *testing.T) {
	h := newHarness(t, nil)
	m0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) sp {
		return sp{service: "api", name: "a", kind: ptrace.SpanKindServer, end: m0.Add(d), dur: time.Millisecond}
	}
	counts := func() map[time.Time]uint64 {
		out := map[time.Time]uint64{}
		for _, p := range find(h.flush(t), model.REDMetric, nil) {
			out[p.start] += p.count
		}
		return out
	}
	ctx := context.Background()
	require.NoError(t, h.c.ConsumeTraces(ctx, traces(at(time.Second), at(2*time.Second), at(61*time.Second), at(3*time.Second))))
	assert.Equal(t, map[time.Time]uint64{m0: 3, m0.Add(time.Minute): 1}, counts())
	require.NoError(t, h.c.ConsumeTraces(ctx, traces(at(4*time.Second))))
	assert.Equal(t, map[time.Time]uint64{m0: 1}, counts(), "after a flush the window starts over")
	assert.Empty(t, counts())
}

// A paired half is reused at once; its old place in the arrival order must neither expire
// the half's next use early nor count it twice.
func TestGraph_ReusedHalvesExpireOnTime(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ServiceGraph.WaitTime = time.Second })
	end := time.Date(2026, 11, 27, 10, 0, 30, 0, time.UTC)
	ctx := context.Background()
	require.NoError(t, h.c.ConsumeTraces(ctx, traces(
		sp{service: "a", kind: ptrace.SpanKindClient, trace: 1, id: 1, end: end, dur: time.Millisecond},
		sp{service: "b", kind: ptrace.SpanKindServer, trace: 1, id: 2, parent: 1, end: end, dur: time.Millisecond},
	)))
	require.Len(t, h.c.graph.free, 1, "the paired half is free again")
	reused := h.c.graph.free[0]
	h.now = h.now.Add(900 * time.Millisecond)
	require.NoError(t, h.c.ConsumeTraces(ctx, traces(
		sp{service: "a", kind: ptrace.SpanKindClient, trace: 2, id: 3, end: end, dur: time.Millisecond, attrs: map[string]any{"peer.service": "ext"}},
	)))
	require.Same(t, reused, h.c.graph.pending[halfKey{[16]byte{2, 1}, [8]byte{3, 1}}.hash()])
	h.now = h.now.Add(200 * time.Millisecond) // 1.1 s after the first use, 0.2 s after the second
	assert.Equal(t, map[[3]string]uint64{{"a", "b", ""}: 1}, edgeCounts(h.flush(t)))
	require.Len(t, h.c.graph.pending, 1, "not expired by its first use's order entry")
	h.now = h.now.Add(time.Second)
	assert.Equal(t, map[[3]string]uint64{{"a", "ext", "virtual"}: 1}, edgeCounts(h.flush(t)))
	assert.Empty(t, h.c.graph.pending)
	assert.Empty(t, edgeCounts(h.flush(t)))
}

// Pairing allocates nothing once the graph's free halves and edges exist.
func TestGraph_NoAllocationsPerPair(t *testing.T) {
	h := newHarness(t, nil)
	end := time.Date(2026, 11, 27, 10, 0, 30, 0, time.UTC)
	var spans []sp
	for i := 0; i < 50; i++ {
		spans = append(spans,
			sp{service: "a", kind: ptrace.SpanKindClient, trace: byte(i), id: 1, end: end, dur: time.Millisecond},
			sp{service: "b", kind: ptrace.SpanKindServer, trace: byte(i), id: 2, parent: 1, end: end, dur: time.Millisecond})
	}
	td := traces(spans...)
	ctx := context.Background()
	require.NoError(t, h.c.ConsumeTraces(ctx, td))
	h.flush(t) // compacts the arrival order
	require.NoError(t, h.c.ConsumeTraces(ctx, td))
	req, err := h.c.enc.MarshalTraces(td)
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() { _ = h.c.ConsumeWire(req, h.now) })
	assert.Zero(t, allocs)
	// The pdata path too.
	allocs = testing.AllocsPerRun(100, func() { h.c.ConsumePdata(td, h.now) })
	assert.Zero(t, allocs)
}

// Two halves waiting under one key (a server span delivered twice, two consumers of one
// producer): when the older expires, the newer keeps waiting and still pairs.
func TestGraph_ExpiringHalfLeavesItsTwinPending(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ServiceGraph.WaitTime = time.Second })
	end := time.Date(2026, 11, 27, 10, 0, 30, 0, time.UTC)
	ctx := context.Background()
	require.NoError(t, h.c.ConsumeTraces(ctx, traces(
		sp{service: "b", kind: ptrace.SpanKindServer, trace: 1, id: 2, parent: 1, end: end, dur: time.Millisecond})))
	h.now = h.now.Add(900 * time.Millisecond)
	require.NoError(t, h.c.ConsumeTraces(ctx, traces(
		sp{service: "b", kind: ptrace.SpanKindServer, trace: 1, id: 3, parent: 1, end: end, dur: time.Millisecond})))
	h.now = h.now.Add(200 * time.Millisecond) // the first is 1.1 s old: it expires
	h.flush(t)
	require.Len(t, h.c.graph.pending, 1, "the second half still waits")
	require.NoError(t, h.c.ConsumeTraces(ctx, traces(
		sp{service: "a", kind: ptrace.SpanKindClient, trace: 1, id: 1, end: end, dur: time.Millisecond})))
	assert.Equal(t, uint64(1), edgeCounts(h.flush(t))[[3]string{"a", "b", ""}])
}

// TestRED_WireAndPdataCountAlike: random OTLP counted through the wire path, the pdata path
// and staged then applied (after a request that did not decode was staged and dropped) gives
// the same RED and edge points.
func TestRED_WireAndPdataCountAlike(t *testing.T) {
	for seed := uint64(0); seed < 100; seed++ {
		g := otlpgen.New(seed)
		g.Big = 200
		td := g.Traces(4, 3, 8)
		now := time.Unix(1_790_000_000, 0)
		run := func(way string) pmetric.Metrics {
			cfg := DefaultConfig()
			cfg.Dimensions = append(cfg.Dimensions, "k1", "k2", "peer.service")
			a, err := New(cfg, componenttest.NewNopTelemetrySettings())
			require.NoError(t, err)
			req, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
			require.NoError(t, err)
			switch way {
			case "wire":
				require.NoError(t, a.ConsumeWire(req, now))
			case "staged":
				// A request that does not decode, staged and dropped, counts nothing.
				var st Staged
				require.Error(t, a.ConsumeWireStaged(req[:len(req)-1], now, nil, &st))
				st.Reset()
				require.NoError(t, a.ConsumeWireStaged(req, now, nil, &st))
				a.Apply(&st)
			default:
				a.ConsumePdata(td, now)
			}
			out := NewMetricsOutput(int64(cfg.Window))
			a.Flush(now, true, out)
			return out.Metrics()
		}
		p := run("pdata")
		for _, way := range []string{"wire", "staged"} {
			require.NoError(t, pmetrictest.CompareMetrics(p, run(way), pmetrictest.IgnoreResourceMetricsOrder(),
				pmetrictest.IgnoreMetricDataPointsOrder(), pmetrictest.IgnoreScopeMetricsOrder()), "seed %d, %s", seed, way)
		}
	}
}

// A peer that never answers becomes silent: its calls are edges at once, not after
// wait_time. It stops being silent when a probe pairs, or when a service of its name sends a
// server span; the calls counted virtual meanwhile are fewer than probeEvery.
func TestGraph_SilentPeers(t *testing.T) {
	const after = 8
	h := newHarness(t, func(c *Config) {
		c.ServiceGraph.WaitTime = time.Second
		c.ServiceGraph.SilentPeerAfter = after
	})
	end := time.Date(2026, 11, 27, 10, 0, 30, 0, time.UTC)
	ctx := context.Background()
	trace := byte(0)
	call := func(peer string, answeredBy string) {
		trace++
		spans := []sp{{service: "a", kind: ptrace.SpanKindClient, trace: trace, id: 1, end: end, dur: time.Millisecond, attrs: map[string]any{"peer.service": peer}}}
		if answeredBy != "" {
			spans = append(spans, sp{service: answeredBy, kind: ptrace.SpanKindServer, trace: trace, id: 2, parent: 1, end: end, dur: time.Millisecond})
		}
		require.NoError(t, h.c.ConsumeTraces(ctx, traces(spans...)))
	}
	for range after {
		call("ext", "")
	}
	assert.Empty(t, edgeCounts(h.flush(t)), "not silent yet: the calls wait")
	h.now = h.now.Add(2 * time.Second)
	assert.Equal(t, map[[3]string]uint64{{"a", "ext", "virtual"}: after}, edgeCounts(h.flush(t)))

	for range 2 * probeEvery {
		call("ext", "")
	}
	assert.Equal(t, map[[3]string]uint64{{"a", "ext", "virtual"}: 2*probeEvery - 2}, edgeCounts(h.flush(t)),
		"silent: edges at once, but for the probes")
	assert.Len(t, h.c.graph.pending, 2, "the probes wait")
	assert.Equal(t, int64(2*probeEvery-2), h.c.graph.silentCalls)
	h.now = h.now.Add(2 * time.Second)
	assert.Equal(t, map[[3]string]uint64{{"a", "ext", "virtual"}: 2}, edgeCounts(h.flush(t)))

	// ext starts sending spans under its own name: its next caller waits again, and pairs.
	require.NoError(t, h.c.ConsumeTraces(ctx, traces(sp{service: "ext", kind: ptrace.SpanKindServer, trace: 200, id: 9, end: end, dur: time.Millisecond})))
	call("ext", "ext")
	assert.Equal(t, map[[3]string]uint64{{"a", "ext", ""}: 1}, edgeCounts(h.flush(t)))

	// A peer answered by a service of another name: silent first, then a probe pairs and
	// every call after it pairs.
	for range after {
		call("pay", "")
	}
	h.now = h.now.Add(2 * time.Second)
	h.flush(t)
	for range 3 * probeEvery {
		call("pay", "payments-api")
	}
	h.now = h.now.Add(2 * time.Second)
	got := edgeCounts(h.flush(t))
	assert.Equal(t, uint64(3*probeEvery), got[[3]string{"a", "pay", "virtual"}]+got[[3]string{"a", "payments-api", ""}])
	assert.Less(t, got[[3]string{"a", "pay", "virtual"}], uint64(probeEvery), "counted virtual only until the first probe paired")
}
