package tailsample

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/VictoriaMetrics/fastcache"
)

// testID returns the i-th of a sequence of distinct trace IDs (splitmix64 of i, and of its
// complement, for the two halves).
func testID(i uint64) []byte {
	mix := func(z uint64) uint64 {
		z += 0x9e3779b97f4a7c15
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		return z ^ z>>31
	}
	id := make([]byte, 16)
	binary.LittleEndian.PutUint64(id, mix(i))
	binary.LittleEndian.PutUint64(id[8:], mix(^i))
	return id
}

func TestDecidedFilter_FindsTheLastGenAdds(t *testing.T) {
	f := newDecidedFilter(10_000)
	const total = 35_000 // three rotations and a half
	for i := uint64(0); i < total; i++ {
		f.Add(testID(i))
		if i%2500 != 0 {
			continue
		}
		for j := uint64(0); j <= i && j < uint64(f.gen); j++ {
			if !f.Has(testID(i - j)) {
				t.Fatalf("after %d Adds: the Add %d before the last is not found (gen %d)", i+1, j, f.gen)
			}
		}
	}
	// IDs never added: the false positives, each a cache lookup, stay few.
	fp := 0
	const probes = 100_000
	for i := uint64(0); i < probes; i++ {
		if f.Has(testID(1<<40 + i)) {
			fp++
		}
	}
	rate := float64(fp) / probes
	t.Logf("false positive rate with one generation full and the other half: %.4f", rate)
	if rate > 0.05 {
		t.Errorf("false positive rate %.3f, want at most 0.05", rate)
	}
	// The older generations are gone: of the first Adds, no more are found than false
	// positives would give.
	old := 0
	for i := uint64(0); i < 10_000; i++ {
		if f.Has(testID(i)) {
			old++
		}
	}
	if old > 10_000/20 {
		t.Errorf("%d of the first 10000 Adds still found after 3.5 generations: rotation does not clear", old)
	}
}

// TestDecidedFilter_CoversTheCache checks the sampler's sizing against fastcache itself: every
// ID the cache still finds, the filter finds too, so a filtered lookup never misses a decision.
func TestDecidedFilter_CoversTheCache(t *testing.T) {
	const cacheBytes = 32 << 20
	cache := fastcache.New(cacheBytes)
	capacity := fastcacheEntries(cacheBytes, 16, DecisionRecordSize-16)
	f := newDecidedFilter(capacity * 3 / 2)
	value := make([]byte, DecisionRecordSize-16)
	var buf [16]byte
	n := uint64(0)
	// Right after a rotation the filter holds the fewest: the last gen Adds.
	for _, upTo := range []int64{f.gen, 2 * f.gen, 3 * f.gen} {
		for ; n < uint64(upTo); n++ {
			id := testID(n)
			f.Add(id)
			cache.Set(id, value)
		}
		found := 0
		for i := uint64(0); i < n && i < uint64(capacity*13/10); i++ { // no entry outlives capacity Adds by much
			id := testID(n - 1 - i)
			if len(cache.Get(buf[:0], id)) == 0 {
				continue
			}
			found++
			if !f.Has(id) {
				t.Fatalf("after %d Adds: the cache finds the ID added %d before the last, the filter does not", n, i)
			}
		}
		if found > capacity {
			t.Fatalf("after %d Adds the cache finds %d entries, more than fastcacheEntries says it holds (%d)", n, found, capacity)
		}
		if n > uint64(capacity) && found < capacity/2 {
			t.Fatalf("after %d Adds the cache finds only %d entries of %d: fastcacheEntries is far off", n, found, capacity)
		}
	}
}

// TestDecidedFilter_Concurrent runs lookups beside Adds and rotations: an ID a writer has
// just added is found by its Has unless gen Adds came in between (run with -race too). A
// writer can be descheduled between its Add and its Has for longer than the others take to
// make gen Adds (it was, in 2 of 200 runs), so the Adds in between are counted: an ID may be
// gone only once at least gen of them have been made, less the other writers' Adds still in
// flight. That gen Adds are remembered is TestDecidedFilter_FindsTheLastGenAdds's to check.
func TestDecidedFilter_Concurrent(t *testing.T) {
	f := newDecidedFilter(4096)
	const writers, each = 4, 20_000
	var wg sync.WaitGroup
	var adds atomic.Int64 // Adds returned, counted after each returns
	errs := make(chan string, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				id := testID(uint64(w)<<32 | uint64(i))
				before := adds.Load()
				f.Add(id)
				adds.Add(1)
				if !f.Has(id) {
					if since := adds.Load() - before; since < f.gen-(writers-1) {
						errs <- fmt.Sprintf("an ID is not found after %d Adds (gen %d)", since, f.gen)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
