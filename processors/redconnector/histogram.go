package redconnector

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/weirhq/weir/rollup"
)

// scaleFactor is 2^scale: bucket i covers (2^(i/scaleFactor), 2^((i+1)/scaleFactor)].
var scaleFactor = math.Ldexp(1, rollup.LatencyScale)

// bucketIndex is the exponential-histogram bucket of v > 0 at rollup.LatencyScale, with the
// OTLP convention that bucket i holds values in (base^i, base^(i+1)].
func bucketIndex(v float64) int32 {
	frac, exp := math.Frexp(v) // v = frac * 2^exp, frac in [0.5, 1)
	if frac == 0.5 {
		// Exact powers of two sit on a bucket's upper bound.
		return int32((exp-1)<<rollup.LatencyScale) - 1
	}
	return int32(math.Ceil(math.Log2(v)*scaleFactor)) - 1
}

// hist is a weighted exponential histogram with dense buckets from offset on.
type hist struct {
	count  float64
	sum    float64
	zero   float64
	offset int32
	counts []float64
}

func (h *hist) reset() {
	h.count, h.sum, h.zero, h.offset = 0, 0, 0, 0
	h.counts = h.counts[:0]
}

// add records a duration in nanoseconds with weight w.
func (h *hist) add(durNano float64, w float64) {
	h.count += w
	if durNano <= 0 {
		h.zero += w
		return
	}
	h.sum += durNano * w
	i := bucketIndex(durNano)
	switch {
	case len(h.counts) == 0:
		h.offset = i
		h.counts = append(h.counts, w)
	case i < h.offset:
		grow := int(h.offset - i)
		h.counts = append(h.counts, make([]float64, grow)...)
		copy(h.counts[grow:], h.counts)
		clear(h.counts[:grow])
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

// writeTo fills an OTLP exponential-histogram point. Weighted counts are rounded per bucket
// (they are whole numbers unless spans arrived with fractional adjusted counts) and the
// point's count is the sum of the rounded buckets, so count and buckets always agree.
func (h *hist) writeTo(p pmetric.ExponentialHistogramDataPoint) {
	p.SetScale(rollup.LatencyScale)
	zero := uint64(math.Round(h.zero))
	p.SetZeroCount(zero)
	total := zero
	bc := p.Positive().BucketCounts()
	bc.EnsureCapacity(len(h.counts))
	for _, c := range h.counts {
		r := uint64(math.Round(c))
		bc.Append(r)
		total += r
	}
	p.Positive().SetOffset(h.offset)
	p.SetCount(total)
	p.SetSum(h.sum)
}
