package traceroutingexporter

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func randomTraceIDs(seed uint64, n int) []pcommon.TraceID {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	ids := make([]pcommon.TraceID, n)
	for i := range ids {
		binary.BigEndian.PutUint64(ids[i][:8], rng.Uint64())
		binary.BigEndian.PutUint64(ids[i][8:], rng.Uint64())
	}
	return ids
}

func TestRendezvous_Even(t *testing.T) {
	r := newRendezvous([]string{"sampler-1:4317", "sampler-2:4317", "sampler-3:4317"})
	const n = 30_000
	counts := make([]int, 3)
	for _, id := range randomTraceIDs(1, n) {
		counts[r.pick(id)]++
	}
	// Each count is binomial(30000, 1/3): mean 10000, standard deviation ~82.
	for i, c := range counts {
		assert.InDelta(t, n/3, c, 500, "endpoint %d got %d of %d", i, c, n)
	}
}

func TestRendezvous_SameAcrossInstances(t *testing.T) {
	endpoints := []string{"10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317", "10.0.0.4:4317"}
	reversed := []string{endpoints[3], endpoints[2], endpoints[1], endpoints[0]}
	a, b, c := newRendezvous(endpoints), newRendezvous(endpoints), newRendezvous(reversed)
	for _, id := range randomTraceIDs(2, 10_000) {
		want := endpoints[a.pick(id)]
		require.Equal(t, want, endpoints[b.pick(id)])
		require.Equal(t, want, reversed[c.pick(id)], "the order of endpoints does not matter")
	}
	// A fixed trace ID maps to a fixed endpoint in every process and every build.
	id := pcommon.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	assert.Equal(t, "10.0.0.3:4317", endpoints[a.pick(id)])
}

func TestRendezvous_ZeroTraceIDGoesFirst(t *testing.T) {
	r := newRendezvous([]string{"b:1", "a:1", "c:1"})
	assert.Equal(t, 0, r.pick(pcommon.NewTraceIDEmpty()))
}

func TestRendezvous_RemovingMovesOnlyThatShare(t *testing.T) {
	all := []string{"s-1:4317", "s-2:4317", "s-3:4317", "s-4:4317"}
	without := []string{"s-1:4317", "s-2:4317", "s-4:4317"} // s-3 is gone
	before, after := newRendezvous(all), newRendezvous(without)
	moved := 0
	ids := randomTraceIDs(3, 20_000)
	for _, id := range ids {
		was, is := all[before.pick(id)], without[after.pick(id)]
		if was == "s-3:4317" {
			moved++
			continue
		}
		require.Equal(t, was, is, "a trace of a remaining endpoint moved")
	}
	assert.InDelta(t, len(ids)/4, moved, 400)
	// Adding it back restores the old assignment exactly.
	for _, id := range ids {
		require.Equal(t, all[before.pick(id)], all[newRendezvous(all).pick(id)])
	}
}

// span is what the split must preserve of one span: where it sits and what it is.
type span struct {
	resource, resourceSchema, scope, scopeSchema string
	traceID                                      pcommon.TraceID
	name                                         string
}

func flatten(td ptrace.Traces) []span {
	var out []span
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res, _ := rs.Resource().Attributes().Get("r")
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			for k := 0; k < ss.Spans().Len(); k++ {
				sp := ss.Spans().At(k)
				out = append(out, span{res.Str(), rs.SchemaUrl(), ss.Scope().Name(), ss.SchemaUrl(), sp.TraceID(), sp.Name()})
			}
		}
	}
	return out
}

// mixedTraces has resources and scopes whose spans go everywhere, to one endpoint, or
// nowhere (empty), and spans with a zero trace ID.
func mixedTraces() ptrace.Traces {
	ids := randomTraceIDs(4, 40)
	td := ptrace.NewTraces()
	n := 0
	addSpan := func(ss ptrace.ScopeSpans, id pcommon.TraceID) {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(id)
		sp.SetName(fmt.Sprintf("span-%d", n))
		n++
	}
	for r := 0; r < 3; r++ {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("r", fmt.Sprintf("res-%d", r))
		rs.SetSchemaUrl(fmt.Sprintf("https://schema/res-%d", r))
		for s := 0; s < 3; s++ {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(fmt.Sprintf("scope-%d-%d", r, s))
			ss.SetSchemaUrl(fmt.Sprintf("https://schema/scope-%d-%d", r, s))
			switch s {
			case 0: // interleaved traces
				for k := 0; k < 60; k++ {
					addSpan(ss, ids[(k*7+r)%len(ids)])
				}
				addSpan(ss, pcommon.NewTraceIDEmpty())
			case 1: // one trace: moved whole
				for k := 0; k < 5; k++ {
					addSpan(ss, ids[r])
				}
			case 2: // empty scope
			}
		}
	}
	// A resource with one trace only, moved whole, and an empty resource.
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("r", "single")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("single-scope")
	for k := 0; k < 4; k++ {
		addSpan(ss, ids[5])
	}
	td.ResourceSpans().AppendEmpty().Resource().Attributes().PutStr("r", "empty")
	return td
}

// sinkExporter is an exporter.Traces that records what it gets.
type sinkExporter struct {
	component.StartFunc
	component.ShutdownFunc
	*consumertest.TracesSink
}

func TestRouter_SplitsByTraceID(t *testing.T) {
	endpoints := []string{"s-1:4317", "s-2:4317", "s-3:4317"}
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoints = endpoints
	r := newRouter(cfg, exportertest.NewNopSettings(NewFactory().Type()), nil)
	sinks := make([]*consumertest.TracesSink, len(endpoints))
	for i := range sinks {
		sinks[i] = new(consumertest.TracesSink)
		r.exporters = append(r.exporters, sinkExporter{TracesSink: sinks[i]})
	}

	td := mixedTraces()
	want := make([][]span, len(endpoints))
	for _, s := range flatten(td) {
		e := r.ring.pick(s.traceID)
		want[e] = append(want[e], s)
	}
	require.NoError(t, r.ConsumeTraces(context.Background(), td))
	for _, s := range flatten(td) {
		require.Empty(t, s.name, "spans are moved, not copied: only emptied spans stay behind")
	}

	total := 0
	for i, sink := range sinks {
		require.Len(t, sink.AllTraces(), 1, "one batch per endpoint per call")
		got := sink.AllTraces()[0]
		assert.ElementsMatch(t, want[i], flatten(got), "endpoint %d", i)
		total += got.SpanCount()
		// No empty resource or scope is sent, and each source resource appears once.
		seen := map[string]bool{}
		for j := 0; j < got.ResourceSpans().Len(); j++ {
			rs := got.ResourceSpans().At(j)
			res, _ := rs.Resource().Attributes().Get("r")
			assert.False(t, seen[res.Str()], "resource %s split into two entries", res.Str())
			seen[res.Str()] = true
			assert.Positive(t, rs.ScopeSpans().Len())
			for k := 0; k < rs.ScopeSpans().Len(); k++ {
				assert.Positive(t, rs.ScopeSpans().At(k).Spans().Len())
			}
		}
	}
	assert.Equal(t, 3*(61+5)+4, total)
	for _, s := range want[0] {
		if s.traceID.IsEmpty() {
			return
		}
	}
	t.Error("spans with a zero trace ID did not reach endpoint 0")
}

func TestRouter_OneEndpointPassesThrough(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoints = []string{"s-1:4317"}
	r := newRouter(cfg, exportertest.NewNopSettings(NewFactory().Type()), nil)
	sink := new(consumertest.TracesSink)
	r.exporters = []exporter.Traces{sinkExporter{TracesSink: sink}}
	td := mixedTraces()
	require.NoError(t, r.ConsumeTraces(context.Background(), td))
	require.Len(t, sink.AllTraces(), 1)
	assert.Equal(t, td, sink.AllTraces()[0])
}

func TestRouter_NotStarted(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoints = []string{"s-1:4317", "s-2:4317"}
	r := newRouter(cfg, exportertest.NewNopSettings(NewFactory().Type()), nil)
	assert.ErrorContains(t, r.ConsumeTraces(context.Background(), mixedTraces()), "not started")
}

func BenchmarkRouter_Split(b *testing.B) {
	ring := newRendezvous([]string{"s-1:4317", "s-2:4317", "s-3:4317", "s-4:4317"})
	ids := randomTraceIDs(5, 128)
	src := ptrace.NewTraces()
	ss := src.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i := 0; i < 1024; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(ids[i/8])
		sp.SetName("op")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		td := ptrace.NewTraces()
		src.CopyTo(td)
		parts := make([]ptrace.Traces, 4)
		for i := range parts {
			parts[i] = ptrace.NewTraces()
		}
		b.StartTimer()
		newSplitter(ring).split(td, parts)
	}
}
