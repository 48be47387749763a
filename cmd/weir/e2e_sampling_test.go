package main

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestSampling_WeightsReachClickHouse runs weir with the tail sampler in front of the
// exporter: error traces are stored whole, the baseline keeps its share with weights, and
// the sum of SampleWeight in ClickHouse estimates the spans that were sent.
func TestSampling_WeightsReachClickHouse(t *testing.T) {
	t.Parallel()
	w := startWeir(t, weirOptions{
		Stages: `    epoch: 100ms
    tail_sampling:
      idle_time: 300ms
      max_wait: 3s
      errors:
        enabled: true
      baseline:
        probability: 0.25
`,
		ServeMetrics: true,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(w.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)

	const traces, spansPerTrace = 4000, 3
	rng := rand.New(rand.NewPCG(11, 12))
	errorTraces := 0
	now := time.Now()
	for i := 0; i < traces; i += 200 {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "sampled")
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for j := i; j < i+200; j++ {
			var tid pcommon.TraceID
			binary.BigEndian.PutUint64(tid[:8], rng.Uint64())
			binary.BigEndian.PutUint64(tid[8:], rng.Uint64())
			isErr := j%50 == 0
			if isErr {
				errorTraces++
			}
			for k := 0; k < spansPerTrace; k++ {
				sp := spans.AppendEmpty()
				sp.SetTraceID(tid)
				sp.SetSpanID(pcommon.SpanID{byte(k + 1), byte(j >> 16), byte(j >> 8), byte(j)})
				if k > 0 {
					sp.SetParentSpanID(pcommon.SpanID{1, byte(j >> 16), byte(j >> 8), byte(j)})
				}
				sp.SetName("op")
				sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
				sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
				if isErr && k == 2 {
					sp.Status().SetCode(ptrace.StatusCodeError)
				}
			}
		}
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		require.NoError(t, err)
	}

	spans := w.DB.Table("spans")
	reason := "SpanAttributeValues[indexOf(SpanAttributeKeys, 'weir.sampling.reason')]"
	// Every error trace, whole.
	waitForCount(t, w.DB, "SELECT count() FROM "+spans+" WHERE "+reason+" = 'error'", uint64(errorTraces*spansPerTrace), 30*time.Second)
	// The baseline: about a quarter of the rest, each span weighing 4 (th:c in tracestate).
	// Once every span is decided and every kept one is stored, the table is final.
	waitForCounter(t, w.MetricsURL, "weir_tailsampling_spans_decided", traces*spansPerTrace, 30*time.Second)
	kept := scrapeCounter(t, w.MetricsURL, "weir_tailsampling_spans_decided", `decision="kept"`)
	waitForCount(t, w.DB, "SELECT count() FROM "+spans, uint64(kept), 30*time.Second)
	stored := w.DB.QueryUint64(t, "SELECT count() FROM "+spans)
	require.Equal(t, uint64(kept), stored, "every kept span is stored, nothing else")
	assert.Equal(t, uint64(0), w.DB.QueryUint64(t, "SELECT count() FROM (SELECT TraceId, count() AS c FROM "+spans+" GROUP BY TraceId HAVING c != 3)"), "kept traces are whole")
	assert.Equal(t, uint64(0), w.DB.QueryUint64(t, "SELECT count() FROM "+spans+" WHERE "+reason+" = 'baseline' AND (SampleWeight != 4 OR TraceState != 'ot=th:c')"))
	assert.Equal(t, uint64(0), w.DB.QueryUint64(t, "SELECT count() FROM "+spans+" WHERE "+reason+" = 'error' AND SampleWeight != 1"))
	sum := float64(w.DB.QueryUint64(t, "SELECT toUInt64(sum(SampleWeight)) FROM "+spans))
	want := float64(traces * spansPerTrace)
	// 3,920 non-error traces at 1/4: about 980 kept, standard error of the estimate ~1.3%.
	t.Logf("stored %d of %d spans; sum(SampleWeight) %.0f (%+.1f%%)", stored, traces*spansPerTrace, sum, 100*(sum-want)/want)
	assert.InDelta(t, want, sum, 0.06*want)
	assert.Less(t, stored, uint64(traces*spansPerTrace/2))
}
