package chblock

import "math/rand/v2"

// groupTable is SeriesBlock's index of its rows, groupKey to meta index: open addressing with
// linear probing over one flat slice of 24-byte slots, at most half full, so that a lookup
// mostly reads one cache line. The runtime map reads its group's control word, then the
// slot; a block's table is hundreds of KiB and cold between a series' points, and those two
// misses were 7% of the metric path's CPU at 50k points/s (bench-e2e, 2026-12-07).
// BenchmarkGroupIndex: 4 ns a lookup against the map's 13 in a table of 4,096 rows, 23-30
// against 65-68 in one of 262,144. Series hashes are hashes already: a multiply spreads them,
// after an XOR with a random seed so that hashes chosen to collide (attribute values crafted
// against weir's deterministic series hash) do not pile up in one run of slots.
// (maphash.Comparable was slower than the map: 19 ns hot.)
type groupTable struct {
	slots []groupSlot
	n     int
	shift uint // 64 - log2(len(slots))
	seed  uint64
}

type groupSlot struct {
	k groupKey
	v int32 // meta index + 1; 0: empty
}

const groupTableMin = 1 << 10

func newGroupTable() groupTable {
	return groupTable{slots: make([]groupSlot, groupTableMin), shift: 64 - 10, seed: rand.Uint64()}
}

func (t *groupTable) home(k groupKey) uint64 {
	return ((k.hash^t.seed)*0x9E3779B97F4A7C15 + k.key*0xC2B2AE3D27D4EB4F) >> t.shift
}

// homeValue is the value in k's first slot, whatever key it holds: a load for SeriesBlock.Touch
// to bring the slot into the cache, with no probing.
func (t *groupTable) homeValue(k groupKey) int32 { return t.slots[t.home(k)].v }

// get returns k's meta index.
func (t *groupTable) get(k groupKey) (int32, bool) {
	mask := uint64(len(t.slots) - 1)
	for i := t.home(k); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.v == 0 {
			return 0, false
		}
		if s.k == k {
			return s.v - 1, true
		}
	}
}

// put adds k, which get did not find, with meta index v.
func (t *groupTable) put(k groupKey, v int32) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	t.insert(k, v+1)
	t.n++
}

func (t *groupTable) insert(k groupKey, v int32) {
	mask := uint64(len(t.slots) - 1)
	i := t.home(k)
	for t.slots[i].v != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = groupSlot{k: k, v: v}
}

func (t *groupTable) grow() {
	old := t.slots
	t.slots = make([]groupSlot, 2*len(old))
	t.shift--
	for _, s := range old {
		if s.v != 0 {
			t.insert(s.k, s.v)
		}
	}
}

// reset empties the table, keeping its slots.
func (t *groupTable) reset() {
	if t.n > 0 {
		clear(t.slots)
	}
	t.n = 0
}
