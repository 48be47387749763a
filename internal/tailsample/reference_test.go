package tailsample

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		heldFrames = max(heldFrames, frames.ts.held-int64(len(frames.ts.traces))*traceOverhead)
		frames.ts.mu.Unlock()
		refs.ts.mu.Lock()
		heldRefs = max(heldRefs, refs.ts.held-int64(len(refs.ts.traces))*traceOverhead)
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
