package chshard

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSelector_SlotsFollowWeights(t *testing.T) {
	f := func(weights []int, want []int) {
		t.Helper()
		s, err := NewSelector(weights)
		require.NoError(t, err)
		var got []int
		for key := range uint64(len(want)) {
			got = append(got, s.Shard(key))
		}
		assert.Equal(t, want, got, "weights %v", weights)
	}
	f([]int{1, 1}, []int{0, 1, 0, 1})
	f([]int{2, 1}, []int{0, 0, 1, 0, 0, 1})
	f([]int{1, 0, 2}, []int{0, 2, 2, 0})
}

func TestSelector_SpreadsEvenly(t *testing.T) {
	s, err := NewSelector([]int{1, 1, 1})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	counts := make([]int, 3)
	for range 30000 {
		var id [16]byte
		for i := range id {
			id[i] = byte(rng.Uint32())
		}
		counts[s.Shard(TraceKey(id))]++
	}
	for i, n := range counts {
		assert.InDelta(t, 10000, n, 500, "shard %d", i)
	}
}

func TestNewSelector_Errors(t *testing.T) {
	for _, w := range [][]int{nil, {0, 0}, {1, -1}, {MaxSlots, 1}} {
		_, err := NewSelector(w)
		assert.Error(t, err, "%v", w)
	}
}

func TestStringKey_IsTheBytesHash(t *testing.T) {
	var id [16]byte
	copy(id[:], "0123456789abcdef")
	assert.Equal(t, TraceKey(id), StringKey("0123456789abcdef"))
	assert.NotEqual(t, StringKey("checkout"), StringKey("cart"))
}

func BenchmarkStringKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = StringKey("checkout-service")
	}
}
