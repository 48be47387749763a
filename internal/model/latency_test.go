package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lognormal draws n samples with median 20 ms.
func lognormal(rng *rand.Rand, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Exp(math.Log(20e6) + 0.8*rng.NormFloat64())
	}
	return out
}

func distributionOf(samples []float64) Distribution {
	b := map[int32]uint64{}
	var d Distribution
	for _, v := range samples {
		if v == 0 {
			d.ZeroCount++
			continue
		}
		b[LatencyBucketIndex(v)]++
	}
	for i := range b {
		d.Indexes = append(d.Indexes, i)
	}
	slices.Sort(d.Indexes)
	for _, i := range d.Indexes {
		d.Counts = append(d.Counts, b[i])
	}
	return d
}

func TestDistribution_QuantileWithinOnePercent(t *testing.T) {
	t.Parallel()
	samples := lognormal(rand.New(rand.NewPCG(5, 6)), 10000)
	d := distributionOf(samples)
	require.Equal(t, uint64(len(samples)), d.Count())
	sorted := slices.Clone(samples)
	sort.Float64s(sorted)
	truth := func(q float64) float64 { return sorted[int(math.Ceil(q*float64(len(sorted))))-1] }
	for _, q := range []float64{0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1} {
		assert.InEpsilon(t, truth(q), d.Quantile(q), 0.01, "q=%v", q)
	}
	p50, p95, p99 := d.Percentiles()
	assert.InEpsilon(t, truth(0.5), p50, 0.01)
	assert.InEpsilon(t, truth(0.95), p95, 0.01)
	assert.InEpsilon(t, truth(0.99), p99, 0.01)

	// Merging two halves gives the same distribution, in any order of buckets.
	a, b := distributionOf(samples[:4000]), distributionOf(samples[4000:])
	slices.Reverse(b.Indexes)
	slices.Reverse(b.Counts)
	a.Merge(b)
	assert.Equal(t, d, a)
	c := distributionOf(samples[4000:])
	slices.Reverse(c.Indexes)
	slices.Reverse(c.Counts)
	assert.Equal(t, distributionOf(samples[4000:]).Quantile(0.9), c.Quantile(0.9), "unsorted buckets are walked in order")
}

func TestDistribution_ZerosAndEmpty(t *testing.T) {
	t.Parallel()
	assert.True(t, math.IsNaN(Distribution{}.Quantile(0.5)))
	d := Distribution{ZeroCount: 60, Indexes: []int32{0, 64}, Counts: []uint64{30, 10}}
	assert.Equal(t, 0.0, d.Quantile(0.5), "60 of 100 values are zero")
	assert.Equal(t, 0.0, d.Quantile(0.6))
	assert.Equal(t, LatencyBucketValue(0), d.Quantile(0.61))
	assert.Equal(t, LatencyBucketValue(64), d.Quantile(0.95))
	assert.Equal(t, LatencyBucketValue(64), d.Quantile(1.5), "q is clamped")
	assert.Equal(t, 0.0, d.Quantile(-1))
}

func TestLatencyBuckets(t *testing.T) {
	t.Parallel()
	f := func(v float64, want int32) {
		t.Helper()
		assert.Equal(t, want, LatencyBucketIndex(v), "v=%v", v)
	}
	f(1, -1) // bucket i holds (2^(i/64), 2^((i+1)/64)]
	f(2, 63)
	f(1024, 639)
	f(math.Nextafter(2, 3), 64)
	f(1.5, 37)
	for i := int32(-100); i < 3000; i += 7 {
		v := LatencyBucketValue(i)
		assert.Equal(t, i, LatencyBucketIndex(v), "the midpoint of bucket %d lies in it", i)
		lo, hi := math.Exp2(float64(i)/64), math.Exp2(float64(i+1)/64)
		assert.InDelta(t, math.Sqrt(lo*hi), v, v*1e-12, "geometric midpoint")
		assert.Less(t, (v-lo)/lo, 0.0055)
	}
}

func TestLatencyBucketIndex_Bounds(t *testing.T) {
	t.Parallel()
	f := func(v float64, want int32) {
		t.Helper()
		assert.Equal(t, want, LatencyBucketIndex(v), "%g", v)
	}
	f(1.0001, 0)   // just above 1
	f(1025, 10*64) // just above 2^10
	f(0.5, -64-1)  // 2^-1
	for _, v := range []float64{3, 1e3, 123456.789, 1e9, 7e11} {
		i := LatencyBucketIndex(v)
		lo, hi := math.Pow(2, float64(i)/64), math.Pow(2, float64(i+1)/64)
		assert.True(t, v > lo*(1-1e-12) && v <= hi*(1+1e-12), "%g in (%g, %g]", v, lo, hi)
	}
}

func TestQuantileRank(t *testing.T) {
	t.Parallel()
	f := func(q float64, n, want uint64) {
		t.Helper()
		assert.Equal(t, want, QuantileRank(q, n), "q=%v n=%d", q, n)
	}
	f(0.5, 10, 5)
	f(0.95, 10, 10)
	f(0, 10, 1)
	f(-1, 10, 1)
	f(2, 10, 10)
	f(0.99, 1000, 990)
}

// Percentiles of a merged latency distribution, in milliseconds: each is the midpoint of its
// bucket, within 0.55% of the values in it.
func ExampleDistribution_Percentiles() {
	var d Distribution
	for _, ms := range []float64{10, 10, 10, 10, 10, 12, 12, 15, 40, 250} {
		d.Merge(Distribution{Indexes: []int32{LatencyBucketIndex(ms * 1e6)}, Counts: []uint64{1}})
	}
	p50, p95, p99 := d.Percentiles()
	fmt.Printf("p50 %.1f ms, p95 %.1f ms, p99 %.1f ms\n", p50/1e6, p95/1e6, p99/1e6)
	// Output:
	// p50 10.0 ms, p95 250.2 ms, p99 250.2 ms
}

func TestDistribution_Downscaled(t *testing.T) {
	t.Parallel()
	samples := lognormal(rand.New(rand.NewPCG(9, 10)), 20000)
	samples = append(samples, 0, 0, 1, 1.5, 2) // zeros, and the lowest buckets (-1, 36, 63)
	fine := distributionOf(samples)
	coarse := fine.Downscaled(1)
	assert.Equal(t, uint8(1), coarse.Downscale)
	assert.Equal(t, LatencyScale-1, coarse.Scale())
	assert.Equal(t, fine.Count(), coarse.Count(), "counts stay exact")
	assert.Equal(t, fine.ZeroCount, coarse.ZeroCount)
	assert.True(t, slices.IsSorted(coarse.Indexes))
	// Every value lies in its scale-5 bucket: (2^(i/32), 2^((i+1)/32)].
	want := map[int32]uint64{}
	for _, v := range samples {
		if v > 0 {
			want[int32(math.Ceil(math.Log2(v)*32))-1]++
		}
	}
	got := map[int32]uint64{}
	for k, i := range coarse.Indexes {
		got[i] = coarse.Counts[k]
	}
	assert.Equal(t, want, got)
	assert.Equal(t, int32(-1), coarse.Indexes[0], "1 ns is bucket -1 at every scale")

	sorted := slices.Clone(samples)
	sort.Float64s(sorted)
	for _, q := range []float64{0.5, 0.95, 0.99} {
		truth := sorted[int(math.Ceil(q*float64(len(sorted))))-1]
		assert.InEpsilon(t, truth, coarse.Quantile(q), 0.0110, "q=%v within 1.1%% at scale 5", q)
	}

	assert.Equal(t, coarse, coarse.Downscaled(1), "already that coarse")
	assert.Equal(t, coarse, coarse.Downscaled(0), "never finer")
	assert.Equal(t, fine, distributionOf(samples), "the input is not modified")

	// Merging distributions of different scales gives the coarser scale.
	a, b := distributionOf(samples[:5000]), distributionOf(samples[5000:]).Downscaled(1)
	a.Merge(b)
	assert.Equal(t, coarse, a)
	var empty Distribution
	empty.Merge(Distribution{Downscale: 1})
	assert.Equal(t, Distribution{Downscale: 1}, empty)
}

// The table lookup places every value as the logarithm does, but for values within a few
// ulps of a bucket bound, where the logarithm's own rounding decides.
func TestLatencyBucketIndex_TableMatchesLog(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	off := 0
	for n := 0; n < 2_000_000; n++ {
		v := math.Exp2(rng.Float64()*80 - 10) // 1/1024 ns to 2^70 ns
		if n%7 == 0 {
			v = math.Round(v) + 1 // whole nanoseconds, as spans have
		}
		got, want := LatencyBucketIndex(v), latencyBucketIndexLog(v)
		if got == want {
			continue
		}
		// Only next to a bound: log2(v)*64 within 1e-9 of a whole number.
		x := math.Log2(v) * latencyBase
		if math.Abs(x-math.Round(x)) > 1e-9 || got-want > 1 || want-got > 1 {
			t.Fatalf("v=%v: table %d, log %d", v, got, want)
		}
		off++
	}
	for e := -20; e < 60; e++ {
		for j := 0; j <= 64; j++ {
			b := math.Exp2(float64(e) + float64(j)/latencyBase)
			// A bound itself is the top of the bucket below; the next float up is in the next.
			require.Equal(t, LatencyBucketIndex(math.Nextafter(b, 0))+1, LatencyBucketIndex(math.Nextafter(b, math.Inf(1))), "around 2^(%d+%d/64)", e, j)
		}
		require.Equal(t, int32(e*64-1), LatencyBucketIndex(math.Exp2(float64(e))), "2^%d", e)
	}
	require.Less(t, off, 10, "disagreements away from bounds")
	require.Equal(t, latencyBucketIndexLog(math.SmallestNonzeroFloat64), LatencyBucketIndex(math.SmallestNonzeroFloat64))
}

func BenchmarkLatencyBucketIndex(b *testing.B) {
	vs := make([]float64, 1024)
	for i := range vs {
		vs[i] = float64(1000 + i*7919)
	}
	b.Run("table", func(b *testing.B) {
		var s int32
		for i := 0; b.Loop(); i++ {
			s += LatencyBucketIndex(vs[i&1023])
		}
		_ = s
	})
	b.Run("log", func(b *testing.B) {
		var s int32
		for i := 0; b.Loop(); i++ {
			s += latencyBucketIndexLog(vs[i&1023])
		}
		_ = s
	})
}
