package red

import (
	"math"

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

// Histogram is a latency distribution at model.LatencyScale as it leaves the aggregator:
// ZeroCount durations of zero, Counts[i] in bucket Offset+i, Count = ZeroCount + sum of
// Counts, Sum of the durations (weighted), in nanoseconds. Weighted counts are rounded per
// bucket (whole numbers unless spans arrived with fractional adjusted counts), and Count is
// the sum of the rounded buckets, so count and buckets always agree.
type Histogram struct {
	Count, ZeroCount uint64
	Sum              float64
	Offset           int32
	Counts           []uint64
}

// export writes h into dst, reusing dst.Counts.
func (h *hist) export(dst *Histogram) {
	dst.ZeroCount = uint64(math.Round(h.zero))
	dst.Counts = dst.Counts[:0]
	var total uint64
	switch h.width {
	case width8:
		dst.Counts, total = appendCounts(dst.Counts, h.c8)
	case width16:
		dst.Counts, total = appendCounts(dst.Counts, h.c16)
	case width32:
		dst.Counts, total = appendCounts(dst.Counts, h.c32)
	default:
		for _, c := range h.f {
			r := uint64(math.Round(c))
			dst.Counts = append(dst.Counts, r)
			total += r
		}
	}
	dst.Offset = h.offset
	dst.Count = dst.ZeroCount + total
	dst.Sum = h.sum
}

// appendCounts appends integer buckets to dst and returns it with their sum.
func appendCounts[T counter](dst []uint64, s []T) ([]uint64, uint64) {
	var total uint64
	for _, c := range s {
		dst = append(dst, uint64(c))
		total += uint64(c)
	}
	return dst, total
}
