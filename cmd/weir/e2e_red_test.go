package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/rollup"
)

// redPipelines runs weir_red on every span (its own pipeline from the same receiver) while
// the main traces pipeline samples.
const redConnectors = `  weir_red:
    flush_interval: 300ms
    service_graph:
      wait_time: 300ms
`

// redStages are the same under weir_otlp: RED on every span, the 1% sampler.
const redStages = `    epoch: 100ms
    red:
      flush_interval: 300ms
      service_graph:
        wait_time: 300ms
    tail_sampling:
      idle_time: 200ms
      max_wait: 2s
      errors:
        enabled: true
      baseline:
        probability: 0.01
`

const redPipelines = `    traces/red:
      receivers: [otlp]
      exporters: [weir_red]
    metrics/red:
      receivers: [weir_red]
      exporters: [clickhouse]
`

const sampler1pct = `  weir_tail_sampling:
    idle_time: 200ms
    max_wait: 2s
    errors:
      enabled: true
    baseline:
      probability: 0.01
`

type redKey struct {
	service, op string
	status      int
}

// TestRED_ExactUnderSampling sends a known workload through weir with a 1% tail sampler and
// weir_red: the red_1m tier holds the exact request and error counts of everything sent,
// per service, operation and status, in the minute of each span's end time, with p50, p95
// and p99 within 2%; the service graph counts every call.
//
// It runs twice: through weir_otlp (the shipped path), and through the collector's otlp
// receiver, weir_tail_sampling and weir_red on pdata (weir's components in another build).
func TestRED_ExactUnderSampling(t *testing.T) {
	t.Parallel()
	for _, opt := range []weirOptions{
		{Stages: redStages},
		{Pdata: true, Processors: sampler1pct, TraceProcessors: "weir_tail_sampling", Connectors: redConnectors, Pipelines: redPipelines},
	} {
		name := "weir_otlp"
		if opt.Pdata {
			name = "pdata"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testREDExact(t, opt)
		})
	}
}

func testREDExact(t *testing.T, opt weirOptions) {
	w := startWeir(t, opt)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(w.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)

	rng := rand.New(rand.NewPCG(5, 6))
	truth := map[redKey]int{}
	durations := map[[2]string][]float64{}
	calls := 0
	// Three event-time hours, backdated: minutes land where the spans ended.
	base := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	const traces = 6000
	for i := 0; i < traces; i += 200 {
		td := ptrace.NewTraces()
		for j := i; j < i+200; j++ {
			var tid pcommon.TraceID
			rngFill(rng, tid[:])
			end := base.Add(time.Duration(rng.IntN(3*3600)) * time.Second)
			op := fmt.Sprintf("GET /items/%d", j%4)
			failed := rng.IntN(50) == 0
			// gateway (client) -> cart (server); cart's duration is lognormal.
			d := math.Exp(rng.NormFloat64()*0.8 + 15)
			addSpan(td, "gateway", "call cart", ptrace.SpanKindClient, tid, pcommon.SpanID{1, byte(j), byte(j >> 8)}, pcommon.SpanID{}, end, time.Duration(d*1.1), false)
			addSpan(td, "cart", op, ptrace.SpanKindServer, tid, pcommon.SpanID{2, byte(j), byte(j >> 8)}, pcommon.SpanID{1, byte(j), byte(j >> 8)}, end, time.Duration(d), failed)
			truth[redKey{"gateway", "call cart", 0}]++
			status := 0
			if failed {
				status = 2
			}
			truth[redKey{"cart", op, status}]++
			durations[[2]string{"cart", op}] = append(durations[[2]string{"cart", op}], float64(time.Duration(d)))
			calls++
		}
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		require.NoError(t, err)
	}
	total := uint64(2 * traces)
	red := w.DB.Table("red_1m")
	waitForCount(t, w.DB, "SELECT sum(Requests) FROM "+red, total, 30*time.Second)

	got := map[redKey]int{}
	rows, err := w.DB.Conn.Query(ctx, "SELECT ServiceName, SpanName, StatusCode, sum(Requests) FROM "+red+" GROUP BY ServiceName, SpanName, StatusCode")
	require.NoError(t, err)
	for rows.Next() {
		var svc, op string
		var status uint8
		var n uint64
		require.NoError(t, rows.Scan(&svc, &op, &status, &n))
		got[redKey{svc, op, int(status)}] = int(n)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, truth, got, "exact counts per service, operation and status")
	// Rows sit in the minute the span ended: 3 hours of event time, not the seconds of the test.
	assert.Equal(t, uint64(3), w.DB.QueryUint64(t, "SELECT uniqExact(toStartOfHour(Timestamp)) FROM "+red))
	assert.Equal(t, uint64(0), w.DB.QueryUint64(t, "SELECT count() FROM "+red+" WHERE Timestamp < toDateTime('2026-11-20 09:00:00') OR Timestamp >= toDateTime('2026-11-20 12:00:00')"))

	// Quantiles from the merged buckets.
	for op, ds := range durations {
		sort.Float64s(ds)
		var idx []int32
		var cnt []uint64
		var zero uint64
		require.NoError(t, w.DB.Conn.QueryRow(ctx, "SELECT (sumMap(BucketIndexes, BucketCounts) AS m).1, m.2, sum(ZeroCount) FROM "+red+
			" WHERE ServiceName = ? AND SpanName = ?", op[0], op[1]).Scan(&idx, &cnt, &zero))
		for _, q := range []float64{0.5, 0.95, 0.99} {
			want := ds[int(math.Ceil(q*float64(len(ds))))-1]
			gotQ := bucketQuantile(idx, cnt, zero, q)
			assert.InDelta(t, 0, (gotQ-want)/want, 0.02, "%s p%g: got %.0f want %.0f", op[1], q*100, gotQ, want)
		}
	}

	// The 1h and 1d tiers, computed by the rollup job, hold the same exact counts, and the
	// query layer answers the quantiles from them.
	job := &rollup.Job{Conn: w.DB.Conn, Database: w.DB.Name, Cluster: w.Cluster, Grace: 5 * time.Minute, Now: time.Now}
	_, err = job.Run(ctx, base.Add(-24*time.Hour), base.Add(48*time.Hour))
	require.NoError(t, err)
	for _, tier := range []string{"red_1h", "red_1d"} {
		for k, n := range truth {
			assert.Equal(t, uint64(n), w.DB.QueryUint64(t, "SELECT sum(Requests) FROM "+w.DB.Table(tier)+
				" WHERE ServiceName = ? AND SpanName = ? AND StatusCode = ?", k.service, k.op, uint8(k.status)), "%s %v", tier, k)
		}
	}
	q := &rollup.Querier{Conn: w.DB.Conn, Database: w.DB.Name}
	for op, ds := range durations {
		res, err := q.Query(ctx, rollup.Query{Signal: rollup.SignalRED, From: base, To: base.Add(3 * time.Hour), Step: 3 * time.Hour,
			ServiceNames: []string{op[0]}, SpanNames: []string{op[1]}})
		require.NoError(t, err)
		var d model.Distribution
		var requests uint64
		for _, row := range res.Rows {
			d.Merge(row.Latency)
			requests += row.Requests
		}
		assert.Equal(t, uint64(len(ds)), requests, "%s from %v", op[1], res.Plan.Tables())
		assert.Contains(t, res.Plan.Tables(), "red_1h", "a 3-hour step reads the hour tier")
		p50, p95, p99 := d.Percentiles()
		for i, q := range []float64{0.5, 0.95, 0.99} {
			want := ds[int(math.Ceil(q*float64(len(ds))))-1]
			got := []float64{p50, p95, p99}[i]
			assert.InDelta(t, 0, (got-want)/want, 0.02, "%s p%g from tiers", op[1], q*100)
		}
	}

	// The service graph: every gateway -> cart call, failed ones apart.
	edges := w.DB.Table("edges_1m")
	waitForCount(t, w.DB, "SELECT sum(Calls) FROM "+edges+" WHERE Client = 'gateway' AND Server = 'cart'", uint64(calls), 20*time.Second)
	assert.Equal(t, uint64(truthErrors(truth)), w.DB.QueryUint64(t, "SELECT sum(Calls) FROM "+edges+" WHERE Failed = 1"))

	// And the spans table holds only the sample: errors whole plus about 1%.
	spans := w.DB.QueryUint64(t, "SELECT count() FROM "+w.DB.Table("spans"))
	t.Logf("spans stored: %d of %d; red_1m rows: %d", spans, total, w.DB.QueryUint64(t, "SELECT count() FROM "+red))
	assert.Less(t, spans, total/10)
}

func truthErrors(truth map[redKey]int) int {
	n := 0
	for k, v := range truth {
		if k.status == 2 {
			n += v
		}
	}
	return n
}

// bucketQuantile is the q-quantile of a distribution at scale 6, taking each bucket's
// geometric midpoint.
func bucketQuantile(idx []int32, cnt []uint64, zero uint64, q float64) float64 {
	var total uint64 = zero
	for _, c := range cnt {
		total += c
	}
	rank := q * float64(total)
	cum := float64(zero)
	if cum >= rank {
		return 0
	}
	for i, c := range cnt {
		cum += float64(c)
		if cum >= rank {
			return math.Pow(2, (float64(idx[i])+0.5)/64)
		}
	}
	return math.Inf(1)
}

func rngFill(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

func addSpan(td ptrace.Traces, service, name string, kind ptrace.SpanKind, tid pcommon.TraceID, sid, parent pcommon.SpanID, end time.Time, dur time.Duration, failed bool) {
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName(name)
	sp.SetKind(kind)
	sp.SetTraceID(tid)
	sp.SetSpanID(sid)
	sp.SetParentSpanID(parent)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-dur)))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
	if failed {
		sp.Status().SetCode(ptrace.StatusCodeError)
	}
}
