package hashtable

import (
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The table against a map through random puts, updates in place, sweeps and key 0.
func TestTable_AsAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	tab := New[int64](0)
	want := map[uint64]int64{}
	check := func() {
		t.Helper()
		require.Equal(t, len(want), tab.Len())
		assert.Equal(t, want, maps.Collect(tab.All()))
		for k, v := range want {
			got, ok := tab.Get(k)
			require.True(t, ok, "key %d", k)
			require.Equal(t, v, got)
		}
	}
	for round := range 20 {
		for range 2000 {
			k := r.Uint64N(3000) // repeats: updates
			if r.IntN(4) == 0 {
				k = r.Uint64() // spread, as hashes are
			}
			if r.IntN(500) == 0 {
				k = 0
			}
			v := r.Int64()
			_, present := want[k]
			if p := tab.Ref(k); p != nil {
				require.True(t, present, "key %d found but never put", k)
				*p = v
			} else {
				require.False(t, present, "key %d put but not found", k)
				tab.Put(k, v)
			}
			want[k] = v
			_, ok := tab.Get(k ^ 1<<63) // absent, mostly
			_, wok := want[k^1<<63]
			require.Equal(t, wok, ok)
		}
		check()
		// A sweep of about half, or of all at the end.
		n := tab.DeleteFunc(func(k uint64, v int64) bool { return round == 19 || (v^int64(round))&1 == 0 })
		deleted := 0
		for k, v := range want {
			if round == 19 || (v^int64(round))&1 == 0 {
				delete(want, k)
				deleted++
			}
		}
		assert.Equal(t, deleted, n)
		check()
	}
	assert.Zero(t, tab.Len())
	assert.Equal(t, minSlots, len(tab.slots), "emptied, it shrinks back")
	assert.Zero(t, tab.DeleteFunc(func(uint64, int64) bool { return true }))
}

// Delete against a map under steady puts and deletes, as the tail sampler's held traces come
// and go: every key put and not deleted is found, every deleted one is not, at every step.
func TestTable_DeleteAsAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	tab := New[int](0)
	want := map[uint64]int{}
	for i := range 50_000 {
		k := r.Uint64N(600) // few keys, so that deletes often hit and runs form
		if r.IntN(300) == 0 {
			k = 0
		}
		if r.IntN(2) == 0 {
			_, had := want[k]
			require.Equal(t, had, tab.Delete(k), "step %d: delete %d", i, k)
			delete(want, k)
		} else {
			tab.Put(k, i)
			want[k] = i
		}
		require.Equal(t, len(want), tab.Len(), "step %d", i)
		if i%1000 == 0 {
			for k := range uint64(600) {
				v, ok := tab.Get(k)
				wv, wok := want[k]
				require.Equal(t, wok, ok, "step %d: key %d", i, k)
				require.Equal(t, wv, v, "step %d: key %d", i, k)
			}
		}
	}
	assert.Equal(t, want, maps.Collect(tab.All()))
}

// A run of keys with one home at the end of the slots wraps around to the start; deleting
// any of them in any order leaves the others found. This is the case the backward shift's
// modular distances are for.
func TestTable_DeleteAcrossTheWrap(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for trial := range 200 {
		tab := New[uint64](0)
		last := uint64(len(tab.slots) - 1)
		// Keys whose home is the last slot or the one before it: five of them take that
		// slot (or two) and three at the start. Eight slots hold six keys before growing,
		// so five keys.
		var keys []uint64
		for len(keys) < 5 {
			k := r.Uint64()
			if h := tab.home(k); k != 0 && (h == last || h == last-1) {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			tab.Put(k, k)
		}
		require.Equal(t, uint64(len(tab.slots)-1), last, "the table did not grow")
		require.NotZero(t, tab.slots[0].k, "trial %d: the run wraps", trial)
		live := map[uint64]bool{}
		for _, k := range keys {
			live[k] = true
		}
		for _, i := range r.Perm(len(keys)) {
			require.True(t, tab.Delete(keys[i]))
			delete(live, keys[i])
			for _, k := range keys {
				_, ok := tab.Get(k)
				require.Equal(t, live[k], ok, "trial %d: key %x after deleting %x", trial, k, keys[i])
			}
		}
		require.Zero(t, tab.Len())
		for _, s := range tab.slots {
			require.Zero(t, s.k, "trial %d: every slot empty again", trial)
		}
	}
}

// Keys that differ only in their high bits, or only in their low bits, spread over the slots.
func TestTable_Spread(t *testing.T) {
	for _, step := range []uint64{1, 1 << 20, 1 << 44} {
		tab := New[struct{}](0)
		for i := uint64(1); i <= 1<<14; i++ {
			tab.Put(i*step, struct{}{})
		}
		longest, run := 0, 0
		for _, s := range tab.slots {
			if s.k == 0 {
				run = 0
				continue
			}
			run++
			longest = max(longest, run)
		}
		assert.Less(t, longest, 200, "step %d: longest run of full slots", step)
	}
}

// go test -run '^$' -bench . ./internal/hashtable: a lookup and update of keys present, in
// random order, against the runtime map.
func BenchmarkRef(b *testing.B) {
	for _, n := range []int{4096, 1 << 18} {
		r := rand.New(rand.NewPCG(7, 8))
		keys := make([]uint64, n)
		for i := range keys {
			keys[i] = r.Uint64()
		}
		order := r.Perm(n)
		b.Run("table/"+itoa(n), func(b *testing.B) {
			tab := New[int64](n)
			for _, k := range keys {
				tab.Put(k, 1)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				*tab.Ref(keys[order[i%n]]) = int64(i)
			}
		})
		b.Run("map/"+itoa(n), func(b *testing.B) {
			m := make(map[uint64]int64, n)
			for _, k := range keys {
				m[k] = 1
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := keys[order[i%n]]
				if _, ok := m[k]; ok {
					m[k] = int64(i)
				}
			}
		})
	}
}

func itoa(n int) string {
	if n >= 1<<10 {
		return itoa(n>>10) + "Ki"
	}
	return string(rune('0'+n/1000%10)) + string(rune('0'+n/100%10)) + string(rune('0'+n/10%10)) + string(rune('0'+n%10))
}

func TestTable_Home(t *testing.T) {
	tb := New[int64](0)
	// The first key put is in its home slot: Home finds it. An absent key's home slot holds key
	// 0 or another key, never the absent one.
	tb.Put(42, 7)
	if k, v := tb.Home(42); k != 42 || v != 7 {
		t.Fatalf("Home(42) = %d, %d; want 42, 7", k, v)
	}
	if k, _ := tb.Home(43); k == 43 {
		t.Fatal("Home(43) returned key 43, which is not in the table")
	}
}
