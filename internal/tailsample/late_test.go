package tailsample

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// An SDK that exports a leaf's spans after the rest: the trace is dropped when its root and
// first spans go quiet; the leaf's error comes later and keeps the whole trace after all.
func TestLateError_KeepsTheWholeDroppedTrace(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	h.send(t, makeTraces(spanSpec{trace: 1, span: 1}, spanSpec{trace: 1, span: 2, parent: 1}))
	h.advance(t, cfg.IdleTime)
	_, n := h.kept()
	require.Zero(t, n, "dropped: no policy matched yet")

	h.advance(t, 3*time.Second)
	h.send(t, makeTraces(spanSpec{trace: 1, span: 3, parent: 2, err: true}))
	kept, n := h.kept()
	assert.Equal(t, 3, n, "the two dropped spans and the late error")
	assert.Equal(t, "late_error", kept[1])
	assert.Equal(t, int64(1), sumCounter(t, h.tel, "weir_tailsampling_traces_upgraded", "reason", "late_error"))
	assert.Equal(t, int64(2), sumCounterAll(t, h.tel, "weir_tailsampling_spans_upgraded"))
	assert.Equal(t, int64(1), sumCounter(t, h.tel, "weir_tailsampling_late_spans", "decision", "kept"))

	// Later spans follow the new decision.
	h.send(t, makeTraces(spanSpec{trace: 1, span: 4, parent: 1}))
	kept, n = h.kept()
	assert.Equal(t, 4, n)
	assert.Equal(t, "late_error", kept[1])
	h.ts.mu.Lock()
	assert.Empty(t, h.ts.lingering(), "a kept trace stops lingering")
	held := h.ts.held
	h.ts.mu.Unlock()
	assert.Zero(t, held)
}

// Late spans without an error join the lingering trace and keep nothing, until one brings an
// error; then all of them are kept.
func TestLateSpans_JoinTheLingeringTrace(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	h.send(t, makeTraces(spanSpec{trace: 1, span: 1}))
	h.advance(t, cfg.IdleTime)
	h.send(t, makeTraces(spanSpec{trace: 1, span: 2, parent: 1}))
	_, n := h.kept()
	require.Zero(t, n)
	assert.Equal(t, int64(1), sumCounter(t, h.tel, "weir_tailsampling_late_spans", "decision", "dropped"))
	h.send(t, makeTraces(spanSpec{trace: 1, span: 3, parent: 1, err: true}))
	_, n = h.kept()
	assert.Equal(t, 3, n)
}

// Past late_window the dropped spans are gone: a late error keeps itself and what follows.
func TestLateError_AfterTheWindow(t *testing.T) {
	cfg := testConfig()
	cfg.LateWindow = 5 * time.Second
	h := newHarness(t, cfg)
	h.send(t, makeTraces(spanSpec{trace: 1, span: 1}, spanSpec{trace: 1, span: 2, parent: 1}))
	h.advance(t, cfg.IdleTime)
	h.advance(t, cfg.LateWindow)
	h.ts.mu.Lock()
	require.Empty(t, h.ts.lingering())
	require.Zero(t, h.ts.held)
	h.ts.mu.Unlock()

	h.send(t, makeTraces(spanSpec{trace: 1, span: 3, parent: 2}))
	_, n := h.kept()
	require.Zero(t, n, "a late span without an error follows the drop")
	h.send(t, makeTraces(spanSpec{trace: 1, span: 4, parent: 2, err: true}))
	kept, n := h.kept()
	assert.Equal(t, 1, n, "the late error alone: the rest is gone")
	assert.Equal(t, "late_error", kept[1])
	h.send(t, makeTraces(spanSpec{trace: 1, span: 5, parent: 2}))
	_, n = h.kept()
	assert.Equal(t, 2, n, "and what comes after it")
}

// late_window 0: late spans follow the drop, errors too (the behaviour before late_window).
func TestLateWindowOff_LateErrorFollowsTheDrop(t *testing.T) {
	cfg := testConfig()
	cfg.LateWindow = 0
	h := newHarness(t, cfg)
	h.send(t, makeTraces(spanSpec{trace: 1, span: 1}))
	h.advance(t, cfg.IdleTime)
	h.ts.mu.Lock()
	assert.Zero(t, h.ts.held, "nothing lingers")
	h.ts.mu.Unlock()
	// Outside the window, a late error keeps itself: it is still an error trace.
	h.send(t, makeTraces(spanSpec{trace: 1, span: 2, parent: 1, err: true}))
	kept, n := h.kept()
	assert.Equal(t, 1, n)
	assert.Equal(t, "late_error", kept[1])
}

// Lingering dropped traces count against max_buffered_bytes and are the first to go: a flood
// of new traces never waits behind them, and live traces are not decided early for them.
func TestLinger_FirstToGoAtTheMemoryBound(t *testing.T) {
	cfg := testConfig()
	cfg.MaxBufferedBytes = 1 << 20
	cfg.MaxTraceBytes = 64 << 10
	h := newHarness(t, cfg)
	// 2,000 traces dropped and lingering.
	for i := 0; i < 2000; i += 100 {
		var specs []spanSpec
		for j := i; j < i+100; j++ {
			specs = append(specs, spanSpec{trace: uint64(j + 1), span: uint64(j + 1)})
		}
		h.send(t, makeTraces(specs...))
	}
	h.advance(t, cfg.IdleTime)
	h.ts.mu.Lock()
	lingering := len(h.ts.lingering())
	h.ts.mu.Unlock()
	require.Equal(t, 2000, lingering)
	// A flood of new traces: the lingering ones make room before any live one is forced.
	for i := 0; i < 20_000; i += 100 {
		var specs []spanSpec
		for j := i; j < i+100; j++ {
			specs = append(specs, spanSpec{trace: uint64(100_000 + j), span: uint64(100_000 + j)})
		}
		h.send(t, makeTraces(specs...))
		h.ts.mu.Lock()
		held := h.ts.held
		h.ts.mu.Unlock()
		require.LessOrEqual(t, held, cfg.MaxBufferedBytes)
		if sumCounter(t, h.tel, "weir_tailsampling_traces_decided", "cause", "memory") > 0 {
			h.ts.mu.Lock()
			assert.Empty(t, h.ts.lingering(), "a live trace was forced while dropped ones still lingered")
			h.ts.mu.Unlock()
			return
		}
	}
	t.Fatal("the flood never reached the memory bound: the test proves nothing")
}

// The decision cache is bounded: a dropped trace's decision can be evicted while the trace
// still lingers. Its late spans must still join the lingering trace (and an error among them
// keep all of it), not start a new trace that replaces the lingering one.
func TestLateSpans_DecisionEvictedWhileLingering(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	h.send(t, makeTraces(spanSpec{trace: 1, span: 1}, spanSpec{trace: 1, span: 2, parent: 1}))
	h.advance(t, cfg.IdleTime)
	_, n := h.kept()
	require.Zero(t, n, "dropped: no policy matched yet")

	h.ts.cache.Reset() // what eviction does to the trace's entry
	h.send(t, makeTraces(spanSpec{trace: 1, span: 3, parent: 1}))
	h.ts.mu.Lock()
	undecided, lingering := h.ts.pending, len(h.ts.lingering())
	h.ts.mu.Unlock()
	assert.Zero(t, undecided, "the late span joined the lingering trace, no new one")
	assert.Equal(t, 1, lingering)
	assert.Equal(t, int64(1), sumCounter(t, h.tel, "weir_tailsampling_late_spans", "decision", "dropped"))

	h.send(t, makeTraces(spanSpec{trace: 1, span: 4, parent: 2, err: true}))
	kept, n := h.kept()
	assert.Equal(t, 4, n, "the held spans, the late one, and the error")
	assert.Equal(t, "late_error", kept[1])

	// Its lingering ended with the keep; the window passing changes nothing more.
	h.advance(t, cfg.LateWindow+time.Second)
	h.ts.mu.Lock()
	held := h.ts.held
	h.ts.mu.Unlock()
	assert.Zero(t, held)
}

// A lingering trace that stops lingering removes its own entry from ts.traces, not another
// traceState's with the same ID.
func TestUnlinger_LeavesAnotherEntry(t *testing.T) {
	h := newHarness(t, testConfig())
	var id [16]byte
	id[0] = 1
	old, cur := &traceState{id: id}, &traceState{id: id}
	h.ts.mu.Lock()
	defer h.ts.mu.Unlock()
	h.ts.traces.put(cur)
	h.ts.unlingerLocked(old)
	assert.Same(t, cur, h.ts.traces.get(id))
}

// After a restart, RestoreLingering makes the traces a checkpoint's decisions dropped linger
// again (not those a later decision kept); their spans replayed with only rejoin them without
// being counted as late spans, and a late error keeps the whole trace. Traces whose
// late_window ran out by a replayed request's arrival stop lingering in the replay itself.
func TestRestoreLingering(t *testing.T) {
	cfg := testConfig()
	first := makeTraces(spanSpec{trace: 1, span: 1}, spanSpec{trace: 1, span: 2, parent: 1},
		spanSpec{trace: 2, span: 1}, spanSpec{trace: 3, span: 1})
	h := newHarness(t, cfg)
	h.ts.RecordDecisions()
	h.send(t, first)
	h.advance(t, cfg.IdleTime) // all three dropped
	h.send(t, makeTraces(spanSpec{trace: 2, span: 2, parent: 1, err: true}))
	_, n := h.kept()
	require.Equal(t, 2, n, "trace 2 kept late")
	decisions := h.ts.DrainDecisions(nil)
	dropped := h.clk.now()

	// The restart: a new sampler, the decisions loaded, then the replay.
	r := newHarness(t, cfg)
	r.clk.t = dropped
	require.NoError(t, r.ts.LoadDecisions(decisions))
	ids := r.ts.RestoreLingering(nil, decisions, dropped)
	assert.ElementsMatch(t, []pcommon.TraceID{traceID(1), traceID(3)}, ids, "trace 2 was kept after its drop")
	only := func(id pcommon.TraceID) bool { return slices.Contains(ids, id) }
	req, err := ptraceotlp.NewExportRequestFromTraces(first).MarshalProto()
	require.NoError(t, err)
	require.NoError(t, r.ts.ConsumeAt(context.Background(), req, 1, dropped, only))
	_, err = r.tel.GetMetric("weir_tailsampling_late_spans")
	assert.Error(t, err, "nothing counted as late: its own spans came back")
	r.ts.mu.Lock()
	assert.Len(t, r.ts.lingering(), 2)
	assert.Zero(t, r.ts.pending, "no trace waits for a decision")
	r.ts.mu.Unlock()

	late := makeTraces(spanSpec{trace: 1, span: 3, parent: 2, err: true})
	req, err = ptraceotlp.NewExportRequestFromTraces(late).MarshalProto()
	require.NoError(t, err)
	require.NoError(t, r.ts.ConsumeAt(context.Background(), req, 2, dropped.Add(cfg.LateWindow/2), nil))
	kept, n := r.kept()
	assert.Equal(t, 3, n, "trace 1's two spans back from the replay and its late error")
	assert.Equal(t, "late_error", kept[1])
	r.ts.mu.Lock()
	assert.Len(t, r.ts.lingering(), 1, "trace 3 lingers on")
	r.ts.mu.Unlock()

	// A replayed request that came after trace 3's window: it stops lingering there, and its
	// late error keeps only itself.
	late = makeTraces(spanSpec{trace: 3, span: 2, parent: 1, err: true})
	req, err = ptraceotlp.NewExportRequestFromTraces(late).MarshalProto()
	require.NoError(t, err)
	require.NoError(t, r.ts.ConsumeAt(context.Background(), req, 3, dropped.Add(cfg.LateWindow+time.Second), nil))
	_, n = r.kept()
	assert.Equal(t, 4, n, "trace 3's late error alone")
	r.ts.mu.Lock()
	assert.Empty(t, r.ts.lingering())
	assert.Zero(t, r.ts.held)
	r.ts.mu.Unlock()
}

// lingering is the dropped traces lingering in ts.traces; call it with ts.mu held or the
// sampler idle.
func (ts *Sampler) lingering() map[pcommon.TraceID]*traceState {
	m := map[pcommon.TraceID]*traceState{}
	for t := range ts.traces.all {
		if t.decided {
			m[t.id] = t
		}
	}
	return m
}

// HeldIDs lists the traces waiting for a decision, not the dropped ones lingering beside them
// in the same map.
func TestHeldIDs_NotLingering(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	h.send(t, makeTraces(spanSpec{trace: 1, span: 1}, spanSpec{trace: 2, span: 1}))
	h.advance(t, cfg.IdleTime) // both dropped, lingering
	h.send(t, makeTraces(spanSpec{trace: 3, span: 1, parent: 9}, spanSpec{trace: 4, span: 1}))
	h.ts.mu.Lock()
	require.Len(t, h.ts.lingering(), 2)
	h.ts.mu.Unlock()
	assert.ElementsMatch(t, []pcommon.TraceID{traceID(3), traceID(4)}, h.ts.HeldIDs(nil))
}
