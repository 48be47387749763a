package hotspot

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/rollup"
)

// The window of every test: one hour, so a week is 168 windows.
var (
	winFrom = time.Date(2025, 3, 3, 10, 0, 0, 0, time.UTC)
	winTo   = winFrom.Add(time.Hour)
)

const weekScale = 168.0

type span struct {
	trace, id, parent int // small numbers, turned into IDs; parent 0 is a root
	service, name     string
	kind, status      uint8
	start, dur        time.Duration // relative to winFrom + 1 minute
	weight            float64
	attrs             map[string]string
}

func traceID(n int) string { return fmt.Sprintf("%032x", n) }

func spanID(n int) string { return fmt.Sprintf("%016x", n) }

func raw(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func newDB(t *testing.T) *chtest.DB {
	t.Helper()
	db := chtest.New(t)
	_, err := rollup.Migrate(context.Background(), db.Conn, db.Name, 0)
	require.NoError(t, err)
	return db
}

func insertSpans(t *testing.T, db *chtest.DB, spans []span) {
	t.Helper()
	ctx := context.Background()
	batch, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+db.Table(rollup.TableSpans)+
		" (Timestamp, StartTimeUnixNano, DurationNano, ServiceName, SpanName, SpanKind, TraceId, SpanId, ParentSpanId,"+
		" StatusCode, SampleWeight, SpanAttributeKeys, SpanAttributeValues, SpanAttributeTypes)")
	require.NoError(t, err)
	base := winFrom.Add(time.Minute)
	for _, s := range spans {
		start := base.Add(s.start)
		w := s.weight
		if w == 0 {
			w = 1
		}
		var keys, vals []string
		var types []uint8
		for k, v := range s.attrs {
			keys, vals, types = append(keys, k), append(vals, v), append(types, 1)
		}
		require.NoError(t, batch.Append(start.Truncate(time.Second), uint64(start.UnixNano()), int64(s.dur),
			s.service, s.name, s.kind, raw(traceID(s.trace)), raw(spanID(s.id)), raw(spanID(s.parent)),
			s.status, w, keys, vals, types))
	}
	require.NoError(t, batch.Send())
}

// request is a root SERVER span of 1 s for trace n (span ID n*1000).
func request(n int, service, name string, weight float64) span {
	return span{trace: n, id: n * 1000, service: service, name: name, kind: 2, dur: time.Second, weight: weight}
}

// calls are count CLIENT children of request(n), each dur long, starting every step.
func calls(n, count int, service, name string, step, dur time.Duration, weight float64, attrs func(i int) map[string]string) []span {
	var out []span
	for i := 0; i < count; i++ {
		out = append(out, span{trace: n, id: n*1000 + 1 + i, parent: n * 1000, service: service, name: name, kind: 3,
			start: time.Duration(i) * step, dur: dur, weight: weight, attrs: attrs(i)})
	}
	return out
}

func selectItem(i int) map[string]string {
	if i%2 == 0 {
		return map[string]string{"db.statement": "SELECT * FROM items WHERE id = " + strconv.Itoa(100+i), "db.system": "postgresql"}
	}
	return map[string]string{"db.query.text": "SELECT * FROM items WHERE id = '" + strconv.Itoa(i) + "x'"}
}

func detect(t *testing.T, db *chtest.DB, th Thresholds) []Finding {
	t.Helper()
	f, err := Detect(context.Background(), db.Conn, db.Name, winFrom, winTo, th)
	require.NoError(t, err)
	return f
}

func byRule(fs []Finding, r Rule) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Rule == r {
			out = append(out, f)
		}
	}
	return out
}

func TestNPlusOne_SequentialStatementsFound(t *testing.T) {
	db := newDB(t)
	var spans []span
	// Trace 1: 8 sequential SELECTs differing only in literals. Trace 2: same operation, clean.
	spans = append(spans, request(1, "orders", "GET /orders", 1), request(2, "orders", "GET /orders", 1))
	spans = append(spans, calls(1, 8, "orders", "SELECT items", 20*time.Millisecond, 10*time.Millisecond, 1, selectItem)...)
	spans = append(spans, calls(2, 1, "orders", "SELECT items", 20*time.Millisecond, 10*time.Millisecond, 1, selectItem)...)
	insertSpans(t, db, spans)

	fs := detect(t, db, DefaultThresholds())
	require.Len(t, fs, 1, "%+v", fs)
	f := fs[0]
	require.Equal(t, RuleNPlusOneQuery, f.Rule)
	require.Equal(t, "orders", f.Service)
	require.Equal(t, "GET /orders", f.Operation)
	require.Equal(t, "SELECT * FROM items WHERE id = ?", f.Evidence.Key)
	require.InDelta(t, 7, f.Evidence.AvoidableCallsPerTrace, 1e-9)
	require.InDelta(t, 0.5, f.Evidence.ShareOfTraces, 1e-9)
	require.InDelta(t, 8, f.Evidence.CallsPerAffectedSpan, 1e-9)
	require.InDelta(t, 7*weekScale, f.AvoidableCallsPerWeek, 1e-6)
	require.InDelta(t, 2*weekScale, f.Evidence.TracesPerWeek, 1e-6)
	require.Equal(t, []string{traceID(1)}, f.ExampleTraceIDs)
	require.Equal(t, "postgresql", f.Evidence.Peer, "the statement's database, as the service graph names it")
	require.Equal(t, SeverityWarning, f.Severity) // 1176 a week, half the traces
	require.NotEmpty(t, f.Recommendation)
}

func TestNPlusOne_ParallelAndFewAreNot(t *testing.T) {
	db := newDB(t)
	var spans []span
	// Trace 1: 8 overlapping SELECTs (all start within 8 ms, each lasts 50 ms).
	spans = append(spans, request(1, "orders", "GET /orders", 1))
	spans = append(spans, calls(1, 8, "orders", "SELECT items", time.Millisecond, 50*time.Millisecond, 1, selectItem)...)
	// Trace 2: 4 sequential SELECTs, below the threshold of 5.
	spans = append(spans, request(2, "orders", "GET /orders", 1))
	spans = append(spans, calls(2, 4, "orders", "SELECT items", 20*time.Millisecond, 10*time.Millisecond, 1, selectItem)...)
	insertSpans(t, db, spans)
	require.Empty(t, detect(t, db, DefaultThresholds()))

	// With the threshold lowered to 4 the sequential ones are found, the parallel ones still not.
	th := DefaultThresholds()
	th.NPlusOneMinStatements = 4
	fs := detect(t, db, th)
	require.Len(t, fs, 1, "%+v", fs)
	require.Equal(t, []string{traceID(2)}, fs[0].ExampleTraceIDs)
	require.InDelta(t, 3, fs[0].Evidence.AvoidableCallsPerTrace, 1e-9)
}

func TestNPlusOne_RouteCalls(t *testing.T) {
	db := newDB(t)
	var spans []span
	spans = append(spans, request(1, "cart", "GET /cart", 1))
	spans = append(spans, calls(1, 12, "cart", "GET", 2*time.Millisecond, time.Millisecond, 1, func(int) map[string]string {
		return map[string]string{"url.template": "/products/{id}"}
	})...)
	insertSpans(t, db, spans)
	fs := byRule(detect(t, db, DefaultThresholds()), RuleNPlusOneCalls)
	require.Len(t, fs, 1)
	require.Equal(t, "/products/{id}", fs[0].Evidence.Key)
	require.Equal(t, "GET /cart", fs[0].Operation)
	require.InDelta(t, 11*weekScale, fs[0].AvoidableCallsPerWeek, 1e-6)
	require.InDelta(t, 1, fs[0].Evidence.ShareOfTraces, 1e-9)
}

func TestNPlusOne_WeightsScale(t *testing.T) {
	db := newDB(t)
	var spans []span
	spans = append(spans, request(1, "orders", "GET /orders", 100), request(2, "orders", "GET /orders", 1))
	spans = append(spans, calls(1, 8, "orders", "SELECT items", 20*time.Millisecond, 10*time.Millisecond, 100, selectItem)...)
	insertSpans(t, db, spans)
	fs := detect(t, db, DefaultThresholds())
	require.Len(t, fs, 1, "%+v", fs)
	f := fs[0]
	require.InDelta(t, 700*weekScale, f.AvoidableCallsPerWeek, 1e-6)
	require.InDelta(t, 100*weekScale, f.Evidence.AffectedTracesPerWeek, 1e-6)
	require.InDelta(t, 100.0/101, f.Evidence.ShareOfTraces, 1e-9)
	require.InDelta(t, 7, f.Evidence.AvoidableCallsPerTrace, 1e-9)
	require.Equal(t, SeverityCritical, f.Severity) // 117,600 a week
}

func TestFanOut(t *testing.T) {
	db := newDB(t)
	internal := func(n, count int) []span {
		out := []span{request(n, "search", "GET /search", 1)}
		for i := 0; i < count; i++ {
			out = append(out, span{trace: n, id: n*1000 + 1 + i, parent: n * 1000, service: "search",
				name: "shard " + strconv.Itoa(i), kind: 1, start: 0, dur: time.Millisecond})
		}
		return out
	}
	spans := append(internal(1, 25), internal(2, 15)...)
	insertSpans(t, db, spans)
	fs := detect(t, db, DefaultThresholds())
	require.Len(t, fs, 1, "%+v", fs)
	f := fs[0]
	require.Equal(t, RuleFanOut, f.Rule)
	require.Equal(t, "search", f.Service)
	require.Equal(t, "GET /search", f.Operation)
	require.Equal(t, uint64(25), f.Evidence.MaxCalls)
	require.InDelta(t, 0.5, f.Evidence.ShareOfTraces, 1e-9)
	require.InDelta(t, 5*weekScale, f.AvoidableCallsPerWeek, 1e-6)
	require.Equal(t, []string{traceID(1)}, f.ExampleTraceIDs)
}

func TestChattyEdge(t *testing.T) {
	db := newDB(t)
	distinct := func(i int) map[string]string { return map[string]string{"http.route": "/r" + strconv.Itoa(i)} }
	var spans []span
	spans = append(spans, request(1, "gateway", "GET /home", 1), request(2, "gateway", "GET /home", 1))
	spans = append(spans, calls(1, 16, "gateway", "call", 5*time.Millisecond, time.Millisecond, 1, distinct)...)
	spans = append(spans, calls(2, 14, "gateway", "call", 5*time.Millisecond, time.Millisecond, 1, distinct)...)
	insertSpans(t, db, spans)
	fs := detect(t, db, DefaultThresholds())
	require.Len(t, fs, 1, "%+v", fs)
	f := fs[0]
	require.Equal(t, RuleChattyEdge, f.Rule)
	require.Equal(t, "GET /home", f.Operation)
	require.Equal(t, uint64(16), f.Evidence.MaxCalls)
	require.InDelta(t, 2*weekScale, f.AvoidableCallsPerWeek, 1e-6) // 16 − 14 allowed
	require.InDelta(t, 0.5, f.Evidence.ShareOfTraces, 1e-9)
}

func TestRetryStorm(t *testing.T) {
	db := newDB(t)
	var spans []span
	// Trace 1: POST /charge fails twice and is retried until it succeeds, weight 10.
	spans = append(spans, request(1, "checkout", "POST /checkout", 10))
	retried := calls(1, 3, "checkout", "POST", 20*time.Millisecond, 10*time.Millisecond, 10, func(int) map[string]string {
		return map[string]string{"url.template": "/charge"}
	})
	retried[0].status, retried[1].status = 2, 2
	spans = append(spans, retried...)
	// Trace 2: two spans carrying http.request.resend_count (one of them 0: not a retry).
	spans = append(spans, request(2, "checkout", "POST /checkout", 1))
	resent := calls(2, 3, "checkout", "POST", 20*time.Millisecond, 10*time.Millisecond, 1, func(i int) map[string]string {
		return map[string]string{"url.template": "/charge", "http.request.resend_count": strconv.Itoa(i)}
	})
	spans = append(spans, resent...)
	// Trace 3: three failing calls under one parent but each to a different operation: no storm.
	spans = append(spans, request(3, "checkout", "POST /checkout", 1))
	spread := calls(3, 3, "checkout", "POST", 20*time.Millisecond, 10*time.Millisecond, 1, func(i int) map[string]string {
		return map[string]string{"url.template": "/op" + strconv.Itoa(i)}
	})
	for i := range spread {
		spread[i].status = 2
	}
	spans = append(spans, spread...)
	insertSpans(t, db, spans)

	// RED: 200 requests of checkout, 10 failed.
	batch, err := db.Conn.PrepareBatch(context.Background(), "INSERT INTO "+db.Table(rollup.TableRED1m)+
		" (Timestamp, ServiceName, SpanName, SpanKind, StatusCode, Requests)")
	require.NoError(t, err)
	require.NoError(t, batch.Append(winFrom.Add(time.Minute), "checkout", "POST /checkout", uint8(2), uint8(0), uint64(190)))
	require.NoError(t, batch.Append(winFrom.Add(time.Minute), "checkout", "POST /checkout", uint8(2), uint8(2), uint64(10)))
	require.NoError(t, batch.Append(winFrom.Add(time.Minute), "checkout", "POST", uint8(3), uint8(2), uint64(1000)))
	require.NoError(t, batch.Send())

	fs := detect(t, db, DefaultThresholds())
	require.Len(t, fs, 1, "%+v", fs)
	f := fs[0]
	require.Equal(t, RuleRetryStorm, f.Rule)
	require.Equal(t, "checkout", f.Service)
	require.Equal(t, "/charge", f.Operation)
	require.InDelta(t, 20*weekScale, f.Evidence.RepeatedFailureCallsPerWeek, 1e-6) // 2 retries × 10
	require.InDelta(t, 2*weekScale, f.Evidence.ResentCallsPerWeek, 1e-6)
	require.InDelta(t, 22*weekScale, f.AvoidableCallsPerWeek, 1e-6)
	require.InDelta(t, 0.05, f.Evidence.FailedRequestShare, 1e-9)
	require.InDelta(t, 200*weekScale, f.Evidence.ServiceRequestsPerWeek, 1e-6)
	require.ElementsMatch(t, []string{traceID(1), traceID(2)}, f.ExampleTraceIDs)
	require.Equal(t, SeverityWarning, f.Severity) // 3,696 a week
	// The headline leads with how often the retried calls fail, not the caller's own rate.
	require.InDelta(t, 2.0/3, f.Evidence.RetriedCallsFailedShare, 1e-9)
	require.Contains(t, f.Recommendation, "66.7% of those calls fail (checkout's own failure rate: 5.0%)")
}

// With the callee known (a service weir counts), the headline names it and its failure rate.
func TestRetryStorm_HeadlineLeadsWithTheCallee(t *testing.T) {
	ev := Evidence{RetriedCallsPerWeek: 1200, FailedRequestShare: 0.029, Callee: "payments", CalleeFailedShare: 0.23}
	got := recommendation(RuleRetryStorm, "checkout", "POST /pay", "POST /pay", ev)
	require.True(t, strings.HasPrefix(got, "checkout retries POST /pay about 1200 times a week because payments fails 23.0% of its requests "+
		"(checkout's own failure rate: 2.9%): fix payments first"), got)
}

func TestCleanTrafficHasNoFindings(t *testing.T) {
	db := newDB(t)
	var spans []span
	for n := 1; n <= 50; n++ {
		spans = append(spans, request(n, "catalog", "GET /item", 1))
		spans = append(spans, calls(n, 3, "catalog", "SELECT", 5*time.Millisecond, 2*time.Millisecond, 1, func(i int) map[string]string {
			return map[string]string{"db.statement": fmt.Sprintf("SELECT * FROM t%d WHERE id = %d", i, n)}
		})...)
		spans = append(spans, span{trace: n, id: n*1000 + 10, parent: n * 1000, service: "catalog", name: "GET",
			kind: 3, start: 30 * time.Millisecond, dur: 5 * time.Millisecond, attrs: map[string]string{"url.template": "/price/{id}"}})
		spans = append(spans, span{trace: n, id: n*1000 + 11, parent: n*1000 + 10, service: "pricing", name: "GET /price/{id}",
			kind: 2, start: 31 * time.Millisecond, dur: 3 * time.Millisecond})
	}
	// One failing call, not retried.
	spans[1].status = 2
	insertSpans(t, db, spans)
	for _, f := range detect(t, db, DefaultThresholds()) {
		require.Less(t, f.Severity.Rank(), SeverityWarning.Rank(), "%+v", f)
	}
}

func TestThresholdsValidate(t *testing.T) {
	require.NoError(t, DefaultThresholds().Validate())
	th := DefaultThresholds()
	th.NPlusOneMinStatements = 1
	require.Error(t, th.Validate())
	_, err := Detect(context.Background(), nil, "weir", winFrom, winTo, th)
	require.Error(t, err)
}

func TestSequential(t *testing.T) {
	require.Equal(t, 3, sequential([]uint64{0, 10, 20}, []int64{10, 10, 10}))
	require.Equal(t, 1, sequential([]uint64{0, 1, 2}, []int64{10, 10, 10}))
	require.Equal(t, 2, sequential([]uint64{0, 5, 10}, []int64{8, 8, 8}))
	require.Equal(t, 0, sequential(nil, nil))
}
