package tailsample

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"

	"github.com/weirhq/weir/internal/model"
)

// decidedFilter tells, in one memory access, that a trace was not decided recently: a blocked
// Bloom filter of the trace IDs put in the decision cache. Nearly every trace a request
// starts is new, and a fastcache lookup that misses still takes the bucket's lock and a walk
// of its map: about 1 µs a trace, 5.9 % of weir's CPU at 50k spans/s (shipped config,
// 2026-12-07 21:33 profile). The filter answers those in one cache line and sends the rest
// (the traces it may have seen, and its false positives, about 3 %) to the cache.
//
// It must never forget a trace the cache still holds, or late spans of a decided trace would
// start a new one. The filter keeps two generations, interleaved so that a lookup reads one
// cache line: Adds go to the current one, and after gen of them the other is cleared and
// becomes current, so a trace stays found for at least gen Adds after its own. gen is sized
// above what the cache can hold (see newDecidedFilter).
//
// Has may run concurrently with Add. Adds may run concurrently with each other; a rotation
// is done by the Add that reaches gen.
type decidedFilter struct {
	// words holds pairs: words[2*i+g] is block i of generation g.
	words  []uint64
	blocks uint64
	cur    atomic.Uint64 // the generation Adds go to: 0 or 1
	n      atomic.Int64  // Adds since the last rotation
	gen    int64
}

// filterBitsPerKey is three bits in a 64-bit word, about 6 keys a word: with one generation
// full and the other half, a lookup (it tries both) finds 2.7 % of the IDs never added
// (TestDecidedFilter_FindsTheLastGenAdds logs it).
const filterBitsPerKey = 10

// newDecidedFilter returns a filter that finds every trace among the last keys Adds.
func newDecidedFilter(keys int) *decidedFilter {
	keys = max(keys, 1024)
	blocks := uint64(keys*filterBitsPerKey+63) / 64
	return &decidedFilter{words: make([]uint64, 2*blocks), blocks: blocks, gen: int64(keys)}
}

// fastcacheEntries is how many entries of keyLen and valueLen bytes a fastcache of maxBytes
// holds at most: 512 buckets, each a ring of 64 KiB chunks that an entry (with a 4-byte
// header) never straddles. This follows fastcache's Init and Set (v1.12/v1.13); a filter
// sized from it with margin stays exact if that changes a little, and only costs lookups if
// the cache became smaller.
func fastcacheEntries(maxBytes, keyLen, valueLen int) int {
	const buckets, chunk = 512, 64 << 10
	bucketBytes := (maxBytes + buckets - 1) / buckets
	chunks := (bucketBytes + chunk - 1) / chunk
	return buckets * chunks * (chunk / (4 + keyLen + valueLen))
}

// filterHash mixes a trace ID into 64 bits. Trace IDs are meant to be random, but some are
// not (X-Ray's begin with a timestamp), so both halves go through a finalizer.
func filterHash(id []byte) uint64 {
	return model.Fmix64(binary.LittleEndian.Uint64(id) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(id[8:16]), 29)*0x9e3779b97f4a7c15)
}

// slot returns the word pair index and the three-bit mask of h.
func (f *decidedFilter) slot(h uint64) (uint64, uint64) {
	i, _ := bits.Mul64(h, f.blocks) // the high bits pick the block
	mask := uint64(1)<<(h&63) | uint64(1)<<(h>>6&63) | uint64(1)<<(h>>12&63)
	return 2 * i, mask
}

// Has reports whether id may have been added; false means it was not among the last gen Adds.
func (f *decidedFilter) Has(id []byte) bool {
	i, mask := f.slot(filterHash(id))
	w := f.words[i : i+2 : i+2]
	return atomic.LoadUint64(&w[0])&mask == mask || atomic.LoadUint64(&w[1])&mask == mask
}

// Add adds id.
func (f *decidedFilter) Add(id []byte) {
	i, mask := f.slot(filterHash(id))
	atomic.OrUint64(&f.words[i+f.cur.Load()], mask)
	if f.n.Add(1) == f.gen {
		f.rotate()
	}
}

// rotate clears the older generation and makes it current: what it held is at least gen
// Adds old.
func (f *decidedFilter) rotate() {
	next := f.cur.Load() ^ 1
	for i := next; i < uint64(len(f.words)); i += 2 {
		atomic.StoreUint64(&f.words[i], 0)
	}
	f.cur.Store(next)
	f.n.Store(0)
}
