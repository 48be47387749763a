package tailsample

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weirhq/weir/internal/otlpgen"
)

// BenchmarkSampler_NewTracesFullCache consumes requests of new traces (510 spans, traces of
// 10) while the decision cache holds 1.5M decisions, as it does after minutes at 50k spans/s:
// every trace a request starts is looked up and not found. ns/op is a request's.
func BenchmarkSampler_NewTracesFullCache(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Baseline.Probability = 0.1
	ts, err := New(cfg, componenttest.NewNopTelemetrySettings(), PdataOutput(consumertest.NewNop(), ""))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = ts.Shutdown(context.Background()) }()
	const cached = 1_500_000
	recs := make([]byte, 0, cached*DecisionRecordSize)
	for i := uint64(0); i < cached; i++ {
		recs = append(recs, testID(1<<50+i)...)
		recs = decision{}.encode(recs)
	}
	if err := ts.LoadDecisions(recs); err != nil {
		b.Fatal(err)
	}
	g := otlpgen.New(1)
	reqs := make([][]byte, b.N)
	for i := range reqs {
		if reqs[i], err = ptraceotlp.NewExportRequestFromTraces(g.TelemetrygenTraces(510, 10)).MarshalProto(); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if err := ts.Consume(context.Background(), reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
}
