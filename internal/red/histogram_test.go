package red

import (
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/weirhq/weir/internal/model"
)

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
	assert.Equal(t, model.LatencyBucketIndex(10), p.Positive().Offset())
	bc := p.Positive().BucketCounts()
	assert.Equal(t, uint64(2), bc.At(0))
	assert.Equal(t, uint64(1), bc.At(int(model.LatencyBucketIndex(1000)-model.LatencyBucketIndex(10))))
	assert.Equal(t, uint64(1), bc.At(bc.Len()-1))
	assert.InDelta(t, 1000+20+1e6, p.Sum(), 1e-6)
}

// refHist is the all-float64 histogram hist replaced: hist must emit exactly what it did.
type refHist struct {
	zero, sum float64
	offset    int32
	counts    []float64
}

func (h *refHist) add(d, w float64) {
	if d <= 0 {
		h.zero += w
		return
	}
	h.sum += d * w
	i := model.LatencyBucketIndex(d)
	switch {
	case len(h.counts) == 0:
		h.offset = i
		h.counts = append(h.counts, w)
	case i < h.offset:
		grow := int(h.offset - i)
		h.counts = append(make([]float64, grow), h.counts...)
		h.offset = i
		h.counts[0] = w
	default:
		j := int(i - h.offset)
		for j >= len(h.counts) {
			h.counts = append(h.counts, 0)
		}
		h.counts[j] += w
	}
}

func (h *refHist) point() pmetric.ExponentialHistogramDataPoint {
	p := pmetric.NewExponentialHistogramDataPoint()
	p.SetScale(6)
	zero := uint64(math.Round(h.zero))
	p.SetZeroCount(zero)
	total := zero
	for _, c := range h.counts {
		r := uint64(math.Round(c))
		p.Positive().BucketCounts().Append(r)
		total += r
	}
	p.Positive().SetOffset(h.offset)
	p.SetCount(total)
	p.SetSum(h.sum)
	return p
}

func histPoint(h *hist) pmetric.ExponentialHistogramDataPoint {
	p := pmetric.NewExponentialHistogramDataPoint()
	h.writeTo(p)
	return p
}

func assertSamePoint(t *testing.T, want, got pmetric.ExponentialHistogramDataPoint) {
	t.Helper()
	assert.Equal(t, want.Count(), got.Count(), "count")
	assert.Equal(t, want.ZeroCount(), got.ZeroCount(), "zero count")
	assert.Equal(t, want.Sum(), got.Sum(), "sum")
	assert.Equal(t, want.Positive().Offset(), got.Positive().Offset(), "offset")
	assert.Equal(t, want.Positive().BucketCounts().AsRaw(), got.Positive().BucketCounts().AsRaw(), "buckets")
}

// Whatever the weights, the integer buckets and their float fallback emit exactly what the
// all-float histogram emitted.
func TestHist_SameAsFloatHistogram(t *testing.T) {
	weights := map[string][]float64{
		"whole":      {1},
		"sampled":    {1, 2, 4, 16, 1024},
		"fractional": {1, 1.5, 3.3333333333333335, 1.0000000001},
		"huge":       {1, 1 << 40, 0x1p53},
		"near max":   {1, math.MaxUint32, math.MaxUint32 - 1},
		// Durations in a few buckets, so counters widen while spans arrive.
		"narrow whole":   {1},
		"narrow sampled": {1, 2, 4, 16, 1024},
	}
	for name, ws := range weights {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2, 3))
			var h hist
			for round := 0; round < 2; round++ { // the second round reuses the reset histogram
				var ref refHist
				sigma := 2.0
				if strings.HasPrefix(name, "narrow") {
					sigma = 0.02
				}
				for i := 0; i < 5_000; i++ {
					d := math.Exp(rng.NormFloat64()*sigma + 15)
					if i%500 == 0 {
						d = 0
					}
					w := ws[rng.IntN(len(ws))]
					h.add(d, w)
					ref.add(d, w)
				}
				assertSamePoint(t, ref.point(), histPoint(&h))
				h.reset()
			}
		})
	}
}

func TestHist_FractionalWeightsSwitchToFloat(t *testing.T) {
	var h hist
	h.add(1000, 1)
	h.add(1000, 2)
	assert.False(t, h.width == widthFloat, "whole weights count in integers")
	h.add(1000, 1.25)
	h.add(1000, 1.25)
	h.add(1e6, 1)
	assert.True(t, h.width == widthFloat)
	p := histPoint(&h)
	assert.Equal(t, uint64(7), p.Count(), "the rounded buckets: 6 + 1")
	bc := p.Positive().BucketCounts()
	assert.Equal(t, uint64(6), bc.At(0), "1+2+1.25+1.25 = 5.5 rounds to 6")
	assert.Equal(t, uint64(1), bc.At(bc.Len()-1))
	h.reset()
	assert.False(t, h.width == widthFloat, "a reset histogram counts in integers again")
	h.add(1000, 1)
	assert.Equal(t, uint64(1), histPoint(&h).Count())
}

func TestHist_OverflowFallsBackToFloat(t *testing.T) {
	var h hist
	const w = 1 << 31
	h.add(1000, w)
	h.add(10, 1)
	h.add(1000, w-1)
	assert.False(t, h.width == widthFloat, "2^32-1 still fits")
	h.add(1000, 1) // 2^32 does not
	assert.True(t, h.width == widthFloat)
	h.add(1000, w)
	p := histPoint(&h)
	assert.Equal(t, uint64(3*w+1), p.Count())
	assert.Equal(t, model.LatencyBucketIndex(10), p.Positive().Offset())
	bc := p.Positive().BucketCounts()
	assert.Equal(t, uint64(1), bc.At(0), "the bucket counted before the switch is kept")
	assert.Equal(t, uint64(3*w), bc.At(int(model.LatencyBucketIndex(1000)-model.LatencyBucketIndex(10))))

	// A weight above a uint32 goes straight to float buckets.
	var g hist
	g.add(1000, 1<<40)
	g.add(1000, 1)
	assert.True(t, g.width == widthFloat)
	assert.Equal(t, uint64(1<<40+1), histPoint(&g).Count())
}

// Buckets start as bytes and widen, exactly, as counts grow: to 2 bytes past 255, to 4 past
// 65535, and emit what the all-float histogram emits all along.
func TestHist_CountersWiden(t *testing.T) {
	var h hist
	var ref refHist
	add := func(d, w float64) {
		h.add(d, w)
		ref.add(d, w)
	}
	for i := 0; i < 255; i++ {
		add(1000, 1)
	}
	add(10, 1)
	add(1e6, 1)
	assert.Equal(t, width8, h.width)
	assertSamePoint(t, ref.point(), histPoint(&h))
	add(1000, 1) // 256
	assert.Equal(t, width16, h.width)
	assertSamePoint(t, ref.point(), histPoint(&h))
	add(5, 65_000) // grows down, fits
	assert.Equal(t, width16, h.width)
	add(5, 1000) // 66,000
	assert.Equal(t, width32, h.width)
	assertSamePoint(t, ref.point(), histPoint(&h))

	// A big weight widens a byte bucket straight to 4 bytes.
	var g hist
	var gref refHist
	g.add(1000, 1)
	gref.add(1000, 1)
	g.add(2000, 100_000)
	gref.add(2000, 100_000)
	assert.Equal(t, width32, g.width)
	assertSamePoint(t, gref.point(), histPoint(&g))
	g.reset()
	assert.Equal(t, width8, g.width)
	g.add(1000, 1)
	assert.Equal(t, uint64(1), histPoint(&g).Count())
}

// writeTo fills an OTLP point from h, as MetricsOutput does.
func (h *hist) writeTo(p pmetric.ExponentialHistogramDataPoint) {
	var e Histogram
	h.export(&e)
	o := NewMetricsOutput(int64(time.Minute))
	o.point(p, 0, &e)
}
