package redconnector

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestBucketIndex(t *testing.T) {
	f := func(v float64, want int32) {
		t.Helper()
		assert.Equal(t, want, bucketIndex(v), "%g", v)
	}
	f(1, -1)         // 2^0 is the upper bound of bucket -1
	f(2, 63)         // 2^1 upper bound of bucket 63
	f(1.0001, 0)     // just above 1
	f(1024, 10*64-1) // 2^10
	f(1025, 10*64)   // just above
	f(0.5, -64-1)    // 2^-1
	for _, v := range []float64{3, 1e3, 123456.789, 1e9, 7e11} {
		i := bucketIndex(v)
		lo, hi := math.Pow(2, float64(i)/64), math.Pow(2, float64(i+1)/64)
		assert.True(t, v > lo*(1-1e-12) && v <= hi*(1+1e-12), "%g in (%g, %g]", v, lo, hi)
	}
}

// quantile of a point, from the geometric midpoints of its buckets.
func quantile(p pmetric.ExponentialHistogramDataPoint, q float64) float64 {
	rank := q * float64(p.Count())
	cum := float64(p.ZeroCount())
	if cum >= rank {
		return 0
	}
	bc := p.Positive().BucketCounts()
	for i := 0; i < bc.Len(); i++ {
		cum += float64(bc.At(i))
		if cum >= rank {
			return math.Pow(2, (float64(p.Positive().Offset()+int32(i))+0.5)/64)
		}
	}
	return math.Inf(1)
}

func TestHist_QuantilesWithinOnePercent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var h hist
	var vals []float64
	for i := 0; i < 50_000; i++ {
		v := math.Exp(rng.NormFloat64()*1.5 + 15) // lognormal around 3ms, in ns
		vals = append(vals, v)
		h.add(v, 1)
	}
	sort.Float64s(vals)
	p := pmetric.NewExponentialHistogramDataPoint()
	h.writeTo(p)
	assert.Equal(t, uint64(50_000), p.Count())
	for _, q := range []float64{0.5, 0.95, 0.99} {
		want := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := quantile(p, q)
		assert.InDelta(t, 0, (got-want)/want, 0.01, "p%g: got %g want %g", q*100, got, want)
	}
}

func TestHist_GrowsDownAndUp(t *testing.T) {
	var h hist
	h.add(1000, 1)
	h.add(10, 2)
	h.add(1e6, 1)
	h.add(0, 3)
	p := pmetric.NewExponentialHistogramDataPoint()
	h.writeTo(p)
	assert.Equal(t, uint64(7), p.Count())
	assert.Equal(t, uint64(3), p.ZeroCount())
	assert.Equal(t, bucketIndex(10), p.Positive().Offset())
	bc := p.Positive().BucketCounts()
	assert.Equal(t, uint64(2), bc.At(0))
	assert.Equal(t, uint64(1), bc.At(int(bucketIndex(1000)-bucketIndex(10))))
	assert.Equal(t, uint64(1), bc.At(bc.Len()-1))
	assert.InDelta(t, 1000+20+1e6, p.Sum(), 1e-6)
}
