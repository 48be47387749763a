package otlpwire

import (
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weirhq/weir/internal/anyvalue"
	"github.com/weirhq/weir/internal/otlpgen"
)

// dump writes every span the way weir stores it, one line per span with its resource and
// scope: what both decoders must agree on.
type dump struct {
	b   strings.Builder
	tmp []byte
}

func (d *dump) kvPdata(name string, m pcommon.Map) {
	d.b.WriteString(" " + name + "{")
	m.Range(func(k string, v pcommon.Value) bool {
		d.tmp = anyvalue.Append(d.tmp[:0], v)
		d.b.WriteString(strconv.Quote(k) + ":" + strconv.Itoa(int(anyvalue.TypeOf(v))) + ":" + strconv.Quote(string(d.tmp)) + ",")
		return true
	})
	d.b.WriteString("}")
}

func (d *dump) kvWire(name string, kvs []KV) {
	d.b.WriteString(" " + name + "{")
	for _, kv := range kvs {
		d.tmp = AppendText(d.tmp[:0], kv.Value)
		d.b.WriteString(strconv.Quote(string(kv.Key)) + ":" + strconv.Itoa(int(kv.Value.Type)) + ":" + strconv.Quote(string(d.tmp)) + ",")
	}
	d.b.WriteString("}")
}

// resourceScope dumps what a span or point takes from its resource and scope.
func (d *dump) resourceScope(res *Resource, sc *Scope) {
	d.kvWire("res", res.Attrs)
	d.f("resDropped", res.Dropped)
	d.f("resSchema", string(res.SchemaURL))
	d.f("scope", string(sc.Name))
	d.f("ver", string(sc.Version))
	d.kvWire("scopeAttrs", sc.Attrs)
	d.f("scopeDropped", sc.Dropped)
	d.f("scopeSchema", string(sc.SchemaURL))
}

func (d *dump) f(name string, v any) {
	switch x := v.(type) {
	case string:
		d.b.WriteString(" " + name + "=" + strconv.Quote(x))
	case []byte:
		d.b.WriteString(" " + name + "=" + hex.EncodeToString(x))
	case uint64:
		d.b.WriteString(" " + name + "=" + strconv.FormatUint(x, 10))
	case uint32:
		d.b.WriteString(" " + name + "=" + strconv.FormatUint(uint64(x), 10))
	case int32:
		d.b.WriteString(" " + name + "=" + strconv.FormatInt(int64(x), 10))
	}
}

// id is how an ID is dumped: 0-length IDs are pdata's all-zero ones.
func id(b []byte, size int) []byte {
	if len(b) == 0 {
		return make([]byte, size)
	}
	return b
}

func dumpPdata(td ptrace.Traces) string {
	var d dump
	rss := td.ResourceSpans()
	for r := 0; r < rss.Len(); r++ {
		rs := rss.At(r)
		sss := rs.ScopeSpans()
		for s := 0; s < sss.Len(); s++ {
			ss := sss.At(s)
			spans := ss.Spans()
			for i := 0; i < spans.Len(); i++ {
				sp := spans.At(i)
				d.kvPdata("res", rs.Resource().Attributes())
				d.f("resDropped", rs.Resource().DroppedAttributesCount())
				d.f("resSchema", rs.SchemaUrl())
				d.f("scope", ss.Scope().Name())
				d.f("ver", ss.Scope().Version())
				d.kvPdata("scopeAttrs", ss.Scope().Attributes())
				d.f("scopeDropped", ss.Scope().DroppedAttributesCount())
				d.f("scopeSchema", ss.SchemaUrl())
				tid, sid, pid := sp.TraceID(), sp.SpanID(), sp.ParentSpanID()
				d.f("trace", tid[:])
				d.f("span", sid[:])
				d.f("parent", pid[:])
				d.f("state", sp.TraceState().AsRaw())
				d.f("name", sp.Name())
				d.f("kind", int32(sp.Kind()))
				d.f("flags", sp.Flags())
				d.f("start", uint64(sp.StartTimestamp()))
				d.f("end", uint64(sp.EndTimestamp()))
				d.kvPdata("attrs", sp.Attributes())
				d.f("dropped", sp.DroppedAttributesCount())
				for e := 0; e < sp.Events().Len(); e++ {
					ev := sp.Events().At(e)
					d.f("evTime", uint64(ev.Timestamp()))
					d.f("evName", ev.Name())
					d.kvPdata("evAttrs", ev.Attributes())
					d.f("evDropped", ev.DroppedAttributesCount())
				}
				d.f("droppedEvents", sp.DroppedEventsCount())
				for k := 0; k < sp.Links().Len(); k++ {
					l := sp.Links().At(k)
					lt, ls := l.TraceID(), l.SpanID()
					d.f("linkTrace", lt[:])
					d.f("linkSpan", ls[:])
					d.f("linkState", l.TraceState().AsRaw())
					d.f("linkFlags", l.Flags())
					d.kvPdata("linkAttrs", l.Attributes())
					d.f("linkDropped", l.DroppedAttributesCount())
				}
				d.f("droppedLinks", sp.DroppedLinksCount())
				d.f("status", int32(sp.Status().Code()))
				d.f("statusMsg", sp.Status().Message())
				d.b.WriteString("\n")
			}
		}
	}
	return d.b.String()
}

func dumpWire(t testing.TB, req []byte) (string, error) {
	var d dump
	var r Traces
	r.Reset(req)
	for r.NextResource() {
		res := r.Resource()
		for r.NextScope() {
			sc := r.Scope()
			for r.NextSpan() {
				sp := r.Span()
				d.resourceScope(res, sc)
				d.f("trace", id(sp.TraceID, 16))
				d.f("span", id(sp.SpanID, 8))
				d.f("parent", id(sp.ParentSpanID, 8))
				d.f("state", string(sp.TraceState))
				d.f("name", string(sp.Name))
				d.f("kind", sp.Kind)
				d.f("flags", sp.Flags)
				d.f("start", sp.Start)
				d.f("end", sp.End)
				d.kvWire("attrs", sp.Attrs)
				d.f("dropped", sp.DroppedAttrs)
				for _, ev := range sp.Events {
					d.f("evTime", ev.Time)
					d.f("evName", string(ev.Name))
					d.kvWire("evAttrs", sp.EventAttrs[ev.Attrs[0]:ev.Attrs[1]])
					d.f("evDropped", ev.Dropped)
				}
				d.f("droppedEvents", sp.DroppedEvents)
				for _, l := range sp.Links {
					d.f("linkTrace", id(l.TraceID, 16))
					d.f("linkSpan", id(l.SpanID, 8))
					d.f("linkState", string(l.TraceState))
					d.f("linkFlags", l.Flags)
					d.kvWire("linkAttrs", sp.LinkAttrs[l.Attrs[0]:l.Attrs[1]])
					d.f("linkDropped", l.Dropped)
				}
				d.f("droppedLinks", sp.DroppedLinks)
				d.f("status", sp.StatusCode)
				d.f("statusMsg", string(sp.StatusMessage))
				d.b.WriteString("\n")
			}
		}
	}
	return d.b.String(), r.Err()
}

// TestTraces_SameAsPdata: random requests read by both decoders give the same spans.
func TestTraces_SameAsPdata(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		g := otlpgen.New(seed)
		if seed%10 != 0 {
			g.Big = 300 // most seeds small, so the test stays quick
		}
		td := g.Traces(4, 3, 6)
		req, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		require.NoError(t, err)
		got, err := dumpWire(t, req)
		require.NoError(t, err, "seed %d", seed)
		require.Equal(t, dumpPdata(td), got, "seed %d", seed)
	}
}

// FuzzTraces holds the reader to pdata on arbitrary bytes: when pdata decodes a request, the
// reader decodes the same spans; when the reader decodes one pdata refuses, the only reason
// may be an ID of the wrong length (which the reader leaves to Span.ValidIDs). Never a panic.
func FuzzTraces(f *testing.F) {
	for seed := uint64(0); seed < 8; seed++ {
		g := otlpgen.New(seed)
		g.Big = 40
		req, err := ptraceotlp.NewExportRequestFromTraces(g.Traces(2, 2, 3)).MarshalProto()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(req)
	}
	f.Fuzz(func(t *testing.T, req []byte) {
		pd := ptraceotlp.NewExportRequest()
		perr := pd.UnmarshalProto(req)
		got, werr := dumpWire(t, req)
		var st TracesStats
		var r Traces
		st, cerr := CheckTraces(&r, req)
		if (cerr == nil) != (werr == nil) {
			t.Fatalf("CheckTraces %v, reading %v", cerr, werr)
		}
		switch {
		case perr == nil && werr == nil:
			if want := dumpPdata(pd.Traces()); got != want {
				t.Fatalf("decoded differently:\npdata:\n%s\nwire:\n%s", want, got)
			}
			if st.Spans != pd.Traces().SpanCount() {
				t.Fatalf("%d spans counted, pdata has %d", st.Spans, pd.Traces().SpanCount())
			}
		case perr == nil:
			t.Fatalf("pdata decodes the request, the reader refuses it: %v", werr)
		case werr == nil:
			if !strings.Contains(perr.Error(), "length") {
				t.Fatalf("the reader decodes a request pdata refuses for another reason than an ID's length: %v", perr)
			}
		}
	})
}

func TestTraces_Errors(t *testing.T) {
	f := func(name string, req []byte, want string) {
		t.Helper()
		var r Traces
		_, err := CheckTraces(&r, req)
		require.Error(t, err, name)
		var e *Error
		require.True(t, errors.As(err, &e), name)
		assert.Contains(t, err.Error(), want, name)
	}
	// ResourceSpans (field 1) as a varint.
	f("wrong wire type", []byte{0x08, 0x01}, "ExportTraceServiceRequest field 1: wrong wire type")
	// A length past the end.
	f("truncated", []byte{0x0a, 0x05, 0x12}, "ExportTraceServiceRequest field 1: truncated")
	// Field number 0.
	f("field zero", []byte{0x0a, 0x02, 0x00, 0x00}, "ResourceSpans: field number 0")
	// A span whose name (field 5) is a varint.
	span := []byte{0x28, 0x01}
	ss := append([]byte{0x12, byte(len(span))}, span...)
	rs := append([]byte{0x12, byte(len(ss))}, ss...)
	req := append([]byte{0x0a, byte(len(rs))}, rs...)
	f("span field", req, "Span field 5: wrong wire type")
}

func TestTraces_InvalidIDsAreOnlyTheSpans(t *testing.T) {
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	good := spans.AppendEmpty()
	good.SetTraceID(pcommon.TraceID{1})
	good.SetSpanID(pcommon.SpanID{2})
	spans.AppendEmpty() // zero IDs
	req, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	var r Traces
	st, err := CheckTraces(&r, req)
	require.NoError(t, err)
	assert.Equal(t, TracesStats{Spans: 2, Invalid: 1}, st)
}

func BenchmarkCheckTraces(b *testing.B) {
	req, err := ptraceotlp.NewExportRequestFromTraces(otlpgen.New(1).Telemetrygen(512)).MarshalProto()
	require.NoError(b, err)
	var r Traces
	st, _ := CheckTraces(&r, req)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, _ = CheckTraces(&r, req)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*st.Spans), "ns/span")
}

func BenchmarkPdataUnmarshal(b *testing.B) {
	td := otlpgen.New(1).Telemetrygen(512)
	req, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(b, err)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := ptraceotlp.NewExportRequest()
		_ = r.UnmarshalProto(req)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*td.SpanCount()), "ns/span")
}
