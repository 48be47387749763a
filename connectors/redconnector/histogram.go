package redconnector

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/weirhq/weir/internal/model"
)

// hist is a weighted exponential histogram with dense buckets from offset on.
//
// Buckets count in the narrowest unsigned integers that hold them, 1, 2 or 4 bytes (at
// scale 6 a series' buckets span hundreds of entries and the increment is a cache miss, so
// the footprint is what counts), widening all of them, exactly, when one would overflow. A
// histogram switches to float64 buckets for good the first time a weight is not a whole
// number below 2^32 or a bucket would pass 2^32-1: what it counted converts exactly, and from
// then on it adds as the all-float histogram did, in the same order, so the rounded counts it
// emits are the same.
type hist struct {
	count  float64
	sum    float64
	zero   float64
	offset int32
	width  counterWidth
	c8     []uint8 // the buckets in the slice of the current width; the others are empty
	c16    []uint16
	c32    []uint32
	f      []float64
}

// counterWidth is the type a hist counts its buckets in.
type counterWidth uint8

const (
	width8 counterWidth = iota // the zero value: a new or reset hist
	width16
	width32
	widthFloat
)

type counter interface{ ~uint8 | ~uint16 | ~uint32 }

func (h *hist) reset() {
	h.count, h.sum, h.zero, h.offset = 0, 0, 0, 0
	h.width = width8
	h.c8, h.c16, h.c32, h.f = h.c8[:0], h.c16[:0], h.c32[:0], h.f[:0]
}

// add records a duration in nanoseconds with weight w.
func (h *hist) add(durNano float64, w float64) {
	h.count += w
	if durNano <= 0 {
		h.zero += w
		return
	}
	h.sum += durNano * w
	i := model.LatencyBucketIndex(durNano)
	if h.width != widthFloat && w >= 1 && w <= math.MaxUint32 {
		if u := uint32(w); float64(u) == w {
			h.addInt(i, u)
			return
		}
	}
	h.addFloat(i, w)
}

// place makes bucket i an element of s, growing s down or up, and returns s, its offset and
// the element's index.
func place[T counter | float64](s []T, offset, i int32) ([]T, int32, int) {
	switch {
	case len(s) == 0:
		return append(s, 0), i, 0
	case i < offset:
		grow := int(offset - i)
		s = append(s, make([]T, grow)...)
		copy(s[grow:], s)
		clear(s[:grow])
		return s, i, 0
	default:
		j := int(i - offset)
		for j >= len(s) {
			s = append(s, 0)
		}
		return s, offset, j
	}
}

// addInt adds u to bucket i, widening the buckets if it would overflow.
func (h *hist) addInt(i int32, u uint32) {
	var j int
	var n uint64
	switch h.width {
	case width8:
		h.c8, h.offset, j = place(h.c8, h.offset, i)
		if n = uint64(h.c8[j]) + uint64(u); n <= math.MaxUint8 {
			h.c8[j] = uint8(n)
			return
		}
	case width16:
		h.c16, h.offset, j = place(h.c16, h.offset, i)
		if n = uint64(h.c16[j]) + uint64(u); n <= math.MaxUint16 {
			h.c16[j] = uint16(n)
			return
		}
	default: // width32
		h.c32, h.offset, j = place(h.c32, h.offset, i)
		if n = uint64(h.c32[j]) + uint64(u); n <= math.MaxUint32 {
			h.c32[j] = uint32(n)
			return
		}
	}
	switch {
	case n <= math.MaxUint16:
		h.widen(width16)
		h.c16[j] = uint16(n)
	case n <= math.MaxUint32:
		h.widen(width32)
		h.c32[j] = uint32(n)
	default:
		h.widen(widthFloat)
		h.f[j] = float64(n) // exact: below 2^33
	}
}

// addFloat adds w to bucket i in float buckets, switching to them first if needed.
func (h *hist) addFloat(i int32, w float64) {
	h.widen(widthFloat)
	var j int
	h.f, h.offset, j = place(h.f, h.offset, i)
	h.f[j] += w
}

// widen converts the buckets, exactly, to width to (or leaves them if they are as wide).
func (h *hist) widen(to counterWidth) {
	for h.width < to {
		switch h.width {
		case width8:
			h.c16 = convert(h.c16, h.c8)
			h.c8 = h.c8[:0]
		case width16:
			h.c32 = convert(h.c32, h.c16)
			h.c16 = h.c16[:0]
		default:
			h.f = h.f[:0]
			for _, c := range h.c32 {
				h.f = append(h.f, float64(c))
			}
			h.c32 = h.c32[:0]
		}
		h.width++
	}
}

func convert[U, T counter](dst []U, src []T) []U {
	dst = dst[:0]
	for _, c := range src {
		dst = append(dst, U(c))
	}
	return dst
}

// writeTo fills an OTLP exponential-histogram point. Weighted counts are rounded per bucket
// (they are whole numbers unless spans arrived with fractional adjusted counts) and the
// point's count is the sum of the rounded buckets, so count and buckets always agree.
func (h *hist) writeTo(p pmetric.ExponentialHistogramDataPoint) {
	p.SetScale(model.LatencyScale)
	zero := uint64(math.Round(h.zero))
	p.SetZeroCount(zero)
	bc := p.Positive().BucketCounts()
	var total uint64
	switch h.width {
	case width8:
		total = appendCounts(bc, h.c8)
	case width16:
		total = appendCounts(bc, h.c16)
	case width32:
		total = appendCounts(bc, h.c32)
	default:
		bc.EnsureCapacity(len(h.f))
		for _, c := range h.f {
			r := uint64(math.Round(c))
			bc.Append(r)
			total += r
		}
	}
	p.Positive().SetOffset(h.offset)
	p.SetCount(zero + total)
	p.SetSum(h.sum)
}

// appendCounts appends integer buckets to bc and returns their sum.
func appendCounts[T counter](bc pcommon.UInt64Slice, s []T) uint64 {
	bc.EnsureCapacity(len(s))
	var total uint64
	for _, c := range s {
		bc.Append(uint64(c))
		total += uint64(c)
	}
	return total
}
