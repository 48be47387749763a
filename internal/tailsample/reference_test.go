package tailsample

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// memLog is a Source over requests kept in memory, as weir's ingest log keeps them.
type memLog struct {
	reqs map[uint64][]byte
	fail map[uint64]bool // positions that read back as an error
	read int
}

func (l *memLog) ReadRequest(pos uint64, buf *[]byte) ([]byte, error) {
	l.read++
	if l.fail[pos] {
		return nil, errors.New("segment gone")
	}
	req, ok := l.reqs[pos]
	if !ok {
		return nil, fmt.Errorf("no request at %d", pos)
	}
	*buf = append((*buf)[:0], req...)
	return *buf, nil
}

// keptSpans lists what a sink received: one line per span, with its trace, reason and
// tracestate, sorted.
func keptSpans(h *harness) []string {
	var out []string
	for _, td := range h.sink.AllTraces() {
		forEachSpan(td, func(sp ptrace.Span) {
			r, _ := sp.Attributes().Get("weir.sampling.reason")
			out = append(out, fmt.Sprintf("%s/%s %s %q", sp.TraceID(), sp.SpanID(), r.Str(), sp.TraceState().AsRaw()))
		})
	}
	sort.Strings(out)
	return out
}

// TestHoldByReference_SameAsFrames runs one random stream through a sampler holding spans as
// compressed frames and one holding references into a log: traces spread over batches,
// errors, slow spans, late spans of kept and of dropped traces (lingering and past
// late_window), traces over max_trace_bytes, several traces to a batch. Both keep the same
// spans with the same reasons and weights; the one holding references holds a fraction of
// the memory, and OldestHeld covers its lingering traces.
func TestHoldByReference_SameAsFrames(t *testing.T) {
	cfg := testConfig()
	cfg.Baseline.Probability = 0.3
	cfg.Latency = LatencyPolicy{TraceThreshold: 500 * time.Millisecond}
	cfg.LateWindow = 6 * time.Second
	cfg.MaxTraceBytes = 4 << 10
	frames, refs := newHarness(t, cfg), newHarness(t, cfg)
	log := &memLog{reqs: map[uint64][]byte{}}
	refs.ts.HoldByReference(log)

	rng := rand.New(rand.NewPCG(7, 11))
	var heldFrames, heldRefs int64
	lingered := false
	pos := uint64(1000)
	for round := 0; round < 300; round++ {
		var specs []spanSpec
		for k := rng.IntN(6); k >= 0; k-- {
			trace := uint64(1 + rng.IntN(120)) // traces recur: spread over batches, late spans
			n := 1 + rng.IntN(4)
			if rng.IntN(40) == 0 {
				n = 60 // past max_trace_bytes
			}
			for i := 0; i < n; i++ {
				s := spanSpec{trace: trace, span: rng.Uint64N(1 << 40), parent: uint64(rng.IntN(2))}
				s.err = rng.IntN(50) == 0
				if rng.IntN(60) == 0 {
					s.dur = time.Second
				}
				specs = append(specs, s)
			}
		}
		req, err := ptraceotlp.NewExportRequestFromTraces(makeTraces(specs...)).MarshalProto()
		require.NoError(t, err)
		pos += uint64(len(req)) + 12
		log.reqs[pos] = req
		require.NoError(t, frames.ts.ConsumeAt(context.Background(), req, pos, time.Time{}, nil))
		require.NoError(t, refs.ts.ConsumeAt(context.Background(), req, pos, time.Time{}, nil))
		step := time.Duration(rng.IntN(1500)) * time.Millisecond
		frames.advance(t, step)
		refs.advance(t, step)

		refs.ts.mu.Lock()
		if len(refs.ts.lingering()) > 0 {
			lingered = true
			oldest, ok := int64(-1), false
			for _, tr := range refs.ts.lingering() {
				if !ok || int64(tr.firstPos) < oldest {
					oldest, ok = int64(tr.firstPos), true
				}
			}
			refs.ts.mu.Unlock()
			got, held := refs.ts.OldestHeld()
			require.True(t, held)
			require.LessOrEqual(t, int64(got), oldest, "OldestHeld covers the lingering traces")
		} else {
			refs.ts.mu.Unlock()
		}
		frames.ts.mu.Lock()
		heldFrames = max(heldFrames, frames.ts.held-int64(frames.ts.traces.len())*traceOverhead)
		frames.ts.mu.Unlock()
		refs.ts.mu.Lock()
		heldRefs = max(heldRefs, refs.ts.held-int64(refs.ts.traces.len())*traceOverhead)
		refs.ts.mu.Unlock()
	}
	frames.advance(t, time.Minute)
	refs.advance(t, time.Minute)

	want, got := keptSpans(frames), keptSpans(refs)
	require.Greater(t, len(want), 200)
	assert.Equal(t, want, got, "the same spans kept, with the same reasons and weights")
	assert.True(t, lingered)
	assert.Greater(t, log.read, 0)
	assert.Less(t, heldRefs*2, heldFrames, "references take less than half what frames take")
	t.Logf("%d spans kept; held beyond the traces' overhead at most %d B by reference, %d B as frames; %d requests read back",
		len(got), heldRefs, heldFrames, log.read)
}

// A request that cannot be read back loses its kept spans, reported; the other requests'
// spans still reach the output.
func TestHoldByReference_UnreadableRequest(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	log := &memLog{reqs: map[uint64][]byte{}, fail: map[uint64]bool{20: true}}
	h.ts.HoldByReference(log)
	for i, pos := range []uint64{10, 20, 30} {
		req, err := ptraceotlp.NewExportRequestFromTraces(makeTraces(spanSpec{trace: uint64(i + 1), span: uint64(i + 1), err: true})).MarshalProto()
		require.NoError(t, err)
		log.reqs[pos] = req
		require.NoError(t, h.ts.ConsumeAt(context.Background(), req, pos, time.Time{}, nil))
	}
	h.clk.add(time.Minute)
	// The loss is counted and logged; the round itself, which may run while another request
	// is taken, does not fail.
	require.NoError(t, h.ts.Tick(context.Background()))
	assert.Equal(t, int64(1), sumCounterAll(t, h.tel, "weir_tailsampling_spans_unreadable"))
	kept, n := h.kept()
	assert.Equal(t, 2, n)
	assert.Equal(t, map[uint64]string{1: "error", 3: "error"}, kept)
}

// TestOldestHeld_CountsSameAsScan: the position counts OldestHeld reads give, after every
// step of a random stream, what walking every held and lingering trace gives. The stream has
// positions consumed out of order, late spans of lingering traces, traces over
// max_trace_bytes, decisions at the memory bound and by DecideBefore, and restored lingering
// traces whose spans come back in a replay; it runs with spans held as frames and by
// reference.
func TestOldestHeld_CountsSameAsScan(t *testing.T) {
	for _, byRef := range []bool{false, true} {
		t.Run(fmt.Sprintf("byReference=%v", byRef), func(t *testing.T) {
			cfg := testConfig()
			cfg.Baseline.Probability = 0.3
			cfg.IdleTime, cfg.MaxWait, cfg.LateWindow = 2*time.Second, 5*time.Second, 5*time.Second
			cfg.MaxTraceBytes = 4 << 10
			log := &memLog{reqs: map[uint64][]byte{}}
			rng := rand.New(rand.NewPCG(3, 5))
			request := func(traces ...uint64) []byte {
				var specs []spanSpec
				for _, tr := range traces {
					for i := 1 + rng.IntN(3); i > 0; i-- {
						specs = append(specs, spanSpec{trace: tr, span: rng.Uint64N(1 << 40), parent: uint64(rng.IntN(2)), err: rng.IntN(60) == 0})
					}
				}
				req, err := ptraceotlp.NewExportRequestFromTraces(makeTraces(specs...)).MarshalProto()
				require.NoError(t, err)
				return req
			}

			// Dropped decisions of a run before, to restore as lingering.
			first := newHarness(t, testConfig())
			first.ts.RecordDecisions()
			for tr := uint64(500); tr < 520; tr++ {
				require.NoError(t, first.ts.ConsumeAt(context.Background(), request(tr), 1, time.Time{}, nil))
			}
			first.advance(t, time.Minute)
			decisions := first.ts.DrainDecisions(nil)
			require.NotEmpty(t, decisions)

			h := newHarness(t, cfg)
			h.ts.cfg.MaxBufferedBytes = 12 << 10 // below what Validate allows: the bound is met often
			if byRef {
				h.ts.HoldByReference(log)
			}
			check := func(step string) {
				t.Helper()
				// The whole count, not only its smallest position: a count off above the
				// smallest would show only once it became the smallest.
				require.Equal(t, h.ts.positionsByScan(), h.ts.positionCounts(), "%s: traces by position", step)
				wp, wok := h.ts.oldestHeldByScan()
				gp, gok := h.ts.OldestHeld()
				require.Equal(t, wok, gok, "%s: held or not", step)
				require.Equal(t, wp, gp, "%s: oldest position", step)
			}
			restored := h.ts.RestoreLingering(nil, decisions, h.clk.now())
			require.NotEmpty(t, restored)
			check("restored")
			pos := uint64(100)
			// The replay: the restored traces' spans come back.
			only := map[[16]byte]bool{}
			for _, id := range restored {
				only[id] = true
			}
			for _, tr := range []uint64{500, 505, 510, 519} {
				req := request(tr)
				pos += uint64(len(req))
				log.reqs[pos] = req
				require.NoError(t, h.ts.ConsumeAt(context.Background(), req, pos, h.clk.now(),
					func(id pcommon.TraceID) bool { return only[id] }))
				check("replayed")
			}

			var counted, moved, full int
			for round := 0; round < 400; round++ {
				// Two requests logged in one order and consumed in the other, half the time.
				var reqs [2][]byte
				var at [2]uint64
				for i := range reqs {
					var traces []uint64
					for k := rng.IntN(4); k >= 0; k-- {
						// A sliding set of traces: each recurs over a few rounds, then its
						// spans come late.
						traces = append(traces, uint64(1000+3*round+rng.IntN(30)))
					}
					if rng.IntN(8) == 0 {
						traces = append(traces, uint64(500+rng.IntN(20))) // late spans of a restored trace
					}
					reqs[i] = request(traces...)
					pos += uint64(len(reqs[i]))
					at[i] = pos
					log.reqs[pos] = reqs[i]
				}
				order := []int{0, 1}
				if rng.IntN(2) == 0 {
					order = []int{1, 0}
					moved++
				}
				for _, i := range order {
					require.NoError(t, h.ts.ConsumeAt(context.Background(), reqs[i], at[i], time.Time{}, nil))
					check("consumed")
				}
				h.advance(t, time.Duration(rng.IntN(400))*time.Millisecond)
				check("ticked")
				if rng.IntN(25) == 0 {
					require.NoError(t, h.ts.DecideBefore(context.Background(), pos-uint64(rng.IntN(4000))))
					check("decided before")
				}
				if _, ok := h.ts.OldestHeld(); ok {
					counted++
				}
				h.ts.mu.Lock()
				if h.ts.held > h.ts.cfg.MaxBufferedBytes*3/4 {
					full++
				}
				h.ts.mu.Unlock()
			}
			h.advance(t, time.Minute)
			check("all decided")
			h.advance(t, time.Minute) // the traces dropped by the last advance stop lingering
			check("none lingering")
			_, ok := h.ts.OldestHeld()
			assert.False(t, ok)
			assert.Greater(t, counted, 300)
			assert.Greater(t, moved, 100)
			assert.Greater(t, full, 20, "rounds near the memory bound")
			t.Logf("%d rounds with traces held, %d near the memory bound", counted, full)
		})
	}
}

// A late span of a lingering trace, logged before the spans that made it (consumed out of
// order), moves the trace's position down: OldestHeld must cover the request it came in.
func TestOldestHeld_LateSpanBelowLingering(t *testing.T) {
	h := newHarness(t, testConfig()) // baseline 0: the trace is dropped and lingers
	log := &memLog{reqs: map[uint64][]byte{}}
	h.ts.HoldByReference(log)
	consumeAt := func(pos uint64, s spanSpec) {
		t.Helper()
		req, err := ptraceotlp.NewExportRequestFromTraces(makeTraces(s)).MarshalProto()
		require.NoError(t, err)
		log.reqs[pos] = req
		require.NoError(t, h.ts.ConsumeAt(context.Background(), req, pos, time.Time{}, nil))
	}
	consumeAt(200, spanSpec{trace: 1, span: 1})
	h.advance(t, 15*time.Second) // decided at max_wait, dropped: lingering
	pos, ok := h.ts.OldestHeld()
	require.True(t, ok)
	require.Equal(t, uint64(200), pos)
	consumeAt(100, spanSpec{trace: 1, span: 2, parent: 1}) // logged first, consumed late
	pos, ok = h.ts.OldestHeld()
	require.True(t, ok)
	assert.Equal(t, uint64(100), pos, "the lingering trace now needs the request at 100")
	wp, wok := h.ts.oldestHeldByScan()
	assert.Equal(t, wok, ok)
	assert.Equal(t, wp, pos)
}

// positionsByScan counts the traces OldestHeld covers by their firstPos, walking every held
// and lingering trace: what the sampler's counts (firstPos) must hold.
func (ts *Sampler) positionsByScan() map[uint64]int32 {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	m := map[uint64]int32{}
	for _, t := range ts.fifo[ts.head:] {
		if t != nil && !t.decided {
			m[t.firstPos]++
		}
	}
	if ts.src != nil {
		for _, t := range ts.lingerQ[ts.lingerHead:] {
			if t != nil && !t.gone && t.firstPos != noPos {
				m[t.firstPos]++
			}
		}
	}
	return m
}

// positionCounts is a copy of the sampler's counts.
func (ts *Sampler) positionCounts() map[uint64]int32 {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return maps.Clone(ts.firstPos)
}

// oldestHeldByScan is OldestHeld found by walking every held and lingering trace, as it was
// before the counts.
func (ts *Sampler) oldestHeldByScan() (pos uint64, ok bool) {
	for p := range ts.positionsByScan() {
		if !ok || p < pos {
			pos, ok = p, true
		}
	}
	return pos, ok
}

// HoldByReference after traces are held panics: the counts would leave out the dropped
// traces lingering in memory.
func TestHoldByReference_Late(t *testing.T) {
	h := newHarness(t, testConfig())
	req, err := ptraceotlp.NewExportRequestFromTraces(makeTraces(spanSpec{trace: 1, span: 1})).MarshalProto()
	require.NoError(t, err)
	require.NoError(t, h.ts.ConsumeAt(context.Background(), req, 200, time.Time{}, nil))
	assert.Panics(t, func() { h.ts.HoldByReference(&memLog{}) })
}
