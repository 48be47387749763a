package ingest

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weirhq/weir/internal/metricstage"
	"github.com/weirhq/weir/internal/otlpgen"
	"github.com/weirhq/weir/internal/otlpwire"
	"github.com/weirhq/weir/internal/red"
	"github.com/weirhq/weir/internal/tailsample"
)

// BenchmarkEngine_Traces runs the engine as weir_otlp does (TakeTraces: the check, RED and
// the sampler), on requests of 510 spans in traces of 10 (bench-e2e.sh's load), into a journal
// on disk, without ClickHouse: RED and every span stored (keepall), or RED and the shipped
// sampler at 10% (sampled10; sampled10-check-then-take is the same through CheckTraces then
// Traces, each request read twice, as before TakeTraces). cpu-ns/span is this process's CPU
// (getrusage, the engine's background sealing and sampling included) per span. Run it with
// -benchtime 2000x: every request then carries new traces, as a real load does.
func BenchmarkEngine_Traces(b *testing.B) {
	g := otlpgen.New(1)
	var reqs [][]byte
	for i := 0; i < 2000; i++ {
		req, err := ptraceotlp.NewExportRequestFromTraces(g.TelemetrygenTraces(510, 10)).MarshalProto()
		if err != nil {
			b.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	for _, mode := range []string{"keepall", "sampled10", "sampled10-check-then-take"} {
		b.Run(mode, func(b *testing.B) {
			cfg := EngineConfig{RED: red.DefaultConfig(), Epoch: time.Second, Compression: CompressLZ4}
			if mode != "keepall" {
				cfg.Sampling = tailsample.DefaultConfig()
				cfg.Sampling.Baseline.Probability = 0.1
				cfg.Sampling.IdleTime = 100 * time.Millisecond
			}
			e, s := benchEngine(b, cfg)
			take := func(ctx context.Context, req []byte) error {
				_, err := e.TakeTraces(ctx, req)
				return err
			}
			if mode == "sampled10-check-then-take" {
				var rd otlpwire.Traces
				take = func(ctx context.Context, req []byte) error {
					if _, err := otlpwire.CheckTraces(&rd, req); err != nil {
						return err
					}
					return e.Traces(ctx, req)
				}
			}
			spans := runEngine(b, e, take, reqs, 510, "cpu-ns/span")
			if mode == "keepall" {
				// What a stored span takes in the blocks log, trace_index and RED rows
				// included: the figure to size weir_journal's max_size_mib by.
				b.ReportMetric(float64(s.Blocks.Size())/float64(spans), "journal-B/span")
			}
		})
	}
}

func rusage() (user, sys int64) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano(), ru.Stime.Nano()
}

// BenchmarkEngine_Metrics runs the engine as weir_otlp does on bench-e2e's metric load: 4096
// series of the five point types in turn (cumulative sums and histograms, delta exponential
// histograms, gauges, summaries), requests of 512 points, every series once per 8 requests,
// through the shipped stages (cumulative to delta, series limit) into a journal on disk.
// cpu-ns/point is this process's CPU per point, as in BenchmarkEngine_Traces.
func BenchmarkEngine_Metrics(b *testing.B) {
	const series, batch = 4096, 512
	start := time.Now().Add(-time.Hour)
	var reqs [][]byte
	for i := 0; i < 2000; i++ {
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "bench")
		sm := rm.ScopeMetrics().AppendEmpty()
		round := i / (series / batch)
		ts := pcommon.NewTimestampFromTime(start.Add(time.Duration(round) * 100 * time.Millisecond))
		for k := 0; k < batch; k++ {
			id := (i%(series/batch))*batch + k
			m := sm.Metrics().AppendEmpty()
			m.SetName(fmt.Sprintf("bench.type%d", id%5))
			var attrs pcommon.Map
			switch id % 5 {
			case 0:
				p := m.SetEmptyGauge().DataPoints().AppendEmpty()
				p.SetTimestamp(ts)
				p.SetDoubleValue(float64(round % 100))
				attrs = p.Attributes()
			case 1:
				s := m.SetEmptySum()
				s.SetIsMonotonic(true)
				s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				p := s.DataPoints().AppendEmpty()
				p.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
				p.SetTimestamp(ts)
				p.SetIntValue(int64(round * 3))
				attrs = p.Attributes()
			case 2:
				h := m.SetEmptyHistogram()
				h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				p := h.DataPoints().AppendEmpty()
				p.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
				p.SetTimestamp(ts)
				p.ExplicitBounds().FromRaw([]float64{1, 5, 10, 50, 100, 500, 1000})
				p.BucketCounts().FromRaw([]uint64{uint64(round), uint64(2 * round), 0, 0, uint64(round), 0, 0, 1})
				p.SetCount(uint64(4*round + 1))
				p.SetSum(float64(round) * 42)
				attrs = p.Attributes()
			case 3:
				h := m.SetEmptyExponentialHistogram()
				h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
				p := h.DataPoints().AppendEmpty()
				p.SetTimestamp(ts)
				p.SetScale(3)
				p.Positive().SetOffset(10)
				p.Positive().BucketCounts().FromRaw([]uint64{1, 2, 3, 2, 1})
				p.SetCount(9)
				p.SetSum(123)
				attrs = p.Attributes()
			default:
				p := m.SetEmptySummary().DataPoints().AppendEmpty()
				p.SetTimestamp(ts)
				p.SetCount(10)
				p.SetSum(55)
				q := p.QuantileValues().AppendEmpty()
				q.SetQuantile(0.5)
				q.SetValue(5)
				attrs = p.Attributes()
			}
			attrs.PutInt("series", int64(id))
			attrs.PutStr("worker", "w0")
		}
		req, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
		if err != nil {
			b.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	// take is the receiver's path: the request read once, checked whole, then taken;
	// check-then-take reads it twice, a check and then the points, as weir did before.
	for _, mode := range []string{"take", "check-then-take"} {
		b.Run(mode, func(b *testing.B) {
			stages := metricstage.DefaultConfig()
			e, _ := benchEngine(b, EngineConfig{Metrics: &stages, Epoch: time.Second, Compression: CompressLZ4})
			take := func(ctx context.Context, req []byte) error {
				_, err := e.TakeMetrics(ctx, req)
				return err
			}
			if mode == "check-then-take" {
				var rd otlpwire.Metrics
				take = func(ctx context.Context, req []byte) error {
					if _, err := otlpwire.CheckMetrics(&rd, req); err != nil {
						return err
					}
					return e.Metrics(ctx, req)
				}
			}
			runEngine(b, e, take, reqs, batch, "cpu-ns/point")
		})
	}
}

// benchEngine is a started engine on a store of its own, closed when b ends.
func benchEngine(b *testing.B, cfg EngineConfig) (*Engine, *Store) {
	s, err := OpenStore(StoreOptions{Dir: b.TempDir(), IngestMaxBytes: 4 << 30, BlocksMaxBytes: 4 << 30, SegmentBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if err := s.SetServerInfo(ServerInfo{Version: "18.16.1"}); err != nil {
		b.Fatal(err)
	}
	e, err := NewEngine(cfg, s, componenttest.NewNopTelemetrySettings())
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return e, s
}

// runEngine gives take the requests in turn for b's iterations, shuts e down and reports
// the process's CPU per item as unit, the engine's background work (seals, sampling)
// included. It returns the items taken.
func runEngine(b *testing.B, e *Engine, take func(context.Context, []byte) error, reqs [][]byte, perReq int, unit string) int {
	u0, s0 := rusage()
	b.ResetTimer()
	n := 0
	for i := 0; b.Loop(); i++ {
		if err := take(context.Background(), reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
		n += perReq
	}
	if err := e.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	u1, s1 := rusage()
	b.ReportMetric(float64((u1-u0)+(s1-s0))/float64(n), unit)
	b.ReportMetric(0, "ns/op")
	return n
}
