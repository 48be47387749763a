package tailsample

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weirhq/weir/internal/red"
)

// refGroup is one trace's spans as the pdata split made them before the batch was split as
// bytes: a ptrace.Traces of their own, a ResourceSpans per run of the trace's spans in one
// source ResourceSpans, a ScopeSpans per run in one source ScopeSpans.
type refGroup struct {
	id  pcommon.TraceID
	td  ptrace.Traces
	sum summary
}

// refSplit is that pdata split, kept here as the reference the byte split must equal. It
// copies (the old one moved) so the same td can go through both.
func refSplit(td ptrace.Traces, m []attrMatcher) []refGroup {
	var list []refGroup
	index := map[pcommon.TraceID]int{}
	type at struct {
		srcRS, srcSS int
		dstRS        ptrace.ResourceSpans
		dstSS        ptrace.ScopeSpans
	}
	var pos []at
	rss := td.ResourceSpans()
	for r := 0; r < rss.Len(); r++ {
		rs := rss.At(r)
		res := rs.Resource()
		service := serviceName(res.Attributes())
		sss := rs.ScopeSpans()
		for s := 0; s < sss.Len(); s++ {
			ss := sss.At(s)
			spans := ss.Spans()
			for i := 0; i < spans.Len(); i++ {
				sp := spans.At(i)
				id := sp.TraceID()
				if id.IsEmpty() || sp.SpanID().IsEmpty() {
					continue // no usable IDs: in no group
				}
				k, ok := index[id]
				if !ok {
					k = len(list)
					index[id] = k
					list = append(list, refGroup{id: id, td: ptrace.NewTraces()})
					pos = append(pos, at{srcRS: -1, srcSS: -1})
				}
				gr, p := &list[k], &pos[k]
				if p.srcRS != r {
					p.srcRS, p.srcSS = r, -1
					p.dstRS = gr.td.ResourceSpans().AppendEmpty()
					res.CopyTo(p.dstRS.Resource())
					p.dstRS.SetSchemaUrl(rs.SchemaUrl())
				}
				if p.srcSS != s {
					p.srcSS = s
					p.dstSS = p.dstRS.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(p.dstSS.Scope())
					p.dstSS.SetSchemaUrl(ss.SchemaUrl())
				}
				refAddSpan(&gr.sum, sp, service, res.Attributes(), m)
				sp.CopyTo(p.dstSS.Spans().AppendEmpty())
			}
		}
	}
	return list
}

// randomBatch makes a batch with several resources and scopes (some with schema URLs, some
// empty), spans of few traces interleaved across them, every kind of span field set on some
// spans: attributes of each type, tracestate, events, links, status, parent, flags, dropped
// counts, and spans with no trace ID.
func randomBatch(rng *rand.Rand) ptrace.Traces {
	td := ptrace.NewTraces()
	traces := 1 + rng.IntN(6)
	ids := make([]pcommon.TraceID, traces)
	for i := range ids {
		binary.LittleEndian.PutUint64(ids[i][:8], rng.Uint64())
		binary.LittleEndian.PutUint64(ids[i][8:], rng.Uint64())
	}
	if rng.IntN(4) == 0 {
		ids[0] = pcommon.TraceID{} // spans without a trace
	}
	for r, nr := 0, rng.IntN(4); r < nr; r++ {
		rs := td.ResourceSpans().AppendEmpty()
		if rng.IntN(2) == 0 {
			rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
		}
		if rng.IntN(5) > 0 {
			a := rs.Resource().Attributes()
			a.PutStr("service.name", fmt.Sprintf("svc-%d", rng.IntN(3)))
			a.PutInt("host.cpus", rng.Int64N(64))
			a.PutEmptySlice("tags").AppendEmpty().SetStr("x")
			rs.Resource().SetDroppedAttributesCount(uint32(rng.IntN(2)))
		}
		for s, ns := 0, rng.IntN(4); s < ns; s++ {
			ss := rs.ScopeSpans().AppendEmpty()
			if rng.IntN(2) == 0 {
				ss.Scope().SetName(fmt.Sprintf("scope-%d", s))
				ss.Scope().SetVersion("1.2.3")
				ss.Scope().Attributes().PutBool("lib", true)
			}
			if rng.IntN(3) == 0 {
				ss.SetSchemaUrl("https://opentelemetry.io/schemas/1.21.0")
			}
			for i, n := 0, rng.IntN(12); i < n; i++ {
				sp := ss.Spans().AppendEmpty()
				sp.SetTraceID(ids[rng.IntN(traces)])
				var sid pcommon.SpanID
				binary.LittleEndian.PutUint64(sid[:], rng.Uint64())
				sp.SetSpanID(sid)
				if rng.IntN(3) > 0 {
					var pid pcommon.SpanID
					binary.LittleEndian.PutUint64(pid[:], rng.Uint64())
					sp.SetParentSpanID(pid)
				}
				sp.SetName(fmt.Sprintf("op-%d", rng.IntN(5)))
				sp.SetKind(ptrace.SpanKind(rng.IntN(6)))
				start := pcommon.Timestamp(1_790_000_000_000_000_000 + rng.Uint64N(1e9))
				sp.SetStartTimestamp(start)
				sp.SetEndTimestamp(start + pcommon.Timestamp(rng.Uint64N(2e9)))
				switch rng.IntN(4) {
				case 0:
					sp.TraceState().FromRaw("ot=th:8;rv:abcdef01234567,vendor=x")
				case 1:
					sp.TraceState().FromRaw("vendor=y")
				}
				a := sp.Attributes()
				a.PutStr("http.method", "GET")
				if rng.IntN(2) == 0 {
					a.PutInt("http.status_code", 200+rng.Int64N(400))
					a.PutDouble("ratio", rng.Float64())
					a.PutBool("ok", rng.IntN(2) == 0)
					a.PutEmptyBytes("raw").FromRaw([]byte{1, 2, 3})
					a.PutEmptyMap("m").PutStr("k", "v")
				}
				if rng.IntN(4) == 0 {
					sp.Status().SetCode(ptrace.StatusCodeError)
					sp.Status().SetMessage("boom")
				}
				if rng.IntN(4) == 0 {
					ev := sp.Events().AppendEmpty()
					ev.SetName("exception")
					ev.SetTimestamp(start + 5)
					ev.Attributes().PutStr("exception.type", "E")
					l := sp.Links().AppendEmpty()
					l.SetTraceID(ids[rng.IntN(traces)])
					l.SetSpanID(sid)
					l.TraceState().FromRaw("a=b")
				}
				if rng.IntN(5) == 0 {
					sp.SetFlags(0x101)
					sp.SetDroppedAttributesCount(2)
					sp.SetDroppedEventsCount(1)
					sp.SetDroppedLinksCount(3)
				}
			}
		}
	}
	return td
}

// TestSplitBytesEqualsPdataSplit: each trace's bytes cut out of the marshalled batch are the
// bytes of the pdata sub-batch the old split built (so resources, scopes, their schema URLs,
// span attributes, tracestate, events and links all come through), and the summaries and group
// order are the same.
func TestSplitBytesEqualsPdataSplit(t *testing.T) {
	m := newAttrMatchers([]AttributePolicy{
		{Name: "status", Key: "http.status_code", Min: ptr(500.0)},
		{Name: "svc", Key: "service.name", Resource: true, Values: []string{"svc-1"}},
	})
	// The engine's way too: RED reads the request and hands each span to the split.
	cfg := red.DefaultConfig()
	agg, err := red.New(cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	for _, way := range []string{"split", "visit"} {
		t.Run(way, func(t *testing.T) {
			testSplitEqualsPdata(t, m, func(g *groups, req []byte) error {
				if way == "split" {
					_, err := g.split(req, m)
					return err
				}
				g.begin(req, m)
				if err := agg.ConsumeWireVisit(req, time.Now(), g.visit); err != nil {
					return err
				}
				return g.end()
			})
		})
	}
}

func testSplitEqualsPdata(t *testing.T, m []attrMatcher, split func(g *groups, req []byte) error) {
	rng := rand.New(rand.NewPCG(7, 11))
	g := getGroups()
	defer putGroups(g)
	spans := 0
	for n := 0; n < 2000; n++ {
		td := randomBatch(rng)
		if n == 0 {
			td = ptrace.NewTraces()
		}
		want := refSplit(td, m)
		before, err := marshaler.MarshalTraces(td)
		require.NoError(t, err)

		clear(g.index)
		g.list = g.list[:0]
		require.NoError(t, split(g, before))
		require.Len(t, g.list, len(want))
		for i := range want {
			gr := &g.list[i]
			require.Equal(t, want[i].id, gr.id)
			require.Equal(t, want[i].sum, gr.sum)
			wantBytes, err := marshaler.MarshalTraces(want[i].td)
			require.NoError(t, err)
			require.Equal(t, wantBytes, g.message(gr), "batch %d trace %d", n, i)
			got, err := unmarshaler.UnmarshalTraces(g.message(gr))
			require.NoError(t, err)
			require.Equal(t, want[i].td, got)
			spans += gr.sum.spans
		}
		after, err := marshaler.MarshalTraces(td)
		require.NoError(t, err)
		require.Equal(t, before, after, "split must leave the batch as it was")
	}
	require.Greater(t, spans, 10000)
}

// TestSplitBytesBenchmarkShape checks the shape of the benchmark stream too: one resource and
// scope, traces one after another.
func TestSplitBytesBenchmarkShape(t *testing.T) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "telemetrygen")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("telemetrygen")
	for tr := uint64(1); tr <= 50; tr++ {
		for i := uint64(0); i < 10; i++ {
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(traceID(tr))
			sp.SetSpanID(spanID(tr*100 + i))
			if i > 0 {
				sp.SetParentSpanID(spanID(tr * 100))
			}
			sp.Attributes().PutStr("net.sock.peer.addr", "1.2.3.4")
		}
	}
	want := refSplit(td, nil)
	g := getGroups()
	defer putGroups(g)
	req, err := marshaler.MarshalTraces(td)
	require.NoError(t, err)
	_, err = g.split(req, nil)
	require.NoError(t, err)
	require.Len(t, g.list, 50)
	for i := range want {
		b, err := marshaler.MarshalTraces(want[i].td)
		require.NoError(t, err)
		require.Equal(t, b, g.message(&g.list[i]))
	}
}

func TestNextFieldRefusesTruncated(t *testing.T) {
	for _, b := range [][]byte{{0x0a}, {0x0a, 0x05, 1}, {0x09, 1, 2}, {0x08}, {0x0b}, {0x80}} {
		_, _, _, _, err := nextField(b, 0)
		require.Error(t, err, "%x", b)
	}
}

func ptr[T any](v T) *T { return &v }

// A batch that carries both scope_spans and the deprecated instrumentation_library_spans
// (field 1000 of ResourceSpans) is read as pdata reads it: field 1000 is ignored, and no
// trace's message carries a copy of it.
func TestSplitBytesDropsDeprecatedScopeSpans(t *testing.T) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "a")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := byte(1); i <= 2; i++ {
		sp := spans.AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{i})
		sp.SetSpanID(pcommon.SpanID{i})
		sp.SetName("op")
	}
	data, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	// Rebuild TracesData with the ResourceSpans' scope_spans also sent as field 1000.
	_, _, rsOff, rsEnd, err := nextField(data, 0)
	require.NoError(t, err)
	rsBody := append([]byte(nil), data[rsOff:rsEnd]...)
	var deprecated []byte
	for pos := 0; pos < len(rsBody); {
		num, _, vOff, vEnd, err := nextField(rsBody, pos)
		require.NoError(t, err)
		if num == fieldScopeSpans {
			deprecated = protowire.AppendTag(deprecated, fieldDeprecatedScopeSpans, protowire.BytesType)
			deprecated = protowire.AppendBytes(deprecated, rsBody[vOff:vEnd])
		}
		pos = vEnd
	}
	rsBody = append(rsBody, deprecated...)
	var req []byte
	req = protowire.AppendTag(req, fieldResourceSpans, protowire.BytesType)
	req = protowire.AppendBytes(req, rsBody)
	in, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(req)
	require.NoError(t, err)
	again, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(in)
	require.NoError(t, err)
	require.Len(t, again, len(req), "pdata keeps the deprecated field and writes it again")

	g := getGroups()
	defer putGroups(g)
	_, err = g.split(req, nil)
	require.NoError(t, err)
	require.Len(t, g.list, 2)
	for i := range g.list {
		msg := g.message(&g.list[i])
		_, _, off, end, err := nextField(msg, 0)
		require.NoError(t, err)
		for pos := off; pos < end; {
			num, _, _, vEnd, err := nextField(msg[:end], pos)
			require.NoError(t, err)
			require.NotEqual(t, uint64(fieldDeprecatedScopeSpans), uint64(num), "trace %d's message carries the deprecated field", i)
			pos = vEnd
		}
	}
}

var marshaler = &ptrace.ProtoMarshaler{}

// A batch with only the deprecated field 1000 (an old sender) is read as its scope_spans, as
// pdata reads it, and each trace's message carries it as scope_spans (field 2).
func TestSplitBytesReadsOnlyDeprecatedScopeSpans(t *testing.T) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "old")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := byte(1); i <= 3; i++ {
		sp := spans.AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{i % 2})
		sp.SetSpanID(pcommon.SpanID{i})
	}
	data, err := marshaler.MarshalTraces(td)
	require.NoError(t, err)
	_, _, rsOff, rsEnd, err := nextField(data, 0)
	require.NoError(t, err)
	var rsBody []byte
	for pos := rsOff; pos < rsEnd; {
		num, _, vOff, vEnd, err := nextField(data[:rsEnd], pos)
		require.NoError(t, err)
		if num == fieldScopeSpans {
			rsBody = protowire.AppendTag(rsBody, fieldDeprecatedScopeSpans, protowire.BytesType)
			rsBody = protowire.AppendBytes(rsBody, data[vOff:vEnd])
		} else {
			rsBody = append(rsBody, data[pos:vEnd]...)
		}
		pos = vEnd
	}
	req := protowire.AppendBytes(protowire.AppendTag(nil, fieldResourceSpans, protowire.BytesType), rsBody)
	pd := ptraceotlp.NewExportRequest()
	require.NoError(t, pd.UnmarshalProto(req))
	require.Equal(t, 3, pd.Traces().SpanCount(), "pdata reads field 1000 when there is no field 2")

	g := getGroups()
	defer putGroups(g)
	invalid, err := g.split(req, nil)
	require.NoError(t, err)
	require.Equal(t, 1, invalid, "the span of trace 0 has no usable trace ID")
	require.Len(t, g.list, 1)
	got, err := unmarshaler.UnmarshalTraces(g.message(&g.list[0]))
	require.NoError(t, err)
	require.Equal(t, 2, got.SpanCount())
	require.Equal(t, "old", got.ResourceSpans().At(0).Resource().Attributes().AsRaw()["service.name"])
}

// refAddSpan is the summary the pdata split kept: the byte split's must equal it.
func refAddSpan(s *summary, sp ptrace.Span, service string, resAttrs pcommon.Map, m []attrMatcher) {
	start, end := uint64(sp.StartTimestamp()), uint64(sp.EndTimestamp())
	if s.spans == 0 || start < s.minStart {
		s.minStart = start
	}
	if s.spans == 0 || service < s.minService {
		s.minService = service
	}
	s.spans++
	s.maxEnd = max(s.maxEnd, end)
	if end > start {
		s.maxSpanDur = max(s.maxSpanDur, end-start)
	}
	if sp.Status().Code() == ptrace.StatusCodeError {
		s.hasError = true
	}
	if sp.ParentSpanID().IsEmpty() {
		s.hasRoot = true
		s.rootService = service
	}
	for i := range m {
		if s.attrMask&(1<<i) != 0 {
			continue
		}
		attrs := sp.Attributes()
		if m[i].resource {
			attrs = resAttrs
		}
		if refMatch(&m[i], attrs) {
			s.attrMask |= 1 << i
		}
	}
	if ts := sp.TraceState().AsRaw(); strings.Contains(ts, "rv:") {
		if w3c, err := sampling.NewW3CTraceState(ts); err == nil {
			if rnd, ok := w3c.OTelValue().RValueRandomness(); ok && (!s.hasRV || rnd.Unsigned() < s.rv.Unsigned()) {
				s.rv, s.hasRV = rnd, true
			}
		}
	}
}

func refMatch(m *attrMatcher, attrs pcommon.Map) bool {
	v, ok := attrs.Get(m.key)
	if !ok {
		return false
	}
	switch {
	case m.values != nil:
		if v.Type() != pcommon.ValueTypeStr {
			return false
		}
		_, ok := m.values[v.Str()]
		return ok
	case m.re != nil:
		return v.Type() == pcommon.ValueTypeStr && m.re.MatchString(v.Str())
	default:
		var f float64
		switch v.Type() {
		case pcommon.ValueTypeInt:
			f = float64(v.Int())
		case pcommon.ValueTypeDouble:
			f = v.Double()
		default:
			return false
		}
		return (m.min == nil || f >= *m.min) && (m.max == nil || f <= *m.max)
	}
}

func serviceName(attrs pcommon.Map) string {
	if v, ok := attrs.Get("service.name"); ok {
		return v.Str()
	}
	return ""
}
