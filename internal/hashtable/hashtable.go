// Package hashtable is a hash table from uint64 keys that are hashes already (series hashes,
// stream identities) to values of any type: open addressing with linear probing over one flat
// slice of slots, at most 3/4 full.
//
// Why not a Go map: on weir's metric path a series' state is looked up once per point, and
// between two points of a series every other series is touched, so the lookup misses the
// cache. The runtime's Swiss table reads a group's control word, then the slot; here a lookup
// mostly reads the one cache line of its slot, and Ref updates a value in place instead of a
// second lookup to assign it. Keys are spread by a multiply after an XOR with a random seed:
// the hashes come from what senders choose (attribute values), and a fixed spreading would let
// crafted ones pile up in one run of slots. (kamstrup/intmap is the same idea without the seed.)
//
// A Table is not safe for concurrent use.
package hashtable

import (
	"iter"
	"math/bits"
	"math/rand/v2"
)

// Table maps uint64 keys to V. The zero Table is not usable: call New.
type Table[V any] struct {
	slots []slot[V] // len a power of two; key 0 marks an empty slot
	n     int       // keys in slots
	shift uint      // 64 - log2(len(slots))
	seed  uint64

	// Key 0 lives here, since it marks empty slots.
	hasZero bool
	zero    V
}

type slot[V any] struct {
	k uint64
	v V
}

const minSlots = 8

// New returns an empty table that holds hint keys before it grows.
func New[V any](hint int) *Table[V] {
	n := minSlots
	for n*3/4 < hint {
		n *= 2
	}
	return &Table[V]{slots: make([]slot[V], n), shift: uint(64 - bits.TrailingZeros(uint(n))), seed: rand.Uint64() | 1}
}

func (t *Table[V]) home(k uint64) uint64 { return ((k ^ t.seed) * 0x9E3779B97F4A7C15) >> t.shift }

// Len is the number of keys.
func (t *Table[V]) Len() int {
	if t.hasZero {
		return t.n + 1
	}
	return t.n
}

// Ref returns a pointer to k's value, nil when k is absent. It is valid until the next Put,
// Delete or DeleteFunc.
func (t *Table[V]) Ref(k uint64) *V {
	if k == 0 {
		if t.hasZero {
			return &t.zero
		}
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := t.home(k); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.k == k {
			return &s.v
		}
		if s.k == 0 {
			return nil
		}
	}
}

// Home returns the key and value in k's first slot: k's own when k is there. It does not probe
// on, so a key that collided sits in a later slot Home does not load. Key 0 marks an empty
// slot (with a zero value), so for k == 0 a match says nothing.
//
// Its use is the load: a caller about to look up many keys, each likely a cache miss, calls
// Home for all of them first, so that their misses overlap instead of coming one after
// another (see metricstage's Touch).
func (t *Table[V]) Home(k uint64) (uint64, V) {
	s := &t.slots[t.home(k)]
	return s.k, s.v
}

// Get returns k's value.
func (t *Table[V]) Get(k uint64) (V, bool) {
	if p := t.Ref(k); p != nil {
		return *p, true
	}
	var zero V
	return zero, false
}

// Put sets k's value.
func (t *Table[V]) Put(k uint64, v V) {
	if k == 0 {
		t.hasZero, t.zero = true, v
		return
	}
	if p := t.Ref(k); p != nil {
		*p = v
		return
	}
	if 4*(t.n+1) > 3*len(t.slots) {
		t.resize(2 * len(t.slots))
	}
	t.insert(k, v)
	t.n++
}

// insert puts k, absent, in its first free slot.
func (t *Table[V]) insert(k uint64, v V) {
	mask := uint64(len(t.slots) - 1)
	i := t.home(k)
	for t.slots[i].k != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = slot[V]{k: k, v: v}
}

func (t *Table[V]) resize(n int) {
	old := t.slots
	t.slots = make([]slot[V], n)
	t.shift = uint(64 - bits.TrailingZeros(uint(n)))
	for _, s := range old {
		if s.k != 0 {
			t.insert(s.k, s.v)
		}
	}
}

// Delete removes k and reports whether it was there. The slots after it in its run move back
// into the gap (backward-shift deletion), so a lookup still stops at the first empty slot:
// no tombstones, and lookups of absent keys stay as short under steady inserts and deletes
// (the tail sampler's held traces: thousands a second come and go) as in a table only ever
// added to. The table does not shrink; DeleteFunc does.
func (t *Table[V]) Delete(k uint64) bool {
	var zero V
	if k == 0 {
		had := t.hasZero
		t.hasZero, t.zero = false, zero
		return had
	}
	mask := uint64(len(t.slots) - 1)
	i := t.home(k)
	for t.slots[i].k != k {
		if t.slots[i].k == 0 {
			return false
		}
		i = (i + 1) & mask
	}
	// Move back each later key of the run whose home is not in (i, j]: it was placed past
	// the gap, and a lookup from its home would now stop at the gap.
	for j := (i + 1) & mask; t.slots[j].k != 0; j = (j + 1) & mask {
		if h := t.home(t.slots[j].k); (j-h)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = slot[V]{v: zero}
	t.n--
	return true
}

// DeleteFunc deletes the keys for which del returns true and returns how many it deleted. It
// rebuilds the slots (a sweep, not a per-key delete), shrinking them when few keys are left.
func (t *Table[V]) DeleteFunc(del func(k uint64, v V) bool) int {
	deleted := 0
	if t.hasZero && del(0, t.zero) {
		var zero V
		t.hasZero, t.zero = false, zero
		deleted++
	}
	var kept []slot[V] // the survivors, from the first deletion on (none: nothing to rebuild)
	for i, s := range t.slots {
		if s.k == 0 {
			continue
		}
		if !del(s.k, s.v) {
			if kept != nil {
				kept = append(kept, s)
			}
			continue
		}
		if kept == nil {
			kept = make([]slot[V], 0, t.n)
			for _, p := range t.slots[:i] {
				if p.k != 0 {
					kept = append(kept, p)
				}
			}
		}
	}
	if kept == nil {
		return deleted
	}
	deleted += t.n - len(kept)
	n := minSlots
	for n*3/4 < len(kept)*2 { // room to grow back before the next resize
		n *= 2
	}
	n = min(n, len(t.slots))
	clear(t.slots)
	if n < len(t.slots) {
		t.slots = make([]slot[V], n)
		t.shift = uint(64 - bits.TrailingZeros(uint(n)))
	}
	for _, s := range kept {
		t.insert(s.k, s.v)
	}
	t.n = len(kept)
	return deleted
}

// All yields every key and value, in no particular order. The table must not change meanwhile.
func (t *Table[V]) All() iter.Seq2[uint64, V] {
	return func(yield func(uint64, V) bool) {
		if t.hasZero && !yield(0, t.zero) {
			return
		}
		for _, s := range t.slots {
			if s.k != 0 && !yield(s.k, s.v) {
				return
			}
		}
	}
}
