package clickhouseexporter

import (
	"math"
	"slices"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// The series_1m tier: one row per metric series and minute of each batch, pre-aggregated here
// from the columns the metric blocks already hold (SeriesHash included), so nothing is hashed
// or decoded twice. Several batches may write rows for the same series and minute; readers
// aggregate (sum, min, max, argMax, sumMap), as rollup/SCHEMA.md says.
//
// What a point contributes:
//
//   - Count: 1 per data point, of every type.
//   - Sum: the value of a gauge point and of a DELTA sum point; the Sum of a DELTA histogram or
//     exponential histogram point. Cumulative points (sums, histograms, summaries) add nothing:
//     adding running totals means nothing, and the metrics pipeline turns cumulative sums into
//     deltas before they get here (cumulative_to_delta).
//   - Min, Max: the value (gauges, sums), the point's Min and Max when it has them
//     (histograms), quantiles 0 and 1 (summaries). A row without any holds +Inf and -Inf,
//     which min() and max() across rows pass over.
//   - Last, LastTimeUnixNano: the value (gauges, sums) or the Sum (the other types) of the
//     latest point; read with argMax(Last, LastTimeUnixNano).
//   - BucketBounds, BucketCounts: the buckets of DELTA explicit-bucket histograms, with +Inf
//     as the bound of the last bucket, added bound by bound; read with sumMap.
//
// Points flagged "no recorded value", and number points of no value type, carry no value and
// are left out.

// seriesColumns is the INSERT column list of series_1m; appendTo appends in this order.
var seriesColumns = []string{
	"Timestamp", "ServiceName", "MetricName", "MetricUnit", "MetricType", "SeriesHash",
	"AttributeKeys", "AttributeValues", "Count", "Sum", "Min", "Max", "Last", "LastTimeUnixNano",
	"BucketBounds", "BucketCounts",
}

// seriesOnlyKey is the scope attribute (bool true) by which the exporter marks metrics it
// hands back for their series rows alone: their points are already in the raw metric tables
// and only the series_1m insert failed. A retry of such a scope writes series_1m and nothing
// else. The scope name stays as it was, since it is part of SeriesHash.
//
// Why series_1m is written last, and why this marker: series rows derive from the raw points,
// and each failed INSERT is retried by handing data back to the queue. To never count a point
// twice in either place, series rows are built only from points whose raw table insert just
// succeeded (points of a failed type go back unmarked and make both their raw and their series
// rows on retry), and when series_1m fails the points it needed go back marked, so the retry
// does not write their raw rows again. Writing series_1m first instead would need the marker
// on every raw-table failure, the common case, and would store series rows for points that
// may never reach the raw tables.
const seriesOnlyKey = "weir.clickhouse.series_only"

// isSeriesOnly reports whether sm was handed back for series_1m only.
func isSeriesOnly(sm pmetric.ScopeMetrics) bool {
	v, ok := sm.Scope().Attributes().Get(seriesOnlyKey)
	return ok && v.Type() == pcommon.ValueTypeBool && v.Bool()
}

// seriesRef points at one data point row of a metric block.
type seriesRef struct {
	hash uint64
	key  uint64 // minute start (unix seconds) << 3 | metric type
	blk  int32  // index into seriesBlock.src
	row  int32
}

func refKey(window int64, t pmetric.MetricType) uint64 { return uint64(window)<<3 | uint64(t&7) }

func (r seriesRef) window() int64           { return int64(r.key >> 3) }
func (r seriesRef) typ() pmetric.MetricType { return pmetric.MetricType(r.key & 7) }

// compareRefs orders refs by series, minute and type, then in batch order. Plain comparisons:
// sorting is most of build's time.
func compareRefs(a, b seriesRef) int {
	switch {
	case a.hash != b.hash:
		return cmpLess(a.hash < b.hash)
	case a.key != b.key:
		return cmpLess(a.key < b.key)
	case a.blk != b.blk:
		return cmpLess(a.blk < b.blk)
	}
	return int(a.row - b.row)
}

func cmpLess(less bool) int {
	if less {
		return -1
	}
	return 1
}

// seriesBlock is one INSERT worth of series_1m. Reused across batches. Its string and
// attribute columns are views into the metric blocks it was built from, so it is valid until
// those are reset.
type seriesBlock struct {
	rows, bytes int
	refs        []seriesRef
	src         []*metricBlock

	timestamp []int64
	service   []string
	name      []string
	unit      []string
	mtype     []uint8
	hash      []uint64
	attrKeys  [][]string
	attrVals  [][]string
	count     []uint64
	sum       []float64
	min, max  []float64
	last      []float64
	lastTime  []uint64
	bounds    nested[float64]
	buckets   nested[uint64]

	// scratch for merging bucket layouts that differ
	mergeB []float64
	mergeC []uint64
}

func (s *seriesBlock) reset() {
	s.rows, s.bytes = 0, 0
	s.refs = s.refs[:0]
	clear(s.src) // drop references to the blocks of the last batch
	s.src = s.src[:0]
	s.timestamp, s.service, s.name, s.unit = s.timestamp[:0], s.service[:0], s.name[:0], s.unit[:0]
	s.mtype, s.hash, s.attrKeys, s.attrVals = s.mtype[:0], s.hash[:0], s.attrKeys[:0], s.attrVals[:0]
	s.count, s.sum, s.min, s.max = s.count[:0], s.sum[:0], s.min[:0], s.max[:0]
	s.last, s.lastTime = s.last[:0], s.lastTime[:0]
	s.bounds.reset()
	s.buckets.reset()
}

// build aggregates every point row of blocks into one row per (series, minute, type).
func (s *seriesBlock) build(blocks []*metricBlock) {
	s.reset()
	for _, b := range blocks {
		if b.rows == 0 {
			continue
		}
		bi := int32(len(s.src))
		s.src = append(s.src, b)
		for i := 0; i < b.rows; i++ {
			if !hasValue(b, i) {
				continue
			}
			sec := int64(b.timeNano[i] / 1e9)
			s.refs = append(s.refs, seriesRef{hash: b.seriesHash[i], key: refKey(sec-sec%60, b.metricType), blk: bi, row: int32(i)})
		}
	}
	slices.SortFunc(s.refs, compareRefs)
	for i := 0; i < len(s.refs); {
		j := i + 1
		for j < len(s.refs) && s.refs[j].hash == s.refs[i].hash && s.refs[j].key == s.refs[i].key {
			j++
		}
		s.addGroup(s.refs[i:j])
		i = j
	}
}

// hasValue reports whether row i of b carries a value.
func hasValue(b *metricBlock, i int) bool {
	if pmetric.DataPointFlags(b.flags[i]).NoRecordedValue() {
		return false
	}
	switch b.metricType {
	case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
		return pmetric.NumberDataPointValueType(b.valueType[i]) != pmetric.NumberDataPointValueTypeEmpty
	}
	return true
}

// addGroup appends the row of one series, minute and type; refs are in batch order.
func (s *seriesBlock) addGroup(refs []seriesRef) {
	first := s.src[refs[0].blk]
	fr := int(refs[0].row)
	s.timestamp = append(s.timestamp, refs[0].window())
	s.service = append(s.service, first.service[fr])
	s.name = append(s.name, first.name[fr])
	s.unit = append(s.unit, first.unit[fr])
	s.mtype = append(s.mtype, uint8(refs[0].typ()))
	s.hash = append(s.hash, refs[0].hash)
	s.attrKeys = append(s.attrKeys, first.attrs.keys[fr])
	s.attrVals = append(s.attrVals, first.attrs.vals[fr])

	sum, mn, mx := 0.0, math.Inf(1), math.Inf(-1)
	last, lastTime := 0.0, uint64(0)
	bs, cs := s.bounds.begin(), s.buckets.begin()
	for k, r := range refs {
		b, i := s.src[r.blk], int(r.row)
		var v float64 // the point's value, or its Sum
		switch b.metricType {
		case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
			v = b.dbl[i]
			if pmetric.NumberDataPointValueType(b.valueType[i]) == pmetric.NumberDataPointValueTypeInt {
				v = float64(b.intv[i])
			}
			if b.metricType == pmetric.MetricTypeGauge || isDelta(b, i) {
				sum += v
			}
			mn, mx = min(mn, v), max(mx, v)
		case pmetric.MetricTypeHistogram, pmetric.MetricTypeExponentialHistogram:
			if b.hasSum[i] != 0 {
				v = b.sum[i]
				if isDelta(b, i) {
					sum += v
				}
			}
			if b.hasMin[i] != 0 {
				mn = min(mn, b.min[i])
			}
			if b.hasMax[i] != 0 {
				mx = max(mx, b.max[i])
			}
			if b.metricType == pmetric.MetricTypeHistogram && isDelta(b, i) {
				s.addBuckets(bs, b.bounds.rows[i], b.buckets.rows[i])
			}
		case pmetric.MetricTypeSummary:
			v = b.sum[i]
			for q, quantile := range b.quantiles.rows[i] {
				switch quantile {
				case 0:
					mn = min(mn, b.qValues.rows[i][q])
				case 1:
					mx = max(mx, b.qValues.rows[i][q])
				}
			}
		}
		if t := b.timeNano[i]; k == 0 || t >= lastTime {
			last, lastTime = v, t
		}
	}
	s.bounds.end(bs)
	s.buckets.end(cs)
	s.count = append(s.count, uint64(len(refs)))
	s.sum = append(s.sum, sum)
	s.min = append(s.min, mn)
	s.max = append(s.max, mx)
	s.last = append(s.last, last)
	s.lastTime = append(s.lastTime, lastTime)
	s.bytes += 100 + len(first.service[fr]) + len(first.name[fr]) + len(first.unit[fr]) +
		16*(len(s.bounds.flat)-bs) + attrBytes(first.attrs.keys[fr], first.attrs.vals[fr])
	s.rows++
}

func isDelta(b *metricBlock, i int) bool {
	return pmetric.AggregationTemporality(b.temporality[i]) == pmetric.AggregationTemporalityDelta
}

func attrBytes(keys, vals []string) int {
	n := 0
	for i := range keys {
		n += len(keys[i]) + len(vals[i]) + 16
	}
	return n
}

// addBuckets adds one histogram point's buckets to the row being built, whose buckets start
// at index start of the flat columns. bounds are the point's explicit bounds; counts has one
// more entry, the bucket above the last bound, which gets the bound +Inf. A point whose
// counts do not fit its bounds is malformed and adds no buckets.
func (s *seriesBlock) addBuckets(start int, bounds []float64, counts []uint64) {
	if len(counts) == 0 || len(counts) != len(bounds)+1 {
		return
	}
	curB, curC := s.bounds.flat[start:], s.buckets.flat[start:]
	if len(curB) == 0 {
		s.bounds.flat = append(s.bounds.flat, bounds...)
		s.bounds.flat = append(s.bounds.flat, math.Inf(1))
		s.buckets.flat = append(s.buckets.flat, counts...)
		return
	}
	if len(curB) == len(counts) && slices.Equal(curB[:len(bounds)], bounds) {
		for k, c := range counts { // the usual case: the same layout
			curC[k] += c
		}
		return
	}
	// Different layouts: merge the two sorted bound lists, adding counts of equal bounds.
	// (sumMap on read would add them anyway; this keeps rows small.)
	mb, mc := s.mergeB[:0], s.mergeC[:0]
	bound := func(k int) float64 {
		if k == len(bounds) {
			return math.Inf(1)
		}
		return bounds[k]
	}
	a, p := 0, 0
	for a < len(curB) || p < len(counts) {
		switch {
		case p == len(counts) || (a < len(curB) && curB[a] < bound(p)):
			mb, mc = append(mb, curB[a]), append(mc, curC[a])
			a++
		case a == len(curB) || bound(p) < curB[a]:
			mb, mc = append(mb, bound(p)), append(mc, counts[p])
			p++
		default:
			mb, mc = append(mb, curB[a]), append(mc, curC[a]+counts[p])
			a, p = a+1, p+1
		}
	}
	s.bounds.flat = append(s.bounds.flat[:start], mb...)
	s.buckets.flat = append(s.buckets.flat[:start], mc...)
	s.mergeB, s.mergeC = mb, mc
}

func (s *seriesBlock) columns() []string { return seriesColumns }
func (s *seriesBlock) size() (int, int)  { return s.rows, s.bytes }
func (s *seriesBlock) appendTo(batch driver.Batch) error {
	return appendColumns(batch, seriesColumns, []any{
		s.timestamp, s.service, s.name, s.unit, s.mtype, s.hash, s.attrKeys, s.attrVals,
		s.count, s.sum, s.min, s.max, s.last, s.lastTime, s.bounds.rows, s.buckets.rows,
	})
}

// metricsToRetry copies what a retry of md must write after a partial failure: metrics of a
// type whose raw table failed (as they are: their series rows were not written either), the
// other metrics marked series-only when series_1m failed, the weir_red scopes when a RED
// table failed, and scopes that were series-only already when series_1m failed again.
func metricsToRetry(md pmetric.Metrics, failed map[pmetric.MetricType]bool, redFailed, seriesFailed bool) pmetric.Metrics {
	out := metricsWhere(md, func(sm pmetric.ScopeMetrics, m pmetric.Metric) bool {
		switch {
		case isRED(sm):
			return redFailed
		case isSeriesOnly(sm):
			return seriesFailed
		case failed[m.Type()]:
			return true
		default:
			_, stored := metricTables[m.Type()]
			return seriesFailed && stored
		}
	})
	if !seriesFailed {
		return out
	}
	// Split every plain scope: the metrics stored raw move to a marked copy of the scope.
	rms := out.ResourceMetrics()
	for r := 0; r < rms.Len(); r++ {
		sms := rms.At(r).ScopeMetrics()
		for s, n := 0, sms.Len(); s < n; s++ {
			sm := sms.At(s)
			if isRED(sm) || isSeriesOnly(sm) {
				continue
			}
			marked := sms.AppendEmpty()
			sm = sms.At(s) // AppendEmpty may have moved the slice
			sm.Scope().CopyTo(marked.Scope())
			marked.Scope().Attributes().PutBool(seriesOnlyKey, true)
			marked.SetSchemaUrl(sm.SchemaUrl())
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				if failed[m.Type()] {
					return false
				}
				m.CopyTo(marked.Metrics().AppendEmpty())
				return true
			})
		}
		sms.RemoveIf(func(sm pmetric.ScopeMetrics) bool { return sm.Metrics().Len() == 0 })
	}
	return out
}
