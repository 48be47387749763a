package ingest

import (
	"context"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weirhq/weir/internal/otlpgen"
	"github.com/weirhq/weir/internal/red"
	"github.com/weirhq/weir/internal/tailsample"
)

// BenchmarkEngine_Traces runs the engine as weir_otlp does, on requests of 510 spans in traces
// of 10 (bench-e2e.sh's load), into a journal on disk, without ClickHouse: RED and every span
// stored (keepall), or RED and the shipped sampler at 10%. cpu-ns/span is this process's CPU
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
	for _, mode := range []string{"keepall", "sampled10"} {
		b.Run(mode, func(b *testing.B) {
			s, err := OpenStore(StoreOptions{Dir: b.TempDir(), IngestMaxBytes: 4 << 30, BlocksMaxBytes: 4 << 30, SegmentBytes: 64 << 20})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.SetServerInfo(ServerInfo{Version: "18.16.1"}); err != nil {
				b.Fatal(err)
			}
			cfg := EngineConfig{RED: red.DefaultConfig(), Epoch: time.Second, Compression: CompressLZ4}
			if mode == "sampled10" {
				cfg.Sampling = tailsample.DefaultConfig()
				cfg.Sampling.Baseline.Probability = 0.1
				cfg.Sampling.IdleTime = 100 * time.Millisecond
			}
			e, err := NewEngine(cfg, s, componenttest.NewNopTelemetrySettings())
			if err != nil {
				b.Fatal(err)
			}
			if err := e.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			// Truncate behind: the benchmark has no sender.
			u0, s0 := rusage()
			b.ResetTimer()
			spans := 0
			for i := 0; b.Loop(); i++ {
				if err := e.Traces(context.Background(), reqs[i%len(reqs)]); err != nil {
					b.Fatal(err)
				}
				spans += 510
			}
			if err := e.Shutdown(context.Background()); err != nil {
				b.Fatal(err)
			}
			u1, s1 := rusage()
			b.ReportMetric(float64((u1-u0)+(s1-s0))/float64(spans), "cpu-ns/span")
			if mode == "keepall" {
				// What a stored span takes in the blocks log, trace_index and RED rows
				// included: the figure to size weir_journal's max_size_mib by.
				b.ReportMetric(float64(s.Blocks.Size())/float64(spans), "journal-B/span")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

func rusage() (user, sys int64) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano(), ru.Stime.Nano()
}
