// Package tailsampling compares weir's tail sampler (weir_tail_sampling) with the contrib
// tail_sampling processor on the same synthetic stream, through their factories.
//
// The stream: requests of 50 traces of 10 spans (a SERVER root and 9 CLIENT children, the
// shape cmd/weirload sends with -trace-spans 10), 1% of traces with an Error span, 5% lasting
// 1.5 s against a latency threshold of 1 s; every trace has a fresh ID. Both samplers keep
// errors, keep slow traces and sample 10% of the rest, and hold a trace 10 s.
//
//	go test -run '^$' -bench . -benchtime 400x ./tailsampling       # from bench/
//	go test -run TestMemoryPerBufferedSpan -v ./tailsampling
//
// Figures that matter are ratios between the two in the same run: the machine is shared.
package tailsampling

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	contrib "github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	weir "github.com/weirhq/weir/processors/tailsamplingprocessor"
)

// The stream's shape, the same as weirload -trace-spans 10 -error-share 0.01 -slow-share 0.05
// -slow-duration 1.5s -batch 500.
const (
	spansPerTrace    = 10
	tracesPerRequest = 50
	spansPerRequest  = spansPerTrace * tracesPerRequest
	errorShare       = 0.01
	slowShare        = 0.05
	slowDuration     = 1500 * time.Millisecond
	spanDuration     = 123 * time.Microsecond
	latencyThreshold = time.Second
	decisionWait     = 10 * time.Second
)

// stream makes the requests. Two streams with the same seed make the same requests.
type stream struct {
	rng  *rand.Rand
	now  time.Time
	sent int
}

func newStream(seed uint64) *stream {
	return &stream{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: time.Unix(1_790_000_000, 0)}
}

// next returns one request of spansPerRequest spans in one resource and scope.
func (s *stream) next() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "telemetrygen")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("telemetrygen")
	spans := ss.Spans()
	spans.EnsureCapacity(spansPerRequest)
	s.now = s.now.Add(10 * time.Millisecond)
	start := pcommon.NewTimestampFromTime(s.now)
	end := pcommon.NewTimestampFromTime(s.now.Add(spanDuration))
	for t := 0; t < tracesPerRequest; t++ {
		var tid pcommon.TraceID
		binary.LittleEndian.PutUint64(tid[:8], s.rng.Uint64()|1)
		binary.LittleEndian.PutUint64(tid[8:], s.rng.Uint64())
		rootEnd := end
		if s.rng.Float64() < slowShare {
			rootEnd = pcommon.NewTimestampFromTime(s.now.Add(slowDuration))
		}
		withErr := s.rng.Float64() < errorShare
		var root pcommon.SpanID
		for i := 0; i < spansPerTrace; i++ {
			sp := spans.AppendEmpty()
			var sid pcommon.SpanID
			binary.LittleEndian.PutUint64(sid[:], s.rng.Uint64()|1)
			sp.SetTraceID(tid)
			sp.SetSpanID(sid)
			sp.SetStartTimestamp(start)
			a := sp.Attributes()
			a.EnsureCapacity(2)
			a.PutStr("net.sock.peer.addr", "1.2.3.4")
			if i == 0 {
				root = sid
				sp.SetEndTimestamp(rootEnd)
				sp.SetName("lets-go")
				sp.SetKind(ptrace.SpanKindServer)
				a.PutStr("peer.service", "telemetrygen-client")
				continue
			}
			sp.SetParentSpanID(root)
			sp.SetEndTimestamp(end)
			sp.SetName("okey-dokey")
			sp.SetKind(ptrace.SpanKindClient)
			a.PutStr("peer.service", "telemetrygen-server")
			if withErr && i == spansPerTrace-1 {
				sp.Status().SetCode(ptrace.StatusCodeError)
			}
		}
	}
	s.sent++
	return td
}

// requests makes n requests ahead of a measurement.
func (s *stream) requests(n int) []ptrace.Traces {
	out := make([]ptrace.Traces, n)
	for i := range out {
		out[i] = s.next()
	}
	return out
}

// sampler is one of the two processors with its own meter, read by hand.
type sampler struct {
	name   string
	proc   processor.Traces
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
	// counters name the metric counting traces taken in and traces decided.
	taken, decided string
}

// weirConfig is weir's config for the comparison: hold a trace wait (idle_time = max_wait),
// check held traces every tick (0: weir's default, a quarter of idle_time up to 1 s).
func weirConfig(wait, tick time.Duration) map[string]any {
	return map[string]any{
		"idle_time":          wait,
		"max_wait":           wait,
		"tick_interval":      tick,
		"max_buffered_bytes": int64(16) << 30, // never the bound in these benchmarks
		"errors":             map[string]any{"enabled": true},
		"latency":            map[string]any{"trace_threshold": latencyThreshold},
		"baseline":           map[string]any{"probability": 0.1},
	}
}

// contribConfig is contrib's equivalent: the top-level policies are OR-ed (a trace is kept
// when any keeps it); sample_on_first_match stops at the first, as weir does.
func contribConfig(wait time.Duration) map[string]any {
	return map[string]any{
		"decision_wait":                   wait,
		"num_traces":                      10_000_000, // never the bound in these benchmarks
		"sample_on_first_match":           true,
		"drop_pending_traces_on_shutdown": true, // shutdown is not measured; make it quick
		"policies": []any{
			map[string]any{"name": "errors", "type": "status_code", "status_code": map[string]any{"status_codes": []any{"ERROR"}}},
			map[string]any{"name": "slow", "type": "latency", "latency": map[string]any{"threshold_ms": latencyThreshold.Milliseconds()}},
			map[string]any{"name": "baseline", "type": "probabilistic", "probabilistic": map[string]any{"sampling_percentage": 10}},
		},
	}
}

func newSampler(tb testing.TB, name string, f processor.Factory, conf map[string]any) *sampler {
	tb.Helper()
	cfg := f.CreateDefaultConfig()
	require.NoError(tb, confmap.NewFromStringMap(conf).Unmarshal(cfg))
	if v, ok := cfg.(interface{ Validate() error }); ok {
		require.NoError(tb, v.Validate())
	}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	set := processortest.NewNopSettings(f.Type())
	set.MeterProvider = mp // the tracer stays a no-op: contrib starts a span per request
	proc, err := f.CreateTraces(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(tb, err)
	require.NoError(tb, proc.Start(context.Background(), componenttest.NewNopHost()))
	s := &sampler{name: name, proc: proc, reader: reader, mp: mp}
	switch name {
	case "weir":
		s.taken, s.decided = "weir_tailsampling_buffered_traces", "weir_tailsampling_traces_decided"
	case "contrib":
		s.taken, s.decided = "otelcol_processor_tail_sampling_new_trace_id_received", "otelcol_processor_tail_sampling_global_count_traces_sampled"
	}
	return s
}

func newWeir(tb testing.TB, wait, tick time.Duration) *sampler {
	return newSampler(tb, "weir", weir.NewFactory(), weirConfig(wait, tick))
}

func newContrib(tb testing.TB, wait time.Duration) *sampler {
	return newSampler(tb, "contrib", contrib.NewFactory(), contribConfig(wait))
}

func (s *sampler) shutdown(tb testing.TB) {
	tb.Helper()
	require.NoError(tb, s.proc.Shutdown(context.Background()))
	require.NoError(tb, s.mp.Shutdown(context.Background()))
}

// metric sums every data point of the named counter or gauge; 0 when it has none yet.
func (s *sampler) metric(tb testing.TB, name string) int64 {
	tb.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(tb, s.reader.Collect(context.Background(), &rm))
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					n += p.Value
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					n += p.Value
				}
			}
		}
	}
	return n
}

// waitFor polls the named metric until it reaches want. contrib's ConsumeTraces only queues a
// request for its event loop, so its work is finished when the loop has counted the traces.
func (s *sampler) waitFor(tb testing.TB, name string, want int64, limit time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for {
		got := s.metric(tb, name)
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: %s is %d after %s, want %d", s.name, name, got, limit, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// cpuTime is the CPU time of this process so far, user and system, all threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ingest feeds reqs to s and drops them as it goes.
func ingest(tb testing.TB, s *sampler, reqs []ptrace.Traces) {
	ctx := context.Background()
	for i := range reqs {
		if err := s.proc.ConsumeTraces(ctx, reqs[i]); err != nil {
			tb.Fatal(err)
		}
		reqs[i] = ptrace.Traces{}
	}
}

// benchIngest measures taking b.N requests in while nothing is decided: weir's decision loop
// does not tick (tick_interval 1h), contrib's ticks every second but has nothing due before
// decision_wait (10 s). The clock stops when contrib's event loop has taken every trace in.
// Reports wall and CPU (user+system of the whole process, GC included) per span, and heap
// allocations per span counted over every goroutine.
func benchIngest(b *testing.B, mk func(testing.TB) *sampler) {
	s := mk(b)
	reqs := newStream(1).requests(b.N)
	runtime.GC()
	var m0, m1 runtime.MemStats
	b.ResetTimer()
	runtime.ReadMemStats(&m0)
	c0, t0 := cpuTime(), time.Now()
	ingest(b, s, reqs)
	s.waitFor(b, s.taken, int64(b.N*tracesPerRequest), time.Minute)
	wall, cpu := time.Since(t0), cpuTime()-c0
	runtime.ReadMemStats(&m1)
	b.StopTimer()
	if d := s.metric(b, s.decided); d != 0 {
		b.Fatalf("%s decided %d traces during an ingest benchmark", s.name, d)
	}
	spans := float64(b.N * spansPerRequest)
	b.ReportMetric(float64(wall.Nanoseconds())/spans, "ns/span")
	b.ReportMetric(float64(cpu.Nanoseconds())/spans, "cpu-ns/span")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/spans, "allocs/span")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/spans, "B/span")
	s.shutdown(b)
}

func BenchmarkIngest_Weir(b *testing.B) {
	benchIngest(b, func(tb testing.TB) *sampler { return newWeir(tb, decisionWait, time.Hour) })
}

func BenchmarkIngest_Contrib(b *testing.B) {
	benchIngest(b, func(tb testing.TB) *sampler { return newContrib(tb, decisionWait) })
}

// cycleRequests is the stream of one full-cycle iteration: 200k spans, 20k traces.
const cycleRequests = 400

// benchFullCycle measures the CPU of taking in cycleRequests requests and deciding every
// trace of them, kept ones forwarded to a no-op consumer. Decisions wait 1 s here, not 10 s, so
// an iteration takes seconds; the process-level run (run-tailsampling.sh) uses 10 s. Wall time
// is mostly that wait, so the figure is CPU (user+system, whole process, GC included) per span.
func benchFullCycle(b *testing.B, mk func(testing.TB) *sampler) {
	var cpu time.Duration
	var allocs, bytes uint64
	st := newStream(2)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := mk(b)
		reqs := st.requests(cycleRequests)
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		b.StartTimer()
		c0 := cpuTime()
		ingest(b, s, reqs)
		s.waitFor(b, s.decided, cycleRequests*tracesPerRequest, time.Minute)
		cpu += cpuTime() - c0
		b.StopTimer()
		runtime.ReadMemStats(&m1)
		allocs += m1.Mallocs - m0.Mallocs
		bytes += m1.TotalAlloc - m0.TotalAlloc
		s.shutdown(b)
	}
	spans := float64(b.N * cycleRequests * spansPerRequest)
	b.ReportMetric(float64(cpu.Nanoseconds())/spans, "cpu-ns/span")
	b.ReportMetric(float64(allocs)/spans, "allocs/span")
	b.ReportMetric(float64(bytes)/spans, "B/span")
}

func BenchmarkFullCycle_Weir(b *testing.B) {
	benchFullCycle(b, func(tb testing.TB) *sampler { return newWeir(tb, time.Second, 0) })
}

func BenchmarkFullCycle_Contrib(b *testing.B) {
	benchFullCycle(b, func(tb testing.TB) *sampler { return newContrib(tb, time.Second) })
}

// TestMemoryPerBufferedSpan measures the heap that held, undecided spans take: 200k spans
// (20k traces) into each sampler, then the live heap (HeapAlloc after two GCs) and the heap
// in use (HeapInuse) against a baseline taken with the sampler started and empty. It logs
// the figures and their ratio; it asserts only that nothing was decided meanwhile.
func TestMemoryPerBufferedSpan(t *testing.T) {
	const requests = 400
	spans := float64(requests * spansPerRequest)
	type result struct{ alloc, inuse, own float64 }
	measure := func(s *sampler) result {
		st := newStream(3)
		m0 := heap()
		ctx := context.Background()
		for i := 0; i < requests; i++ {
			require.NoError(t, s.proc.ConsumeTraces(ctx, st.next()))
		}
		s.waitFor(t, s.taken, requests*tracesPerRequest, time.Minute)
		m1 := heap()
		require.Zero(t, s.metric(t, s.decided), "%s decided traces before the measurement", s.name)
		r := result{
			alloc: (float64(m1.HeapAlloc) - float64(m0.HeapAlloc)) / spans,
			inuse: (float64(m1.HeapInuse) - float64(m0.HeapInuse)) / spans,
		}
		if s.name == "weir" {
			r.own = float64(s.metric(t, "weir_tailsampling_buffered_bytes")) / spans
		}
		runtime.KeepAlive(s)
		return r
	}
	results := map[string]result{}
	// Alternate, twice each, and keep each one's smaller figure: a stray allocation elsewhere
	// in the process can only add.
	for round := 0; round < 2; round++ {
		for _, name := range []string{"contrib", "weir"} {
			var s *sampler
			if name == "weir" {
				s = newWeir(t, decisionWait, 0)
			} else {
				s = newContrib(t, decisionWait)
			}
			r := measure(s)
			s.shutdown(t)
			t.Logf("round %d %-7s: %6.0f B/span live heap (HeapAlloc), %6.0f B/span heap in use (HeapInuse)%s",
				round, name, r.alloc, r.inuse, ownBytes(r.own))
			if prev, ok := results[name]; !ok || r.alloc < prev.alloc {
				results[name] = r
			}
		}
	}
	w, c := results["weir"], results["contrib"]
	t.Logf("bytes per buffered span: weir %.0f, contrib %.0f; weir/contrib = %.3f (HeapAlloc), %.3f (HeapInuse)",
		w.alloc, c.alloc, w.alloc/c.alloc, w.inuse/c.inuse)
	t.Logf("weir's own account (weir_tailsampling_buffered_bytes) is %.0f B/span, %.2f of the heap it takes", w.own, w.own/w.alloc)
}

func ownBytes(b float64) string {
	if b == 0 {
		return ""
	}
	return fmt.Sprintf(", %.0f B/span by its own account", b)
}

// heap is the heap after two collections, so that what is left is live.
func heap() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}
