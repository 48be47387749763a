package tailsample

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// foldTwin is an ID with id's fold: both halves changed by the same bits.
func foldTwin(id pcommon.TraceID, x uint64) pcommon.TraceID {
	binary.LittleEndian.PutUint64(id[:8], binary.LittleEndian.Uint64(id[:8])^x)
	binary.LittleEndian.PutUint64(id[8:], binary.LittleEndian.Uint64(id[8:])^x)
	return id
}

// The table against a map, with IDs crafted to share their fold (a sender can choose its
// trace IDs), so that the overflow map and the move from it on a delete are exercised; the
// zero ID's fold is the table's key 0.
func TestTraceTable_AsAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	var bases []pcommon.TraceID
	for range 40 {
		var id pcommon.TraceID
		binary.LittleEndian.PutUint64(id[:8], r.Uint64())
		binary.LittleEndian.PutUint64(id[8:], r.Uint64())
		bases = append(bases, id)
	}
	bases = append(bases, pcommon.TraceID{})
	randomID := func() pcommon.TraceID {
		// One of five twins of one of the bases: folds collide four times in five.
		return foldTwin(bases[r.IntN(len(bases))], uint64(r.IntN(5))<<40)
	}
	tt := newTraceTable()
	want := map[pcommon.TraceID]*traceState{}
	for step := range 20_000 {
		id := randomID()
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
			for _, b := range bases {
				for x := range uint64(5) {
					id := foldTwin(b, x<<40)
					require.Same(t, want[id], tt.get(id), "step %d", step)
				}
			}
		}
	}
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
