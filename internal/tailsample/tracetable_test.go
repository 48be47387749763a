package tailsample

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The table against a map. Its keys are narrowed to five bits, so that most IDs share a key
// with others, as two in 2^64 do by chance: the overflow map and the move from it on a delete
// are exercised, and key 0 (the table's special case) comes up.
func TestTraceTable_AsAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	ids := make([]pcommon.TraceID, 300)
	for i := range ids {
		binary.LittleEndian.PutUint64(ids[i][:8], r.Uint64())
		binary.LittleEndian.PutUint64(ids[i][8:], r.Uint64())
	}
	tt := newTraceTable()
	tt.mask = 31
	want := map[pcommon.TraceID]*traceState{}
	for step := range 50_000 {
		id := ids[r.IntN(len(ids))]
		if r.IntN(2) == 0 {
			if st := want[id]; st != nil {
				tt.delete(st)
				delete(want, id)
			}
			tt.delete(&traceState{id: id}) // not held: no change
		} else {
			st := &traceState{id: id}
			tt.put(st)
			want[id] = st
		}
		require.Equal(t, len(want), tt.len(), "step %d", step)
		if step%500 == 0 {
			for _, id := range ids {
				require.Same(t, want[id], tt.get(id), "step %d", step)
			}
		}
	}
	assert.NotEmpty(t, tt.more, "keys shared")
	got := map[pcommon.TraceID]*traceState{}
	for st := range tt.all {
		got[st.id] = st
	}
	assert.Equal(t, want, got)
	assert.NotPanics(t, func() {
		for range tt.all {
			break // all stops when asked to
		}
	})
}

// Shutdown decides every held trace although deciding a kept one deletes it from the table,
// which moves others back into slots a walk of it has passed (Shutdown collects them first).
func TestShutdown_DecidesEveryHeldTrace(t *testing.T) {
	cfg := testConfig()
	cfg.Baseline.Probability = 1 // every trace kept, so every decision deletes
	h := newHarness(t, cfg)
	const traces = 5000
	for i := 0; i < traces; i += 100 {
		var specs []spanSpec
		for j := range 100 {
			specs = append(specs, spanSpec{trace: uint64(i + j + 1), span: 1})
		}
		h.send(t, makeTraces(specs...))
	}
	h.ts.mu.Lock()
	held := h.ts.traces.len()
	h.ts.mu.Unlock()
	require.Equal(t, traces, held)
	require.NoError(t, h.ts.Shutdown(t.Context()))
	kept, spans := h.kept()
	assert.Len(t, kept, traces, "every trace decided and kept at the stop")
	assert.Equal(t, traces, spans)
	assert.Zero(t, h.ts.traces.len())
	assert.Zero(t, h.ts.pending)
}

// BenchmarkTraceTable is the held traces' churn at 50k spans/s in traces of 10 (a new trace
// looked up, not found and put; an old one deleted) with 60k traces held, as ts.traces sees
// it: ns/op is one trace's lookup, put and delete, against a Go map doing the same.
func BenchmarkTraceTable(b *testing.B) {
	const live = 60_000
	r := rand.New(rand.NewPCG(15, 16))
	states := make([]traceState, 1<<18)
	for i := range states {
		binary.LittleEndian.PutUint64(states[i].id[:8], r.Uint64())
		binary.LittleEndian.PutUint64(states[i].id[8:], r.Uint64())
	}
	b.Run("table", func(b *testing.B) {
		tt := newTraceTable()
		for i := range live {
			tt.put(&states[i])
		}
		i := live
		for b.Loop() {
			st := &states[i%len(states)]
			if tt.get(st.id) == nil {
				tt.put(st)
			}
			tt.delete(&states[(i-live)%len(states)])
			i++
		}
	})
	b.Run("map", func(b *testing.B) {
		m := map[pcommon.TraceID]*traceState{}
		for i := range live {
			m[states[i].id] = &states[i]
		}
		i := live
		for b.Loop() {
			st := &states[i%len(states)]
			if _, ok := m[st.id]; !ok {
				m[st.id] = st
			}
			delete(m, states[(i-live)%len(states)].id)
			i++
		}
	})
}
