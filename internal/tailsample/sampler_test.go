package tailsample

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// clock is a manual clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	ts   *Sampler
	sink *consumertest.TracesSink
	clk  *clock
	tel  *componenttest.Telemetry
}

func testConfig() *Config {
	cfg := DefaultConfig()
	cfg.TickInterval = time.Hour // tests tick by hand
	cfg.Baseline.Probability = 0
	cfg.Latency = LatencyPolicy{}
	return cfg
}

func newHarness(t *testing.T, cfg *Config) *harness {
	t.Helper()
	require.NoError(t, cfg.Validate())
	h := &harness{sink: new(consumertest.TracesSink), clk: &clock{t: time.Unix(1_790_000_000, 0)}, tel: componenttest.NewTelemetry()}
	ts, err := New(cfg, h.tel.NewTelemetrySettings(), PdataOutput(h.sink, cfg.ReasonAttribute))
	require.NoError(t, err)
	ts.now = h.clk.now
	t.Cleanup(func() {
		require.NoError(t, ts.Shutdown(context.Background()))
		_ = h.tel.Shutdown(context.Background())
	})
	h.ts = ts
	return h
}

func (h *harness) send(t *testing.T, td ptrace.Traces) {
	t.Helper()
	req, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	require.NoError(t, h.ts.Consume(context.Background(), req))
}

// advance moves the clock and runs a decision round.
func (h *harness) advance(t *testing.T, d time.Duration) {
	t.Helper()
	h.clk.add(d)
	require.NoError(t, h.ts.Tick(context.Background()))
}

// kept returns, per trace ID (hex of its first 8 bytes), the reason its spans were kept
// with, and the number of kept spans.
func (h *harness) kept() (map[uint64]string, int) {
	out := map[uint64]string{}
	n := 0
	for _, td := range h.sink.AllTraces() {
		forEachSpan(td, func(sp ptrace.Span) {
			id := sp.TraceID()
			r, _ := sp.Attributes().Get("weir.sampling.reason")
			out[binary.BigEndian.Uint64(id[:8])] = r.Str()
			n++
		})
	}
	return out, n
}

// spanSpec describes one span of a test trace.
type spanSpec struct {
	trace    uint64
	span     uint64
	parent   uint64 // 0: root
	service  string
	err      bool
	dur      time.Duration
	attrs    map[string]any
	resAttrs map[string]any
	state    string
}

func traceID(n uint64) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], n)
	// The low 56 bits are the randomness: spread them so test traces are not all alike.
	binary.BigEndian.PutUint64(id[8:], n*0x9e3779b97f4a7c15)
	return id
}

func spanID(n uint64) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], n)
	return id
}

func makeTraces(specs ...spanSpec) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, s := range specs {
		rs := td.ResourceSpans().AppendEmpty()
		svc := s.service
		if svc == "" {
			svc = "svc"
		}
		rs.Resource().Attributes().PutStr("service.name", svc)
		_ = rs.Resource().Attributes().FromRaw(mergeRaw(map[string]any{"service.name": svc}, s.resAttrs))
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(traceID(s.trace))
		sp.SetSpanID(spanID(s.span))
		if s.parent != 0 {
			sp.SetParentSpanID(spanID(s.parent))
		}
		sp.SetName(fmt.Sprintf("op-%d", s.span))
		start := pcommon.Timestamp(1_790_000_000_000_000_000 + s.span*1000)
		sp.SetStartTimestamp(start)
		dur := s.dur
		if dur == 0 {
			dur = time.Millisecond
		}
		sp.SetEndTimestamp(start + pcommon.Timestamp(dur))
		if s.err {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
		_ = sp.Attributes().FromRaw(s.attrs)
		sp.TraceState().FromRaw(s.state)
	}
	return td
}

func mergeRaw(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func TestPolicies(t *testing.T) {
	cfg := testConfig()
	cfg.Latency = LatencyPolicy{TraceThreshold: time.Second, SpanThreshold: 500 * time.Millisecond}
	min, max := 500.0, 599.0
	cfg.Attributes = []AttributePolicy{
		{Name: "vip", Key: "customer.tier", Values: []string{"gold", "platinum"}},
		{Name: "admin", Key: "http.route", Regex: "^/admin/"},
		{Name: "5xx", Key: "http.response.status_code", Min: &min, Max: &max},
		{Name: "canary", Key: "deployment", Resource: true, Values: []string{"canary"}},
	}
	cfg.SpanCount = SpanCountPolicy{Min: 4}
	h := newHarness(t, cfg)

	cases := []struct {
		name   string
		spans  []spanSpec
		reason string // "" = dropped
	}{
		{"plain", []spanSpec{{span: 1}, {span: 2, parent: 1}}, ""},
		{"error in a child", []spanSpec{{span: 1}, {span: 2, parent: 1, err: true}}, "error"},
		{"error beats latency", []spanSpec{{span: 1, dur: 2 * time.Second, err: true}}, "error"},
		{"slow span", []spanSpec{{span: 1, dur: 600 * time.Millisecond}}, "latency"},
		{"slow trace", []spanSpec{{span: 1, dur: 400 * time.Millisecond}, {span: 2, parent: 1, dur: 400 * time.Millisecond}, {span: 1_200_000_000, parent: 1, dur: time.Millisecond}}, "latency"},
		{"attribute value", []spanSpec{{span: 1}, {span: 2, parent: 1, attrs: map[string]any{"customer.tier": "gold"}}}, "attribute:vip"},
		{"attribute value other", []spanSpec{{span: 1, attrs: map[string]any{"customer.tier": "bronze"}}}, ""},
		{"attribute regex", []spanSpec{{span: 1, attrs: map[string]any{"http.route": "/admin/users"}}}, "attribute:admin"},
		{"attribute regex miss", []spanSpec{{span: 1, attrs: map[string]any{"http.route": "/public/admin/"}}}, ""},
		{"numeric range int", []spanSpec{{span: 1, attrs: map[string]any{"http.response.status_code": 503}}}, "attribute:5xx"},
		{"numeric range double", []spanSpec{{span: 1, attrs: map[string]any{"http.response.status_code": 500.5}}}, "attribute:5xx"},
		{"numeric range out", []spanSpec{{span: 1, attrs: map[string]any{"http.response.status_code": 404}}}, ""},
		{"numeric range wrong type", []spanSpec{{span: 1, attrs: map[string]any{"http.response.status_code": "503"}}}, ""},
		{"resource attribute", []spanSpec{{span: 1, resAttrs: map[string]any{"deployment": "canary"}}}, "attribute:canary"},
		{"resource attribute not on span", []spanSpec{{span: 1, attrs: map[string]any{"deployment": "canary"}}}, ""},
		{"first attribute policy wins", []spanSpec{{span: 1, attrs: map[string]any{"http.route": "/admin/x", "customer.tier": "platinum"}}}, "attribute:vip"},
		{"span count", []spanSpec{{span: 1}, {span: 2, parent: 1}, {span: 3, parent: 1}, {span: 4, parent: 1}}, "span_count"},
	}
	for i, tc := range cases {
		for j := range tc.spans {
			tc.spans[j].trace = uint64(i + 1)
		}
		h.send(t, makeTraces(tc.spans...))
	}
	h.advance(t, cfg.IdleTime)
	kept, _ := h.kept()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := kept[uint64(i+1)]
			if tc.reason == "" {
				assert.False(t, ok, "kept as %q", r)
				return
			}
			assert.True(t, ok, "dropped")
			assert.Equal(t, tc.reason, r)
		})
	}
}

func TestTiming_RootIdleMaxWaitAndNoRoot(t *testing.T) {
	cfg := testConfig()
	cfg.Errors.Enabled = false
	cfg.Baseline.Probability = 1
	cfg.IdleTime, cfg.MaxWait = 2*time.Second, 10*time.Second
	h := newHarness(t, cfg)

	h.send(t, makeTraces(spanSpec{trace: 1, span: 1}))             // root only
	h.send(t, makeTraces(spanSpec{trace: 2, span: 2, parent: 99})) // no root yet
	h.advance(t, time.Second)
	_, n := h.kept()
	assert.Equal(t, 0, n, "nothing is due before idle_time")
	h.send(t, makeTraces(spanSpec{trace: 1, span: 3, parent: 1})) // trace 1 not quiet yet
	h.advance(t, 1500*time.Millisecond)
	_, n = h.kept()
	assert.Equal(t, 0, n, "trace 1 got a span 1.5s ago")
	h.advance(t, time.Second)
	kept, n := h.kept()
	assert.Equal(t, 2, n, "trace 1 (root ended, quiet 2.5s) decided with both spans")
	assert.Contains(t, kept, uint64(1))
	h.advance(t, 6*time.Second)
	_, n = h.kept()
	assert.Equal(t, 2, n, "a trace without root waits for max_wait")
	h.advance(t, 2*time.Second)
	kept, n = h.kept()
	assert.Equal(t, 3, n, "trace 2 decided at max_wait without its root")
	assert.Contains(t, kept, uint64(2))
	assert.Equal(t, int64(1), sumCounter(t, h.tel, "weir_tailsampling_traces_decided", "cause", "max_wait"))
	assert.Equal(t, int64(1), sumCounter(t, h.tel, "weir_tailsampling_traces_decided", "cause", "complete"))
}

func TestLateSpansFollowTheDecision(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	h.send(t, makeTraces(spanSpec{trace: 1, span: 1, err: true}, spanSpec{trace: 2, span: 2}))
	h.advance(t, cfg.IdleTime)
	_, n := h.kept()
	require.Equal(t, 1, n)
	h.send(t, makeTraces(spanSpec{trace: 1, span: 3, parent: 1}, spanSpec{trace: 2, span: 4, parent: 2}))
	kept, n := h.kept()
	assert.Equal(t, 2, n, "the late span of the kept trace goes straight through")
	assert.Equal(t, "error", kept[1], "with the trace's reason")
	assert.Equal(t, int64(1), sumCounter(t, h.tel, "weir_tailsampling_late_spans", "decision", "kept"))
	assert.Equal(t, int64(1), sumCounter(t, h.tel, "weir_tailsampling_late_spans", "decision", "dropped"))
	h.advance(t, time.Hour)
	_, n = h.kept()
	assert.Equal(t, 2, n, "late spans are not held again")
}

// sumCounter adds the data points of an int counter whose attribute key has value.
func sumCounter(t *testing.T, tel *componenttest.Telemetry, name, key, value string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var total int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if v, ok := dp.Attributes.Value(attributeKey(key)); key == "" || ok && v.Emit() == value {
			total += dp.Value
		}
	}
	return total
}

func TestDeterministicAcrossInstancesAndArrivalOrder(t *testing.T) {
	cfg := testConfig()
	cfg.Baseline.Probability = 0.3
	cfg.SpanCount.Min = 6
	a, b := newHarness(t, cfg), newHarness(t, cfg)
	rng := rand.New(rand.NewPCG(1, 2))
	var specs []spanSpec
	for tr := uint64(1); tr <= 300; tr++ {
		n := 1 + rng.IntN(7)
		for s := 0; s < n; s++ {
			sp := spanSpec{trace: tr, span: tr*100 + uint64(s), err: rng.IntN(50) == 0}
			if s > 0 {
				sp.parent = tr * 100
			}
			specs = append(specs, sp)
		}
	}
	for _, s := range specs {
		a.send(t, makeTraces(s))
	}
	// b sees the same spans in another order, several per batch.
	rng.Shuffle(len(specs), func(i, j int) { specs[i], specs[j] = specs[j], specs[i] })
	for i := 0; i < len(specs); i += 5 {
		b.send(t, makeTraces(specs[i:min(i+5, len(specs))]...))
	}
	a.advance(t, cfg.IdleTime)
	b.advance(t, cfg.IdleTime)
	ka, na := a.kept()
	kb, nb := b.kept()
	assert.Equal(t, ka, kb, "same traces kept for the same reasons")
	assert.Equal(t, na, nb)
	assert.Greater(t, len(ka), 50)
	assert.Less(t, len(ka), 250)
}

// weightRun sends traces two-span traces (1% of them with an error) through a sampler with
// a 1% baseline and returns the sum of the kept traces' adjusted counts and how many it kept.
func weightRun(t *testing.T, traces int, seed uint64) (float64, int) {
	cfg := testConfig()
	cfg.Errors.Enabled = true
	cfg.Baseline.Probability = 0.01
	cfg.MaxBufferedBytes = 1 << 30
	h := newHarness(t, cfg)
	rng := rand.New(rand.NewPCG(seed, seed))
	const batchSize = 1000
	for i := 0; i < traces; i += batchSize {
		td := ptrace.NewTraces()
		ss := td.ResourceSpans().AppendEmpty()
		ss.Resource().Attributes().PutStr("service.name", "svc")
		spans := ss.ScopeSpans().AppendEmpty().Spans()
		for j := i; j < i+batchSize; j++ {
			var id pcommon.TraceID
			binary.BigEndian.PutUint64(id[:8], rng.Uint64())
			binary.BigEndian.PutUint64(id[8:], rng.Uint64())
			for k := 0; k < 2; k++ {
				sp := spans.AppendEmpty()
				sp.SetTraceID(id)
				sp.SetSpanID(spanID(uint64(j*2 + k + 1)))
				if k == 1 {
					sp.SetParentSpanID(spanID(uint64(j*2 + 1)))
				}
				if k == 1 && j%100 == 0 {
					sp.Status().SetCode(ptrace.StatusCodeError)
				}
			}
		}
		h.send(t, td)
		if i%(100*batchSize) == 0 {
			h.advance(t, cfg.IdleTime) // decide as we go, as the ticker would
		}
	}
	h.advance(t, cfg.IdleTime)
	traceWeights := map[pcommon.TraceID]float64{}
	for _, td := range h.sink.AllTraces() {
		forEachSpan(td, func(sp ptrace.Span) {
			w := 1.0
			if st, err := sampling.NewW3CTraceState(sp.TraceState().AsRaw()); err == nil && st.OTelValue().AdjustedCount() > 0 {
				w = st.OTelValue().AdjustedCount()
			}
			traceWeights[sp.TraceID()] = w
		})
	}
	var sum float64
	for _, w := range traceWeights {
		sum += w
	}
	return sum, len(traceWeights)
}

// A 1% sample of 100k traces keeps about 1,000, so its sum of weights has a standard error
// of about 3.1% whatever the sampler: a deterministic-by-trace-ID sampler keeps each trace
// independently. So the 3% bound is checked on 1M traces (standard error 1%), and 100k-trace
// runs are checked for bias across seeds and against a 3-sigma bound each.
func TestWeights_SumEstimatesTrueCount(t *testing.T) {
	const traces = 1_000_000
	sum, kept := weightRun(t, traces, 7)
	t.Logf("1M traces: kept %d, sum of weights %.0f (%+.2f%%)", kept, sum, 100*(sum-traces)/traces)
	assert.InDelta(t, traces, sum, 0.03*traces)
	assert.Less(t, kept, traces/30, "a 1%% baseline plus 1%% errors keeps about 2%%")
}

func TestWeights_UnbiasedAcrossSeeds(t *testing.T) {
	const traces, seeds = 100_000, 10
	sigma := 3.1 // relative standard error of one 100k run, in percent
	var total float64
	for seed := uint64(1); seed <= seeds; seed++ {
		sum, _ := weightRun(t, traces, seed)
		off := 100 * (sum - traces) / traces
		t.Logf("seed %d: sum of weights %.0f (%+.2f%%)", seed, sum, off)
		assert.InDelta(t, 0, off, 3*sigma, "seed %d beyond 3 sigma", seed)
		total += sum
	}
	mean := 100 * (total/seeds - traces) / traces
	t.Logf("mean over %d seeds: %+.2f%%", seeds, mean)
	assert.InDelta(t, 0, mean, 3*sigma/3.16, "biased: the mean of %d runs is off by more than 3 standard errors", seeds)
}

func attributeKey(k string) attribute.Key { return attribute.Key(k) }

// bigBatch makes one batch holding n spans of one trace (one root).
func bigBatch(trace uint64, first, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "giant")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := first; i < first+n; i++ {
		sp := spans.AppendEmpty()
		sp.SetTraceID(traceID(trace))
		sp.SetSpanID(spanID(uint64(i + 1)))
		if i > 0 {
			sp.SetParentSpanID(spanID(1))
		}
		sp.SetName("SELECT 1")
		sp.Attributes().PutStr("db.statement", "SELECT * FROM items WHERE id = ?")
	}
	return td
}

func TestGiantTraceDoesNotCrowdOutOthers(t *testing.T) {
	cfg := testConfig()
	cfg.Baseline.Probability = 1
	cfg.MaxTraceBytes = 64 << 10 // held bytes are compressed: the giant trace is repetitive
	cfg.MaxBufferedBytes = 4 << 20
	h := newHarness(t, cfg)
	// Small traces before, during and after a 100k-span trace.
	for i := 0; i < 100; i++ {
		h.send(t, makeTraces(spanSpec{trace: uint64(1000 + i), span: uint64(1_000_000 + i)}))
		h.send(t, bigBatch(1, i*1000, 1000))
		h.ts.mu.Lock()
		held := h.ts.held
		h.ts.mu.Unlock()
		require.LessOrEqual(t, held, cfg.MaxBufferedBytes, "memory bound held at batch %d", i)
	}
	assert.Equal(t, int64(1), sumCounter(t, h.tel, "weir_tailsampling_trace_cap_reached", "", ""))
	h.advance(t, cfg.IdleTime)
	kept, n := h.kept()
	for i := 0; i < 100; i++ {
		assert.Contains(t, kept, uint64(1000+i), "small trace %d decided normally", i)
	}
	assert.Equal(t, 100+100_000, n, "every span of the giant trace was kept: early ones at the cap, the rest as late spans")
	assert.Equal(t, int64(0), sumCounter(t, h.tel, "weir_tailsampling_traces_decided", "cause", "memory"),
		"the giant trace hit its own cap, not the global bound")
}

func TestMemoryBound_DecidesOldestEarlyUnderFlood(t *testing.T) {
	cfg := testConfig()
	cfg.Baseline.Probability = 0.5
	cfg.MaxBufferedBytes = 1 << 20
	cfg.MaxTraceBytes = 64 << 10
	h := newHarness(t, cfg)
	const traces = 20_000
	for i := 0; i < traces; i += 100 {
		var specs []spanSpec
		for j := i; j < i+100; j++ {
			specs = append(specs, spanSpec{trace: uint64(j + 1), span: uint64(2*j + 1)}, spanSpec{trace: uint64(j + 1), span: uint64(2*j + 2), parent: uint64(2*j + 1)})
		}
		h.send(t, makeTraces(specs...))
		h.ts.mu.Lock()
		held := h.ts.held
		h.ts.mu.Unlock()
		require.LessOrEqual(t, held, cfg.MaxBufferedBytes)
	}
	forced := sumCounter(t, h.tel, "weir_tailsampling_traces_decided", "cause", "memory")
	assert.Greater(t, forced, int64(traces/2), "most traces were decided early")
	h.advance(t, cfg.IdleTime)
	decided := sumCounterAll(t, h.tel, "weir_tailsampling_traces_decided")
	assert.Equal(t, int64(traces), decided, "every trace was decided: none lost undecided")
	kept, n := h.kept()
	assert.Equal(t, 2*len(kept), n, "kept traces are whole")
	assert.InDelta(t, traces/2, len(kept), traces/20)
}

func sumCounterAll(t *testing.T, tel *componenttest.Telemetry, name string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	require.NoError(t, err)
	var total int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		total += dp.Value
	}
	return total
}

func TestBudget_CapsKeptSpansAndWeightsCompensate(t *testing.T) {
	cfg := testConfig()
	cfg.Errors.Enabled = false
	cfg.Baseline.Probability = 1
	cfg.Budgets = BudgetPolicy{DefaultSpansPerSecond: 200, Services: map[string]float64{"free": 0}}
	h := newHarness(t, cfg)
	rng := rand.New(rand.NewPCG(3, 4))
	// 10 seconds of 2,000 spans/s from "busy" (budget 200/s) and 100 spans/s from "free" (no cap).
	var busy, free int
	for sec := 0; sec < 10; sec++ {
		for b := 0; b < 10; b++ {
			var specs []spanSpec
			for i := 0; i < 200; i++ {
				busy++
				specs = append(specs, spanSpec{trace: rng.Uint64() >> 1, span: uint64(busy), service: "busy"})
			}
			for i := 0; i < 10; i++ {
				free++
				specs = append(specs, spanSpec{trace: rng.Uint64() >> 1, span: uint64(1<<40 + free), service: "free"})
			}
			h.send(t, makeTraces(specs...))
			h.advance(t, 100*time.Millisecond)
		}
	}
	h.advance(t, cfg.IdleTime)
	var keptBusy, keptFree int
	var weightBusy float64
	for _, td := range h.sink.AllTraces() {
		for r := 0; r < td.ResourceSpans().Len(); r++ {
			rs := td.ResourceSpans().At(r)
			svc, _ := rs.Resource().Attributes().Get("service.name")
			spans := rs.ScopeSpans().At(0).Spans()
			for i := 0; i < spans.Len(); i++ {
				if svc.Str() == "free" {
					keptFree++
					continue
				}
				keptBusy++
				st, err := sampling.NewW3CTraceState(spans.At(i).TraceState().AsRaw())
				require.NoError(t, err)
				weightBusy += st.OTelValue().AdjustedCount()
			}
		}
	}
	t.Logf("busy: kept %d of %d spans, sum of weights %.0f; free: kept %d of %d", keptBusy, busy, weightBusy, keptFree, free)
	assert.Equal(t, free, keptFree, "a service without a budget keeps everything at probability 1")
	assert.InDelta(t, 2000, keptBusy, 600, "about 200 spans/s over 10 s")
	assert.InDelta(t, busy, weightBusy, 0.15*float64(busy), "weights make up for the budget")
}

// TestTiming_EveryDueTraceDecidedAtItsTick: the decision round stops at the first held trace
// too young to be due; no trace behind it may be due. Traces arrive at random times, some get
// more spans later, some have a root; after every round the decided traces are exactly those
// due by the rules (max_wait after the first span, idle_time after the last once the root came),
// and each with the right cause.
func TestTiming_EveryDueTraceDecidedAtItsTick(t *testing.T) {
	cfg := testConfig()
	cfg.Errors.Enabled = false
	cfg.IdleTime, cfg.MaxWait = 2*time.Second, 5*time.Second
	h := newHarness(t, cfg)
	rng := rand.New(rand.NewPCG(3, 5))
	type tr struct {
		first, last time.Time
		root        bool
		decided     bool
	}
	traces := map[uint64]*tr{}
	next, span := uint64(1), uint64(1)
	causes := map[string]int64{}
	for step := 0; step < 300; step++ {
		now := h.clk.now()
		for i, n := 0, rng.IntN(4); i < n; i++ { // new traces
			root := rng.IntN(2) == 0
			var parent uint64
			if !root {
				parent = 999_999
			}
			h.send(t, makeTraces(spanSpec{trace: next, span: span, parent: parent}))
			traces[next] = &tr{first: now, last: now, root: root}
			next, span = next+1, span+1
		}
		for id, x := range traces { // more spans of held traces
			if x.decided || rng.IntN(5) > 0 {
				continue
			}
			h.send(t, makeTraces(spanSpec{trace: id, span: span, parent: 999_999}))
			x.last, span = now, span+1
		}
		h.advance(t, time.Duration(rng.IntN(1500))*time.Millisecond)
		now = h.clk.now()
		for id, x := range traces {
			if x.decided {
				continue
			}
			switch {
			case now.Sub(x.first) >= cfg.MaxWait:
				x.decided = true
				causes[causeMaxWait]++
			case x.root && now.Sub(x.last) >= cfg.IdleTime:
				x.decided = true
				causes[causeComplete]++
			}
			h.ts.mu.Lock()
			st := h.ts.traces.get(traceID(id))
			held := st != nil && !st.decided
			h.ts.mu.Unlock()
			require.Equal(t, x.decided, !held, "step %d trace %d", step, id)
		}
	}
	require.Greater(t, causes[causeMaxWait], int64(50))
	require.Greater(t, causes[causeComplete], int64(50))
	for cause, n := range causes {
		assert.Equal(t, n, sumCounter(t, h.tel, "weir_tailsampling_traces_decided", "cause", cause), cause)
	}
}

func forEachSpan(td ptrace.Traces, f func(ptrace.Span)) {
	rss := td.ResourceSpans()
	for r := 0; r < rss.Len(); r++ {
		sss := rss.At(r).ScopeSpans()
		for s := 0; s < sss.Len(); s++ {
			spans := sss.At(s).Spans()
			for i := 0; i < spans.Len(); i++ {
				f(spans.At(i))
			}
		}
	}
}

// TestOldestHeld_OutOfOrderPositions: concurrent callers log requests in one order and
// consume them in another. OldestHeld must be the lowest position any held trace needs,
// whichever came first: a caller truncates its log up to it, and a crash after that would
// lose the held spans logged below it.
func TestOldestHeld_OutOfOrderPositions(t *testing.T) {
	h := newHarness(t, testConfig())
	consumeAt := func(pos uint64, specs ...spanSpec) {
		t.Helper()
		req, err := ptraceotlp.NewExportRequestFromTraces(makeTraces(specs...)).MarshalProto()
		require.NoError(t, err)
		require.NoError(t, h.ts.ConsumeAt(context.Background(), req, pos, time.Time{}, nil))
	}
	_, ok := h.ts.OldestHeld()
	require.False(t, ok)

	consumeAt(200, spanSpec{trace: 1, span: 1})            // logged second, consumed first
	consumeAt(100, spanSpec{trace: 2, span: 2})            // logged first, consumed second
	consumeAt(300, spanSpec{trace: 3, span: 3, parent: 9}) // a child of trace 3, logged last
	consumeAt(50, spanSpec{trace: 3, span: 9})             // ... whose root was logged before all
	pos, ok := h.ts.OldestHeld()
	require.True(t, ok)
	assert.Equal(t, uint64(50), pos, "trace 3 needs the request at 50")

	// Decided and gone, a trace needs its positions no more.
	h.advance(t, time.Minute)
	_, ok = h.ts.OldestHeld()
	assert.False(t, ok)
}
