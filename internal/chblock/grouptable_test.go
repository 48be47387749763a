package chblock

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The table against a map on random keys, with keys that share their hash or their minute,
// across growth and resets.
func TestGroupTable_AsAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tab := newGroupTable()
	for round := range 3 {
		want := map[groupKey]int32{}
		for i := range 20_000 {
			k := groupKey{hash: r.Uint64N(5000), key: r.Uint64N(8)}
			if i%3 == 0 {
				k.hash = r.Uint64() // spread as series hashes are
			}
			got, ok := tab.get(k)
			w, wok := want[k]
			require.Equal(t, wok, ok, "round %d, key %v", round, k)
			if ok {
				require.Equal(t, w, got)
				continue
			}
			want[k] = int32(len(want))
			tab.put(k, want[k])
		}
		assert.Equal(t, len(want), tab.n)
		for k, w := range want {
			got, ok := tab.get(k)
			require.True(t, ok)
			require.Equal(t, w, got)
		}
		tab.reset()
		_, ok := tab.get(groupKey{})
		assert.False(t, ok)
	}
}

// go test -run '^$' -bench GroupIndex ./internal/chblock: lookups of keys present, in random
// order, in the table and in the runtime map it replaced.
func BenchmarkGroupIndex(b *testing.B) {
	for _, n := range []int{4096, 1 << 18} {
		r := rand.New(rand.NewPCG(3, 4))
		keys := make([]groupKey, n)
		for i := range keys {
			keys[i] = groupKey{hash: r.Uint64(), key: uint64(29_000_000+i%3) << 3}
		}
		order := r.Perm(n)
		b.Run(fmt.Sprintf("table/%d", n), func(b *testing.B) {
			tab := newGroupTable()
			for i, k := range keys {
				tab.put(k, int32(i))
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, ok := tab.get(keys[order[i%n]]); !ok {
					b.Fatal("missing")
				}
			}
		})
		b.Run(fmt.Sprintf("map/%d", n), func(b *testing.B) {
			m := map[groupKey]int32{}
			for i, k := range keys {
				m[k] = int32(i)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, ok := m[keys[order[i%n]]]; !ok {
					b.Fatal("missing")
				}
			}
		})
	}
}
