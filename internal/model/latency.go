package model

import (
	"math"
	"slices"
	"sort"
)

// LatencyScale is the exponential-histogram scale of every latency distribution weir stores:
// bucket i holds (2^(i/64), 2^((i+1)/64)], so a bucket's midpoint is within 0.55% of any value
// in it. One fixed scale makes distributions merge across windows, tiers and instances by
// adding bucket counts (sumMap).
const LatencyScale = 6

// latencyBase is 2^LatencyScale: bucket i covers (2^(i/latencyBase), 2^((i+1)/latencyBase)].
var latencyBase = math.Ldexp(1, LatencyScale)

// LatencyBucketIndex is the bucket at LatencyScale holding v > 0 (nanoseconds), with the
// OTLP convention that bucket i holds values in (base^i, base^(i+1)].
func LatencyBucketIndex(v float64) int32 {
	// Every span's duration goes through here: the exponent and a table on the mantissa
	// instead of math.Log2 (3% of weir's CPU). v = 2^exp * m, m in [1, 2).
	bits := math.Float64bits(v)
	e := int((bits >> 52) & 0x7ff)
	if e == 0 || e == 0x7ff {
		return latencyBucketIndexLog(v) // subnormal, Inf, NaN: not a duration in ns
	}
	exp := int32(e - 1023)
	mant := bits & (1<<52 - 1)
	if mant == 0 {
		// Exact powers of two sit on a bucket's upper bound.
		return exp<<LatencyScale - 1
	}
	// The top mantissaCellBits bits pick a cell of [1, 2) narrower than any bucket, so one
	// comparison with the next bucket's lower bound places m.
	j := latencyCell[mant>>(52-mantissaCellBits)]
	if m := math.Float64frombits(mant | 1023<<52); m > latencyBound[j+1] {
		j++
	}
	return exp<<LatencyScale + int32(j)
}

// latencyBucketIndexLog is LatencyBucketIndex by the logarithm, for what is not a normal
// float (and the tests' reference).
func latencyBucketIndexLog(v float64) int32 {
	frac, exp := math.Frexp(v) // v = frac * 2^exp, frac in [0.5, 1)
	if frac == 0.5 {
		return int32((exp-1)<<LatencyScale) - 1
	}
	return int32(math.Ceil(math.Log2(v)*latencyBase)) - 1
}

// mantissaCellBits: cells of 1/256 in [1, 2), narrower than the narrowest bucket of an
// octave at LatencyScale (2^(1/64) - 1, about 0.0109).
const mantissaCellBits = 8

// latencyBound[j] is 2^(j/64), the lower bound of the octave's bucket j (latencyBound[64] is
// 2); latencyCell[k] is the largest j with latencyBound[j] below the cell's low end 1+k/256
// (0 for the first cell).
var latencyBound, latencyCell = latencyTables()

func latencyTables() (bound [1<<LatencyScale + 1]float64, cell [1 << mantissaCellBits]uint8) {
	for j := range bound {
		bound[j] = math.Exp2(float64(j) / latencyBase)
	}
	bound[1<<LatencyScale] = 2
	for k := range cell {
		low := 1 + float64(k)/(1<<mantissaCellBits)
		j := 0
		for j+1 < 1<<LatencyScale && bound[j+1] < low {
			j++
		}
		cell[k] = uint8(j)
	}
	return bound, cell
}

// LatencyBucketValue is the geometric midpoint of bucket i at LatencyScale, 2^((i+0.5)/64)
// nanoseconds: within 0.55% of every value in the bucket.
func LatencyBucketValue(i int32) float64 {
	return math.Exp2((float64(i) + 0.5) / latencyBase)
}

// Distribution is a latency distribution: ZeroCount values of zero, and Counts[k] values in
// bucket Indexes[k] at scale LatencyScale-Downscale, where bucket i holds
// (2^(i/2^scale), 2^((i+1)/2^scale)] nanoseconds. The zero value is an empty distribution at
// LatencyScale.
type Distribution struct {
	ZeroCount uint64
	Indexes   []int32
	Counts    []uint64
	// Downscale is how many times the buckets were merged pairwise from LatencyScale: 0 for
	// what weir_red counts, 1 for what rollup's queries return (bucket i at scale 5 is buckets
	// 2i and 2i+1 at scale 6), so a bucket's midpoint is within 0.55% (0), 1.1% (1) of any
	// value in it.
	Downscale uint8
}

// Scale is the exponential-histogram scale of d's buckets.
func (d Distribution) Scale() int { return LatencyScale - int(d.Downscale) }

// Count is the number of values in d.
func (d Distribution) Count() uint64 {
	n := d.ZeroCount
	for _, c := range d.Counts {
		n += c
	}
	return n
}

// Downscaled returns d with its buckets merged pairwise until it is Downscale n (d itself when
// it is already that coarse or coarser). Counts stay exact; bucket i goes to i>>k, which is
// floor(i/2^k) for negative indexes too. The result's buckets are sorted and do not share
// memory with d's.
func (d Distribution) Downscaled(n uint8) Distribution {
	if n <= d.Downscale {
		return d
	}
	out := Distribution{ZeroCount: d.ZeroCount, Downscale: n}
	out.Merge(Distribution{Indexes: d.Indexes, Counts: d.Counts, Downscale: d.Downscale})
	return out
}

// Merge adds o's counts to d, leaving d's buckets sorted by index. When the two differ in
// scale the result has the coarser one: the finer distribution's buckets are merged pairwise
// first (Downscaled).
func (d *Distribution) Merge(o Distribution) {
	to := max(d.Downscale, o.Downscale)
	shift := func(i int32, from uint8) int32 { return i >> (to - from) }
	d.ZeroCount += o.ZeroCount
	m := make(map[int32]uint64, len(d.Indexes)+len(o.Indexes))
	for k, i := range d.Indexes {
		m[shift(i, d.Downscale)] += d.Counts[k]
	}
	for k, i := range o.Indexes {
		m[shift(i, o.Downscale)] += o.Counts[k]
	}
	d.Downscale = to
	// Fresh slices: d may share its buckets with another distribution (Downscaled's input).
	d.Indexes, d.Counts = nil, nil
	if len(m) > 0 {
		d.Indexes, d.Counts = make([]int32, 0, len(m)), make([]uint64, 0, len(m))
	}
	for i := range m {
		d.Indexes = append(d.Indexes, i)
	}
	slices.Sort(d.Indexes)
	for _, i := range d.Indexes {
		d.Counts = append(d.Counts, m[i])
	}
}

// BucketValue is the geometric midpoint of bucket i of d's scale: LatencyBucketValue at
// Downscale 0.
func (d Distribution) BucketValue(i int32) float64 {
	return math.Exp2((float64(i) + 0.5) / math.Ldexp(1, d.Scale()))
}

// QuantileRank is the 1-based rank, among n values, of the q-quantile (0 <= q <= 1): the
// ceil(q*n)-th smallest value, at least the first. Quantile and the SQL that rollup renders
// for the dashboards pick the same rank.
func QuantileRank(q float64, n uint64) uint64 {
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(n)))
	return max(rank, 1)
}

// Quantile estimates the q-quantile (0 <= q <= 1) in nanoseconds: the midpoint (BucketValue)
// of the bucket holding the QuantileRank-th smallest value, 0 when that value is in the zero bucket. It is
// NaN when d is empty.
func (d Distribution) Quantile(q float64) float64 {
	n := d.Count()
	if n == 0 || math.IsNaN(q) {
		return math.NaN()
	}
	rank := QuantileRank(q, n)
	cum := d.ZeroCount
	if cum >= rank {
		return 0
	}
	idx := make([]int, len(d.Indexes))
	for k := range idx {
		idx[k] = k
	}
	if !slices.IsSorted(d.Indexes) {
		sort.Slice(idx, func(a, b int) bool { return d.Indexes[idx[a]] < d.Indexes[idx[b]] })
	}
	for _, k := range idx {
		cum += d.Counts[k]
		if cum >= rank {
			return d.BucketValue(d.Indexes[k])
		}
	}
	return d.BucketValue(d.Indexes[idx[len(idx)-1]])
}

// Percentiles returns the 50th, 95th and 99th percentiles in nanoseconds (see Quantile).
func (d Distribution) Percentiles() (p50, p95, p99 float64) {
	return d.Quantile(0.50), d.Quantile(0.95), d.Quantile(0.99)
}
