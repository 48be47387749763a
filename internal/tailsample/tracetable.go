package tailsample

import (
	"hash/maphash"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/weirhq/weir/internal/hashtable"
)

// traceTable maps trace IDs to the traces the sampler holds.
//
// Why not a Go map: nearly every lookup is of a trace never seen (a new trace's first spans),
// a miss, among about 100k held traces at 50k spans/s (10 s of max_wait, 10 s of late_window).
// In a shipped-config profile the runtime map's lookups of ts.traces took 240 ms of 6.5 s, about
// 1 µs each: its directory, table and control words are each a cache miss on a machine shared
// with ClickHouse. hashtable.Table reads one slot for a miss in most cases, and its Delete
// leaves no tombstones.
//
// The table is keyed by a 64-bit hash of the ID, seeded per table (hash/maphash), so that a
// sender cannot choose trace IDs that collide: with IDs of one key, lookups that go to the
// overflow map would cost what the map costs, and a delete's walk of it would grow with every
// such ID. Each traceState carries its whole ID. Two IDs with one key (by chance: about one
// pair in 2^64) cannot both be in the table: the second goes to more, a map looked in only
// when the slot holds another ID. So more holds an ID only while the table holds another one
// of its key, and a Delete from the table moves one from more in.
type traceTable struct {
	t    *hashtable.Table[*traceState]
	more map[pcommon.TraceID]*traceState
	seed maphash.Seed
	mask uint64 // all ones; tests narrow it to make keys collide
	sink uint64 // warm's loads go here, so that they are not left out
}

func newTraceTable() traceTable {
	return traceTable{t: hashtable.New[*traceState](1024), more: map[pcommon.TraceID]*traceState{}, seed: maphash.MakeSeed(), mask: ^uint64(0)}
}

// key is the table's key for id.
func (tt *traceTable) key(id pcommon.TraceID) uint64 {
	return maphash.Comparable(tt.seed, id) & tt.mask
}

// get returns id's trace, nil when none is held.
func (tt *traceTable) get(id pcommon.TraceID) *traceState {
	p := tt.t.Ref(tt.key(id))
	if p == nil {
		return nil
	}
	if (*p).id == id {
		return *p
	}
	return tt.more[id]
}

// put holds t under its ID, in place of the trace held under it, if any.
func (tt *traceTable) put(t *traceState) {
	k := tt.key(t.id)
	p := tt.t.Ref(k)
	switch {
	case p == nil:
		tt.t.Put(k, t)
	case (*p).id == t.id:
		*p = t
	default:
		tt.more[t.id] = t
	}
}

// delete removes t, if it is held. It compares pointers, not IDs: t is at hand, the IDs of the
// others in its slots are a cache miss each.
func (tt *traceTable) delete(t *traceState) {
	k := tt.key(t.id)
	p := tt.t.Ref(k)
	if p == nil {
		return
	}
	if *p != t {
		if tt.more[t.id] == t {
			delete(tt.more, t.id)
		}
		return
	}
	for mid, mt := range tt.more {
		if tt.key(mid) == k {
			*p = mt
			delete(tt.more, mid)
			return
		}
	}
	tt.t.Delete(k)
}

// warm loads the slots where the groups' traces would be, so that the cache misses of a
// request's lookups overlap instead of coming one after another, as metricstage's Touch does.
func (tt *traceTable) warm(list []group) {
	var s uint64
	for i := range list {
		k, _ := tt.t.Home(tt.key(list[i].id))
		s += k
	}
	tt.sink = s
}

// len is the number of traces held.
func (tt *traceTable) len() int { return tt.t.Len() + len(tt.more) }

// all yields every trace held, in no particular order. The table must not change meanwhile.
func (tt *traceTable) all(yield func(*traceState) bool) {
	for _, t := range tt.t.All() {
		if !yield(t) {
			return
		}
	}
	for _, t := range tt.more {
		if !yield(t) {
			return
		}
	}
}
