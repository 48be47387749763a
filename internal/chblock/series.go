package chblock

import (
	"math"
	"slices"

	"github.com/ClickHouse/ch-go/proto"

	"github.com/weirhq/weir/internal/otlpwire"
)

// SeriesBlock is one INSERT worth of series_1m: one row per metric series, minute and type
// of the points added since the last Reset, aggregated when encoded. Several blocks may hold
// rows for the same series and minute; readers aggregate (sum, min, max, argMax, sumMap), as
// rollup/SCHEMA.md says.
//
// What a point contributes:
//
//   - Count: 1 per data point, of every type.
//   - Sum: the value of a gauge point and of a DELTA sum point; the Sum of a DELTA histogram or
//     exponential histogram point. Cumulative points add nothing: adding running totals means
//     nothing (the cumulative-to-delta stage turns monotonic sums into deltas before here).
//   - Min, Max: the value (gauges, sums), the point's Min and Max when it has them
//     (histograms), quantiles 0 and 1 (summaries). A row without any holds +Inf and -Inf,
//     which min() and max() across rows pass over.
//   - Last, LastTimeUnixNano: the value (gauges, sums) or the Sum (the other types) of the
//     latest point; read with argMax(Last, LastTimeUnixNano).
//   - BucketBounds, BucketCounts: the buckets of DELTA explicit-bucket histograms, with +Inf
//     as the bound of the last bucket, added bound by bound; read with sumMap.
//
// Points flagged "no recorded value", and number points of no value type, are left out.
type SeriesBlock struct {
	points []seriesPoint
	groups groupTable // the first point of each group: its index in meta
	meta   []seriesMeta
	arena  []byte    // the meta's strings
	attrs  []attrRef // the meta's attributes
	bounds []float64 // the histogram points' bounds and counts
	counts []uint64

	lc   bool
	rows int
	cols []column

	timestamp                  proto.ColDateTime
	service, name, unit        *strCol
	mtype                      proto.ColUInt8
	hash                       proto.ColUInt64
	attrKeys, attrVals         *arrCol
	keyData, valData           *strCol
	count                      proto.ColUInt64
	sum, min, max, last        proto.ColFloat64
	lastTime                   proto.ColUInt64
	bucketBounds, bucketCounts *arrCol
	bucketBoundsData           *proto.ColFloat64
	bucketCountsData           *proto.ColUInt64
	insertID                   proto.ColUInt64
	mergeB                     []float64
	mergeC                     []uint64
	starts                     []int32       // build's counting sort: where each group's points go
	sorted                     []seriesPoint // the points by group
	runB                       []float64     // addBuckets' runs of the row being built
	runC                       []uint64
	runEnd                     []int
	text                       []byte
	warmed                     []groupKey // what Touch loads: the rows of points to come
	sink                       int32
}

// groupKey is a series_1m row: series, minute and type.
type groupKey struct {
	hash uint64
	key  uint64 // minute start (Unix seconds) << 3 | type
}

func groupOf(p *otlpwire.Point, series uint64, typ uint8) groupKey {
	sec := int64(p.Time / 1e9)
	return groupKey{hash: series, key: uint64(sec-sec%60)<<3 | uint64(typ&7)}
}

// Warm notes the row a point of series will go to, for Touch. A point the series limit moves
// to the overflow series goes to another row than the one warmed: that costs a miss, nothing
// else.
func (s *SeriesBlock) Warm(p *otlpwire.Point, series uint64, typ uint8) {
	s.warmed = append(s.warmed, groupOf(p, series, typ))
}

// Touch loads the table slots of the rows Warm noted since the last Touch, one load each with
// nothing depending on it, so that their cache misses overlap (see MetricSet.AppendBatch).
func (s *SeriesBlock) Touch() {
	for _, k := range s.warmed {
		s.sink += s.groups.homeValue(k)
	}
	s.warmed = s.warmed[:0]
}

type seriesMeta struct {
	service, name, unit [2]int32 // offsets into arena
	attrs               [2]int32 // range of attrs
}

type attrRef struct{ key, val [2]int32 }

// seriesPoint is what one point adds to its row.
type seriesPoint struct {
	groupKey
	seq        int32
	meta       int32
	v          float64 // the value or Sum: Last
	add        float64 // what it adds to Sum
	mn, mx     float64
	time       uint64
	buckets    [2]int32 // range of bounds and counts (bounds has one fewer); empty: none
	hasBuckets bool
}

// NewSeriesBlock returns an empty block; lowCardinality is as for NewSpanBlock.
func NewSeriesBlock(lowCardinality bool) *SeriesBlock {
	s := &SeriesBlock{lc: lowCardinality, groups: newGroupTable()}
	s.service, s.name, s.unit = newStrCol(s.lc), newStrCol(s.lc), newStrCol(s.lc)
	s.keyData, s.valData = newStrCol(s.lc), newStrCol(false)
	kv := newArrays(s.keyData, s.valData)
	s.attrKeys, s.attrVals = kv[0], kv[1]
	s.bucketBoundsData, s.bucketCountsData = new(proto.ColFloat64), new(proto.ColUInt64)
	s.bucketBounds, s.bucketCounts = newArr(s.bucketBoundsData), newArr(s.bucketCountsData)
	s.cols = []column{
		{"Timestamp", &s.timestamp}, {"ServiceName", s.service}, {"MetricName", s.name}, {"MetricUnit", s.unit},
		{"MetricType", &s.mtype}, {"SeriesHash", &s.hash}, {"AttributeKeys", s.attrKeys},
		{"AttributeValues", s.attrVals}, {"Count", &s.count}, {"Sum", &s.sum}, {"Min", &s.min}, {"Max", &s.max},
		{"Last", &s.last}, {"LastTimeUnixNano", &s.lastTime}, {"BucketBounds", s.bucketBounds},
		{"BucketCounts", s.bucketCounts}, {"InsertId", &s.insertID},
	}
	return s
}

// Points is how many points were added since the last Reset.
func (s *SeriesBlock) Points() int { return len(s.points) }

// Reset empties the block, keeping its memory.
func (s *SeriesBlock) Reset() {
	s.points, s.meta, s.arena, s.attrs = s.points[:0], s.meta[:0], s.arena[:0], s.attrs[:0]
	s.bounds, s.counts = s.bounds[:0], s.counts[:0]
	s.groups.reset()
	s.resetCols()
}

func (s *SeriesBlock) resetCols() {
	resetAll(s.cols)
	s.rows = 0
}

func (s *SeriesBlock) str(b []byte) [2]int32 {
	at := int32(len(s.arena))
	s.arena = append(s.arena, b...)
	return [2]int32{at, int32(len(s.arena))}
}

// Add counts one point of metric c.Metric, with the row's series hash and temporality.
func (s *SeriesBlock) Add(c *MetricContext, p *otlpwire.Point, series uint64, temporality int32) {
	m := c.Metric
	if p.Flags&noRecordedValue != 0 {
		return
	}
	if (m.Type == otlpwire.MetricGauge || m.Type == otlpwire.MetricSum) && p.ValueType == otlpwire.NumberEmpty {
		return
	}
	sp := seriesPoint{groupKey: groupOf(p, series, m.Type),
		seq: int32(len(s.points)), mn: math.Inf(1), mx: math.Inf(-1), time: p.Time}
	delta := temporality == 1 // AGGREGATION_TEMPORALITY_DELTA
	switch m.Type {
	case otlpwire.MetricGauge, otlpwire.MetricSum:
		sp.v = p.Double
		if p.ValueType == otlpwire.NumberInt {
			sp.v = float64(p.Int)
		}
		if m.Type == otlpwire.MetricGauge || delta {
			sp.add = sp.v
		}
		sp.mn, sp.mx = sp.v, sp.v
	case otlpwire.MetricHistogram, otlpwire.MetricExponentialHistogram:
		if p.HasSum {
			sp.v = p.Sum
			if delta {
				sp.add = sp.v
			}
		}
		if p.HasMin {
			sp.mn = p.Min
		}
		if p.HasMax {
			sp.mx = p.Max
		}
		if m.Type == otlpwire.MetricHistogram && delta && len(p.BucketCounts) > 0 && len(p.BucketCounts) == len(p.ExplicitBounds)+1 {
			sp.hasBuckets = true
			sp.buckets = [2]int32{int32(len(s.counts)), int32(len(s.counts) + len(p.BucketCounts))}
			s.counts = append(s.counts, p.BucketCounts...)
			s.bounds = append(s.bounds, p.ExplicitBounds...)
			s.bounds = append(s.bounds, math.Inf(1)) // bounds runs parallel to counts
		}
	case otlpwire.MetricSummary:
		sp.v = p.Sum
		for _, q := range p.Quantiles {
			switch q.Quantile {
			case 0:
				sp.mn = min(sp.mn, q.Value)
			case 1:
				sp.mx = max(sp.mx, q.Value)
			}
		}
	}
	// The row's service, name, unit and attributes are its first point's.
	mi, ok := s.groups.get(sp.groupKey)
	if !ok {
		mi = int32(len(s.meta))
		meta := seriesMeta{service: s.str(c.Service), name: s.str(m.Name), unit: s.str(m.Unit)}
		meta.attrs[0] = int32(len(s.attrs))
		for i := range p.Attrs {
			kv := &p.Attrs[i]
			s.text = otlpwire.AppendText(s.text[:0], kv.Value)
			s.attrs = append(s.attrs, attrRef{key: s.str(kv.Key), val: s.str(s.text)})
		}
		meta.attrs[1] = int32(len(s.attrs))
		s.meta = append(s.meta, meta)
		s.groups.put(sp.groupKey, mi)
	}
	sp.meta = mi
	s.points = append(s.points, sp)
}

// Rows aggregates the points into rows (once per Reset) and returns how many there are.
func (s *SeriesBlock) Rows() int {
	s.build()
	return s.rows
}

// TimeRange is the earliest and latest Timestamp (Unix seconds) of the rows.
func (s *SeriesBlock) TimeRange() (lo, hi uint32) {
	s.build()
	return timeRange(&s.timestamp)
}

// Encode appends the rows in Native format, every row with InsertId insertID.
func (s *SeriesBlock) Encode(dst []byte, insertID uint64) ([]byte, error) {
	s.build()
	return encodeWithID(dst, s.cols, s.rows, &s.insertID, insertID)
}

func (s *SeriesBlock) build() {
	if s.rows > 0 || len(s.points) == 0 {
		return
	}
	s.resetCols()
	// Group by series, minute and type (a group is its first point's meta), groups in the
	// order they came, within a group the points in the order they came: a counting sort on
	// the meta index, linear in the points (sorting by key was 6% of the metric path's CPU).
	n := len(s.meta)
	s.starts = slices.Grow(s.starts[:0], n+1)[:n+1]
	clear(s.starts)
	for i := range s.points {
		s.starts[s.points[i].meta+1]++
	}
	for g := 1; g <= n; g++ {
		s.starts[g] += s.starts[g-1]
	}
	s.sorted = slices.Grow(s.sorted[:0], len(s.points))[:len(s.points)]
	for i := range s.points {
		m := s.points[i].meta
		s.sorted[s.starts[m]] = s.points[i]
		s.starts[m]++
	}
	// starts[g] is now the end of group g, the start of group g+1.
	begin := int32(0)
	for g := 0; g < n; g++ {
		end := s.starts[g]
		if end > begin {
			s.addGroup(s.sorted[begin:end])
		}
		begin = end
	}
}

func (s *SeriesBlock) view(r [2]int32) []byte { return s.arena[r[0]:r[1]] }

func (s *SeriesBlock) addGroup(ps []seriesPoint) {
	g := ps[0]
	meta := &s.meta[g.meta]
	s.timestamp.Data = append(s.timestamp.Data, proto.DateTime(uint32(g.key>>3)))
	s.service.appendBytes(s.view(meta.service))
	s.name.appendBytes(s.view(meta.name))
	s.unit.appendBytes(s.view(meta.unit))
	s.mtype.Append(uint8(g.key & 7))
	s.hash.Append(g.hash)
	for _, a := range s.attrs[meta.attrs[0]:meta.attrs[1]] {
		s.keyData.appendBytes(s.view(a.key))
		s.valData.appendBytes(s.view(a.val))
	}
	s.attrKeys.end()

	sum, mn, mx := 0.0, math.Inf(1), math.Inf(-1)
	last, lastTime := 0.0, uint64(0)
	s.runB, s.runC, s.runEnd = s.runB[:0], s.runC[:0], s.runEnd[:0]
	for k := range ps {
		p := &ps[k]
		sum += p.add
		mn, mx = min(mn, p.mn), max(mx, p.mx)
		if p.hasBuckets {
			s.addBuckets(s.bounds[p.buckets[0]:p.buckets[1]], s.counts[p.buckets[0]:p.buckets[1]])
		}
		if k == 0 || p.time >= lastTime {
			last, lastTime = p.v, p.time
		}
	}
	for n := len(s.runEnd); n > 1; n = len(s.runEnd) { // the runs left, each over twice the next: linear
		lo, mid := s.runStart(n-2), s.runEnd[n-2]
		s.mergeTail(lo, mid, s.runB[mid:], s.runC[mid:])
		s.runEnd = append(s.runEnd[:n-2], len(s.runB))
	}
	s.bucketBoundsData.AppendArr(s.runB)
	s.bucketBounds.end()
	s.bucketCountsData.AppendArr(s.runC)
	s.bucketCounts.end()
	s.count.Append(uint64(len(ps)))
	s.sum.Append(sum)
	s.min.Append(mn)
	s.max.Append(mx)
	s.last.Append(last)
	s.lastTime.Append(lastTime)
	s.rows++
}

// addBuckets adds one histogram point's buckets (bounds with +Inf last, parallel to counts) to
// the row being built. The usual case is the same layout, added into the last run. Different
// layouts merge their sorted bounds, adding the counts of equal bounds (sumMap on read would
// add them anyway; this keeps rows small).
//
// The row is built as a stack of runs, each of sorted bounds: a point of the last run's
// layout adds into it; any other is pushed as a run of its own, then the last two runs merge
// while the last is at least half the one before. Each run is thus more than twice the one
// above it, so there are at most log2(n)+1, and a merge costs at most three times the last
// run, whose buckets all move one run down: O(n log n) for n buckets in all. Merging each
// point into all the row's bounds took O(points × bounds), 7 s for 80,000 points of one
// bound each. A few layouts that come and go still merge into one run at each point, as
// before.
func (s *SeriesBlock) addBuckets(bounds []float64, counts []uint64) {
	if n := len(s.runEnd); n > 0 {
		lo := s.runStart(n - 1)
		if slices.Equal(s.runB[lo:], bounds) {
			last := s.runC[lo:]
			for k, c := range counts {
				last[k] += c
			}
			return
		}
		if 2*len(bounds) >= len(s.runB)-lo {
			// It would be merged at once: merge it from where it is.
			s.mergeTail(lo, len(s.runB), bounds, counts)
			s.runEnd[n-1] = len(s.runB)
			s.collapse()
			return
		}
	}
	s.runB = append(s.runB, bounds...)
	s.runC = append(s.runC, counts...)
	s.runEnd = append(s.runEnd, len(s.runB))
	s.collapse()
}

// collapse merges the last two runs while the last is at least half the one before.
func (s *SeriesBlock) collapse() {
	for n := len(s.runEnd); n > 1; n = len(s.runEnd) {
		lo, mid := s.runStart(n-2), s.runEnd[n-2]
		if 2*(len(s.runB)-mid) < mid-lo {
			return
		}
		s.mergeTail(lo, mid, s.runB[mid:], s.runC[mid:])
		s.runEnd = append(s.runEnd[:n-2], len(s.runB))
	}
}

// runStart is where run i starts in runB and runC.
func (s *SeriesBlock) runStart(i int) int {
	if i == 0 {
		return 0
	}
	return s.runEnd[i-1]
}

// mergeTail merges the run runB[lo:mid] with the buckets yb, yc (the runs after it, or a
// point's), adding the counts of equal bounds, into one run that ends runB; of bounds equal
// but not alike (0 and -0), it keeps runB's.
func (s *SeriesBlock) mergeTail(lo, mid int, yb []float64, yc []uint64) {
	xb, xc := s.runB[lo:mid], s.runC[lo:mid]
	mb, mc := s.mergeB[:0], s.mergeC[:0]
	a, p := 0, 0
	for a < len(xb) || p < len(yb) {
		switch {
		case p == len(yb) || (a < len(xb) && xb[a] < yb[p]):
			mb, mc = append(mb, xb[a]), append(mc, xc[a])
			a++
		case a == len(xb) || yb[p] < xb[a]:
			mb, mc = append(mb, yb[p]), append(mc, yc[p])
			p++
		default:
			mb, mc = append(mb, xb[a]), append(mc, xc[a]+yc[p])
			a, p = a+1, p+1
		}
	}
	if lo == 0 { // the merged run is all: swap the buffers rather than copy
		s.runB, s.mergeB = mb, s.runB[:0]
		s.runC, s.mergeC = mc, s.runC[:0]
		return
	}
	s.runB, s.runC = append(s.runB[:lo], mb...), append(s.runC[:lo], mc...)
	s.mergeB, s.mergeC = mb[:0], mc[:0]
}

// Columns lists the block's column names, in the order it encodes them.
func (s *SeriesBlock) Columns() []string { return names(s.cols) }
