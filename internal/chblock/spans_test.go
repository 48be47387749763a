package chblock

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/otlpgen"
	"github.com/weirhq/weir/internal/otlpwire"
	"github.com/weirhq/weir/internal/sampleweight"
	"github.com/weirhq/weir/rollup"
)

// httpAddr is the test server's HTTP interface.
func httpAddr() string {
	if a := os.Getenv("WEIR_TEST_CLICKHOUSE_HTTP_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:18123"
}

// post runs query over HTTP with body, LZ4-framed as weir sends blocks, and returns the
// response; a non-200 answer fails the test.
func post(t testing.TB, query string, body []byte) string {
	t.Helper()
	u := "http://" + httpAddr() + "/?query=" + url.QueryEscape(query)
	var rd io.Reader
	if body != nil {
		w := compress.NewWriter(compress.LevelZero, compress.LZ4)
		require.NoError(t, w.Compress(body))
		rd = bytes.NewReader(w.Data)
		u += "&decompress=1"
	}
	resp, err := http.Post(u, "application/octet-stream", rd)
	require.NoError(t, err, "ClickHouse's HTTP interface at %s (scripts/clickhouse.sh start)", httpAddr())
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", query, out)
	return string(out)
}

func migrated(t *testing.T) *chtest.DB {
	t.Helper()
	db := chtest.New(t)
	_, err := rollup.Migrate(context.Background(), db.Conn, db.Name, 0)
	require.NoError(t, err)
	return db
}

// fillWire reads req with otlpwire into b, as weir's receiver does; invalid spans skipped.
func fillWire(t testing.TB, b *SpanBlock, req []byte, keep *Keep) {
	var r otlpwire.Traces
	r.Reset(req)
	for r.NextResource() {
		svc := ServiceNameWire(r.Resource().Attrs)
		for r.NextScope() {
			for r.NextSpan() {
				if sp := r.Span(); sp.ValidIDs() {
					b.AppendWire(r.Resource(), svc, r.Scope(), sp, keep)
				}
			}
		}
	}
	require.NoError(t, r.Err())
}

func fillPdata(b *SpanBlock, td ptrace.Traces) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		svc := ServiceNamePdata(rs.Resource().Attributes())
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			for k := 0; k < ss.Spans().Len(); k++ {
				b.AppendPdata(rs, ss, ss.Spans().At(k), svc)
			}
		}
	}
}

// rowsOf reads the spans a block with insertID wrote, every column but InsertId, in a
// stable order.
func rowsOf(t *testing.T, db *chtest.DB, cols []string, insertID int) string {
	t.Helper()
	var sel []string
	for _, c := range cols {
		if c != "InsertId" {
			sel = append(sel, c)
		}
	}
	return post(t, fmt.Sprintf("SELECT %s FROM %s WHERE InsertId = %d ORDER BY SpanId, StartTimeUnixNano, SpanName, TraceState FORMAT TSV",
		strings.Join(sel, ", "), db.Table(rollup.TableSpans), insertID), nil)
}

// TestSpanBlock_WireAndPdataWriteTheSameRows is the property test of the two fill paths:
// random OTLP (every attribute value type, empty and very large values, events and links,
// many resources and scopes, zero IDs) stored through the wire path and through the pdata
// path gives identical rows in ClickHouse, and identical trace_index rows.
func TestSpanBlock_WireAndPdataWriteTheSameRows(t *testing.T) {
	t.Parallel()
	db := migrated(t)
	wire, pd := NewSpanBlock(false, time.UTC), NewSpanBlock(false, time.UTC)
	var total int
	for seed := uint64(0); seed < 60; seed++ {
		g := otlpgen.New(seed)
		if seed%10 != 0 {
			g.Big = 500
		}
		td := g.Traces(4, 3, 6)
		req, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		require.NoError(t, err)
		fillWire(t, wire, req, nil)
		fillPdata(pd, td)
		total += td.SpanCount()
	}
	require.Equal(t, pd.Rows(), wire.Rows())
	require.Greater(t, wire.Rows(), 100)
	require.Less(t, wire.Rows(), total, "spans with zero IDs are left out")
	assert.Equal(t, pd.Bytes(), wire.Bytes(), "the size estimates agree too")

	wb, err := wire.Encode(nil, 1)
	require.NoError(t, err)
	pb, err := pd.Encode(nil, 2)
	require.NoError(t, err)
	wi, err := wire.Index.Encode(nil)
	require.NoError(t, err)
	pi, err := pd.Index.Encode(nil)
	require.NoError(t, err)
	assert.Equal(t, pi, wi, "trace_index rows")

	post(t, "INSERT INTO "+db.Table(rollup.TableSpans)+" FORMAT Native", wb)
	post(t, "INSERT INTO "+db.Table(rollup.TableSpans)+" FORMAT Native", pb)
	w, p := rowsOf(t, db, wire.Columns(), 1), rowsOf(t, db, pd.Columns(), 2)
	require.Equal(t, wire.Rows(), strings.Count(w, "\n"))
	require.Equal(t, p, w)
}

// The sampler's Keep lands as a reason attribute (set over an existing one, else added) and,
// for the baseline, as th in tracestate, from which SampleWeight is read.
func TestSpanBlock_Keep(t *testing.T) {
	t.Parallel()
	db := migrated(t)
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "cart")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i, state := range []string{"", "vendor=x", "ot=th:c"} {
		sp := spans.AppendEmpty()
		sp.SetTraceID([16]byte{1})
		sp.SetSpanID([8]byte{byte(i + 1)})
		sp.TraceState().FromRaw(state)
		sp.Attributes().PutStr("a", "1")
		if i == 1 {
			sp.Attributes().PutStr("weir.sampling.reason", "stale")
			sp.Attributes().PutInt("z", 2)
		}
	}
	req, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	th, err := thresholdOf(0.25)
	require.NoError(t, err)
	b := NewSpanBlock(false, time.UTC)
	fillWire(t, b, req, &Keep{ReasonKey: "weir.sampling.reason", Reason: "baseline", Threshold: th, HasThreshold: true})
	enc, err := b.Encode(nil, 7)
	require.NoError(t, err)
	post(t, "INSERT INTO "+db.Table(rollup.TableSpans)+" FORMAT Native", enc)
	got := post(t, "SELECT hex(SpanId), TraceState, SampleWeight, SpanAttributeKeys, SpanAttributeValues FROM "+
		db.Table(rollup.TableSpans)+" ORDER BY SpanId FORMAT TSV", nil)
	assert.Equal(t, strings.Join([]string{
		"0100000000000000\tot=th:c\t4\t['a','weir.sampling.reason']\t['1','baseline']",
		"0200000000000000\tot=th:c,vendor=x\t4\t['a','weir.sampling.reason','z']\t['1','baseline','2']",
		// The span's own threshold, the same here, stays.
		"0300000000000000\tot=th:c\t4\t['a','weir.sampling.reason']\t['1','baseline']",
	}, "\n")+"\n", got)
}

func TestTraceIndexBlock_StatesMerge(t *testing.T) {
	t.Parallel()
	db := migrated(t)
	day := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	ns := uint64(day.UnixNano())
	a, b := NewTraceIndexBlock(time.UTC), NewTraceIndexBlock(time.UTC)
	id := [16]byte{0xab}
	a.Add(id, ns+100, ns+200, "cart")
	a.AddBytes(id, ns+50, ns+150, []byte("checkout"))
	a.Add(id, ns+60, ns+300, "cart")
	b.Add(id, ns+10, ns+90, "payments")
	b.Add([16]byte{0xcd}, ns+1, ns+2, "x")
	for _, blk := range []*TraceIndexBlock{a, b} {
		enc, err := blk.Encode(nil)
		require.NoError(t, err)
		post(t, "INSERT INTO "+db.Table(rollup.TableTraceIndex)+" FORMAT Native", enc)
	}
	got := post(t, "SELECT hex(TraceId), Day, minMerge(StartUnixNano) - "+fmt.Sprint(ns)+", maxMerge(EndUnixNano) - "+fmt.Sprint(ns)+
		", arraySort(groupUniqArrayMerge(Services)), countMerge(SpanCount) FROM "+db.Table(rollup.TableTraceIndex)+
		" GROUP BY TraceId, Day ORDER BY TraceId FORMAT TSV", nil)
	assert.Equal(t, "AB000000000000000000000000000000\t2026-12-06\t10\t300\t['cart','checkout','payments']\t4\n"+
		"CD000000000000000000000000000000\t2026-12-06\t1\t2\t['x']\t1\n", got)
}

func BenchmarkSpanBlock_AppendWire(b *testing.B) {
	td := otlpgen.New(3).Telemetrygen(512)
	req, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(b, err)
	blk := NewSpanBlock(false, time.UTC)
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		blk.Reset()
		fillWire(b, blk, req, nil)
		buf, _ = blk.Encode(buf[:0], 1)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*td.SpanCount()), "ns/span")
}

// BenchmarkSpanBlock_AppendWireTentative is BenchmarkSpanBlock_AppendWire with LowCardinality
// columns, each request appended between Mark and Commit, every other one taken back.
func BenchmarkSpanBlock_AppendWireTentative(b *testing.B) {
	td := otlpgen.New(3).Telemetrygen(512)
	req, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(b, err)
	blk := NewSpanBlock(true, time.UTC)
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		blk.Reset()
		for k := range 4 {
			blk.Mark()
			fillWire(b, blk, req, nil)
			if k%2 == 0 {
				blk.Rollback()
			} else {
				blk.Commit()
			}
		}
		buf, _ = blk.Encode(buf[:0], 1)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(4*b.N*td.SpanCount()), "ns/span")
}

func thresholdOf(p float64) (sampling.Threshold, error) {
	return sampling.ProbabilityToThresholdWithPrecision(p, 4)
}

// TestSpanBlock_RollbackLeavesTheBlockAsItWas: spans appended after Mark and taken back with
// Rollback leave the block's Native bytes and its trace_index rows exactly as a block that
// never had them; committed ones are as if appended plainly. Random OTLP with events, links,
// every value type and large values; String and LowCardinality columns.
func TestSpanBlock_RollbackLeavesTheBlockAsItWas(t *testing.T) {
	for _, lc := range []bool{false, true} {
		t.Run(fmt.Sprintf("lowCardinality=%v", lc), func(t *testing.T) {
			tentative, plain := NewSpanBlock(lc, time.UTC), NewSpanBlock(lc, time.UTC)
			rolledBack := 0
			for seed := uint64(0); seed < 40; seed++ {
				g := otlpgen.New(seed)
				if seed%4 == 1 {
					g.Big = 500
				}
				req, err := ptraceotlp.NewExportRequestFromTraces(g.Traces(3, 2, 5)).MarshalProto()
				require.NoError(t, err)
				keep := seed%3 == 0
				tentative.Mark()
				fillWire(t, tentative, req, nil)
				if keep {
					tentative.Commit()
					fillWire(t, plain, req, nil)
				} else {
					rolledBack += tentative.Rows() - plain.Rows()
					tentative.Rollback()
				}
				require.Equal(t, plain.Rows(), tentative.Rows(), "seed %d", seed)
				require.Equal(t, plain.Bytes(), tentative.Bytes(), "seed %d", seed)
			}
			require.Greater(t, rolledBack, 100, "spans were taken back")
			require.Greater(t, plain.Rows(), 50)
			want, err := plain.Encode(nil, 7)
			require.NoError(t, err)
			got, err := tentative.Encode(nil, 7)
			require.NoError(t, err)
			assert.Equal(t, want, got, "Native bytes")
			wi, err := plain.Index.Encode(nil)
			require.NoError(t, err)
			gi, err := tentative.Index.Encode(nil)
			require.NoError(t, err)
			assert.Equal(t, wi, gi, "trace_index rows")
		})
	}
}

// spanRequest is an export request of one span, of service "svc", starting at start, with
// the given name.
func spanRequest(t testing.TB, start time.Time, name string) []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID([16]byte{1})
	sp.SetSpanID([8]byte{2})
	sp.SetName(name)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Millisecond)))
	req, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	return req
}

// Spans taken back with Rollback take their LowCardinality strings with them: the arena
// that held them is as it was at Mark, and the column holds nothing of them. Before, 100
// rollbacks of a span named with 1 MiB left ~38 MB in SpanName's arena of a block of no rows.
func TestSpanBlock_RollbackTakesBackTheArena(t *testing.T) {
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	big := spanRequest(t, start, strings.Repeat("n", 1<<20))
	small := spanRequest(t, start, "small")
	for _, committed := range []bool{false, true} {
		t.Run(fmt.Sprintf("committed=%v", committed), func(t *testing.T) {
			b, plain := NewSpanBlock(true, time.UTC), NewSpanBlock(true, time.UTC)
			if committed {
				b.Mark()
				fillWire(t, b, small, nil)
				b.Commit()
				fillWire(t, plain, small, nil)
			}
			arenaLen, arenaCap := len(b.name.arena), cap(b.name.arena)
			for range 100 {
				b.Mark()
				fillWire(t, b, big, nil)
				fillWire(t, b, small, nil)
				b.Rollback()
			}
			assert.Equal(t, plain.Rows(), b.Rows())
			assert.Equal(t, plain.Bytes(), b.Bytes())
			assert.Equal(t, arenaLen, len(b.name.arena), "SpanName's arena")
			assert.Equal(t, arenaCap, cap(b.name.arena), "SpanName's arena")
			for _, v := range b.name.lc.Values[len(b.name.lc.Values):cap(b.name.lc.Values)] {
				require.True(t, v == "", "a value taken back still holds its %d bytes", len(v))
			}
			// And the block goes on as if the spans never were.
			fillWire(t, b, small, nil)
			fillWire(t, plain, small, nil)
			want, err := plain.Encode(nil, 3)
			require.NoError(t, err)
			got, err := b.Encode(nil, 3)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

// A block's tracestate memo never answers for another tracestate or another threshold: each
// span's state and weight are those computed afresh.
func TestStateMemo_SameAsComputed(t *testing.T) {
	t.Parallel()
	th25, err := thresholdOf(0.25)
	require.NoError(t, err)
	th10, err := thresholdOf(0.1)
	require.NoError(t, err)
	keeps := []*Keep{nil, {Reason: "x"}, {Threshold: th25, HasThreshold: true}, {Threshold: th10, HasThreshold: true}}
	states := []string{"", "vendor=x", "ot=th:c", "ot=th:8", "ot=th:8,vendor=x", "ot=th:zz"}
	var m stateMemo
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		// Runs of one state, the keep changing under it now and then, as in a request.
		state, keep := states[rng.IntN(2)], keeps[rng.IntN(len(keeps))]
		if i%50 >= 25 {
			state = states[rng.IntN(len(states))]
		}
		want := state
		if keep != nil && keep.HasThreshold {
			want = sampleweight.WithThreshold(state, keep.Threshold)
		}
		got, weight := m.of([]byte(state), keep)
		require.Equal(t, want, string(got), "span %d: %q", i, state)
		require.Equal(t, sampleweight.FromTraceState(want), weight, "span %d: %q", i, state)
	}
}
