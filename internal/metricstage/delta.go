package metricstage

import (
	"math"
	"slices"

	"github.com/weirhq/weir/internal/chblock"
	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/internal/otlpwire"
)

// Reasons a point is dropped by the delta stage (cumulative_to_delta's, plus no_value).
const (
	ReasonInitial        = "initial"
	ReasonReset          = "reset"
	ReasonBucketMismatch = "bucket_mismatch"
	ReasonNoValue        = "no_value"
)

// stream is the last point of a cumulative stream.
type stream struct {
	observed uint64 // the point's time
	i        int64
	f        float64
	count    uint64
	sum      float64
	bounds   []float64
	counts   []uint64 // histogram buckets
	exp      expPoint
}

type expPoint struct {
	zeroCount     uint64
	zeroThreshold float64
	scale         int32
	pos, neg      buckets
}

type buckets struct {
	offset int32
	counts []uint64
}

// streamKey is the identity of p's stream: its series, what the metric's streams share, its
// start and its value type.
func (s *Stages) streamKey(p *otlpwire.Point, series uint64) uint64 {
	return model.Mix(series, model.Mix(s.identity, p.Start^uint64(p.ValueType)<<62))
}

// delta converts p in place; false drops it.
func (s *Stages) delta(c *chblock.MetricContext, p *otlpwire.Point, series uint64, temporality *int32) bool {
	m := c.Metric
	*temporality = temporalityDelta
	if p.Flags&1 != 0 { // no recorded value
		s.counts.Dropped[ReasonNoValue]++
		return false
	}
	if m.Type == otlpwire.MetricSum && p.ValueType == otlpwire.NumberDouble && math.IsNaN(p.Double) {
		return true // passes unconverted, as cumulative_to_delta lets it
	}
	key := s.streamKey(p, series)
	st, ok := s.streams.Get(key)
	if !ok {
		st = &stream{}
		s.remember(st, m.Type, p)
		s.streams.Put(key, st)
		// The first point: kept only when its stream started after weir did.
		if p.Start < s.started || p.Time == p.Start {
			s.counts.Dropped[ReasonInitial]++
			return false
		}
		if m.Type != otlpwire.MetricSum {
			p.HasMin, p.HasMax, p.Min, p.Max = false, false, 0, 0
		}
		s.counts.Converted++
		return true
	}
	prevTime := st.observed
	var ok2 bool
	var reason string
	switch m.Type {
	case otlpwire.MetricSum:
		ok2, reason = s.deltaSum(st, p)
	case otlpwire.MetricHistogram:
		ok2, reason = s.deltaHistogram(st, p)
	default:
		ok2, reason = s.deltaExp(st, p)
	}
	if !ok2 {
		s.counts.Dropped[reason]++
		return false
	}
	p.Start = prevTime
	s.counts.Converted++
	return true
}

// remember makes p the stream's last point.
func (s *Stages) remember(st *stream, typ uint8, p *otlpwire.Point) {
	st.observed = p.Time
	switch typ {
	case otlpwire.MetricSum:
		st.i, st.f = p.Int, p.Double
	case otlpwire.MetricHistogram:
		st.count, st.sum = p.Count, p.Sum
		st.bounds = append(st.bounds[:0], p.ExplicitBounds...)
		st.counts = append(st.counts[:0], p.BucketCounts...)
	default:
		st.count, st.sum = p.Count, p.Sum
		st.exp.zeroCount, st.exp.zeroThreshold, st.exp.scale = p.ZeroCount, p.ZeroThreshold, p.Scale
		st.exp.pos.offset, st.exp.pos.counts = p.PositiveOffset, append(st.exp.pos.counts[:0], p.PositiveBucketCounts...)
		st.exp.neg.offset, st.exp.neg.counts = p.NegativeOffset, append(st.exp.neg.counts[:0], p.NegativeBucketCounts...)
	}
}

func (s *Stages) deltaSum(st *stream, p *otlpwire.Point) (bool, string) {
	reset := false
	if p.ValueType == otlpwire.NumberDouble {
		reset = p.Double < st.f
		p.Double, st.f = p.Double-st.f, p.Double
	} else {
		reset = p.Int < st.i
		p.Int, st.i = p.Int-st.i, p.Int
	}
	st.observed = p.Time
	if reset {
		return false, ReasonReset
	}
	return true, ""
}

func (s *Stages) deltaHistogram(st *stream, p *otlpwire.Point) (bool, string) {
	if len(p.BucketCounts) != len(st.counts) || !slices.Equal(p.ExplicitBounds, st.bounds) {
		s.remember(st, otlpwire.MetricHistogram, p)
		return false, ReasonBucketMismatch
	}
	if p.Count < st.count {
		s.remember(st, otlpwire.MetricHistogram, p)
		return false, ReasonReset
	}
	for i, c := range st.counts {
		if p.BucketCounts[i] < c {
			s.remember(st, otlpwire.MetricHistogram, p)
			return false, ReasonReset
		}
	}
	count := p.Count
	dsum, keepSum := diffSum(p.Sum, st.sum)
	for i, c := range st.counts {
		st.counts[i] = p.BucketCounts[i]
		p.BucketCounts[i] -= c
	}
	p.Count -= st.count
	st.count, st.sum, st.observed = count, keepSum, p.Time
	if p.HasSum && !math.IsNaN(p.Sum) {
		p.Sum = dsum
	}
	p.HasMin, p.HasMax, p.Min, p.Max = false, false, 0, 0
	return true, ""
}

func (s *Stages) deltaExp(st *stream, p *otlpwire.Point) (bool, string) {
	prev := &st.exp
	if p.Count < st.count || p.ZeroThreshold < prev.zeroThreshold || p.Scale > prev.scale {
		s.remember(st, otlpwire.MetricExponentialHistogram, p)
		return false, ReasonReset
	}
	// The previous point brought to this one's zero threshold and scale. Views of the state,
	// not copies: trimZeros only reslices, coarsen makes new counts, and the state is
	// overwritten by this point only after the differences are taken.
	prevZero := prev.zeroCount
	pos := buckets{prev.pos.offset, prev.pos.counts}
	neg := buckets{prev.neg.offset, prev.neg.counts}
	if p.ZeroThreshold > prev.zeroThreshold {
		factor := math.Ldexp(math.Log2E, int(prev.scale))
		threshold := int32(math.Ceil(math.Log(p.ZeroThreshold)*factor) - 1)
		prevZero += pos.trimZeros(threshold)
		prevZero += neg.trimZeros(threshold)
	}
	if p.Scale < prev.scale {
		lost := prev.scale - p.Scale
		pos, neg = pos.coarsen(lost), neg.coarsen(lost)
	}
	cur := buckets{p.PositiveOffset, p.PositiveBucketCounts}
	dpos, reset := cur.diff(&pos, s.dpos[:0])
	var dneg buckets
	if !reset {
		cur = buckets{p.NegativeOffset, p.NegativeBucketCounts}
		dneg, reset = cur.diff(&neg, s.dneg[:0])
	}
	s.dpos, s.dneg = dpos.counts, dneg.counts // reused by the next point
	if reset {
		s.remember(st, otlpwire.MetricExponentialHistogram, p)
		return false, ReasonReset
	}
	count, zero := p.Count, p.ZeroCount
	prevCount := st.count
	dsum, keepSum := diffSum(p.Sum, st.sum)
	s.remember(st, otlpwire.MetricExponentialHistogram, p)
	st.sum = keepSum
	p.Count = count - prevCount
	p.ZeroCount = zero - prevZero
	if p.HasSum && !math.IsNaN(p.Sum) {
		p.Sum = dsum
	}
	p.PositiveOffset, p.PositiveBucketCounts = dpos.offset, append(p.PositiveBucketCounts[:0], dpos.counts...)
	p.NegativeOffset, p.NegativeBucketCounts = dneg.offset, append(p.NegativeBucketCounts[:0], dneg.counts...)
	p.HasMin, p.HasMax, p.Min, p.Max = false, false, 0, 0
	return true, ""
}

// diffSum is a histogram's sum minus the last one (0 when that is NaN), and the sum the
// stream keeps for the next difference: this one, or the last when this one is NaN.
func diffSum(sum, last float64) (float64, float64) {
	d := sum - last
	if math.IsNaN(d) {
		d = 0
	}
	if math.IsNaN(sum) {
		return d, last
	}
	return d, sum
}

// coarsen merges buckets into the scale bitsLost lower, as cumulative_to_delta does.
func (b buckets) coarsen(bitsLost int32) buckets {
	out := buckets{offset: b.offset >> bitsLost}
	if len(b.counts) > 0 {
		maxBucket := b.offset + int32(len(b.counts)) - 1
		out.counts = make([]uint64, (maxBucket>>bitsLost)-out.offset+1)
		for i, c := range b.counts {
			out.counts[((b.offset+int32(i))>>bitsLost)-out.offset] += c
		}
	}
	return out
}

// trimZeros moves the buckets at or below threshold out and returns their count.
func (b *buckets) trimZeros(threshold int32) uint64 {
	at := threshold - b.offset
	if at < 0 {
		return 0
	}
	n := min(int(at)+1, len(b.counts))
	var zero uint64
	for _, c := range b.counts[:n] {
		zero += c
	}
	b.counts = b.counts[n:]
	b.offset += int32(n)
	return zero
}

// diff is b minus old bucket by bucket, its counts appended to dst (empty); reset when any
// bucket went down.
func (b buckets) diff(old *buckets, dst []uint64) (out buckets, reset bool) {
	out.counts = dst
	if b.offset > old.offset {
		pre := min(int(b.offset-old.offset), len(old.counts))
		for _, c := range old.counts[:pre] {
			if c > 0 {
				return out, true
			}
		}
	}
	for i, c := range b.counts {
		bucket := int(b.offset) + i
		oi := bucket - int(old.offset)
		var oc uint64
		if oi >= 0 && oi < len(old.counts) {
			oc = old.counts[oi]
		}
		if c < oc {
			return out, true
		}
		if c == oc || c == 0 {
			continue
		}
		if len(out.counts) == 0 {
			out.offset = int32(bucket)
		} else {
			next := int(out.offset) + len(out.counts)
			for z := bucket - next; z > 0; z-- {
				out.counts = append(out.counts, 0)
			}
		}
		out.counts = append(out.counts, c-oc)
	}
	end, oldEnd := int(b.offset)+len(b.counts), int(old.offset)+len(old.counts)
	if oldEnd > end {
		for _, c := range old.counts[max(0, end-int(old.offset)):] {
			if c > 0 {
				return out, true
			}
		}
	}
	return out, false
}
