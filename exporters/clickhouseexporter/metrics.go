package clickhouseexporter

import (
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/weirhq/weir/internal/anyvalue"
	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/rollup"
)

var metricHead = []string{
	"Timestamp", "TimeUnixNano", "StartTimeUnixNano", "ServiceName", "MetricName",
	"MetricDescription", "MetricUnit", "SeriesHash", "AttributeKeys", "AttributeValues",
	"AttributeTypes", "Flags",
}

var metricTail = []string{
	"MetricMetadataKeys", "MetricMetadataValues", "MetricMetadataTypes",
	"ResourceAttributeKeys", "ResourceAttributeValues", "ResourceAttributeTypes",
	"ResourceDroppedAttributesCount", "ResourceSchemaUrl",
	"ScopeName", "ScopeVersion", "ScopeAttributeKeys", "ScopeAttributeValues", "ScopeAttributeTypes",
	"ScopeDroppedAttributesCount", "ScopeSchemaUrl",
	"Exemplars.TimeUnixNano", "Exemplars.ValueType", "Exemplars.DoubleValue", "Exemplars.IntValue",
	"Exemplars.TraceId", "Exemplars.SpanId", "Exemplars.FilteredAttributeKeys",
	"Exemplars.FilteredAttributeValues", "Exemplars.FilteredAttributeTypes",
}

// typeColumns are the columns between head and tail, per metric type.
var typeColumns = map[pmetric.MetricType][]string{
	pmetric.MetricTypeGauge: {"ValueType", "DoubleValue", "IntValue"},
	pmetric.MetricTypeSum:   {"AggregationTemporality", "IsMonotonic", "ValueType", "DoubleValue", "IntValue"},
	pmetric.MetricTypeHistogram: {"AggregationTemporality", "Count", "Sum", "HasSum", "Min", "HasMin",
		"Max", "HasMax", "BucketCounts", "ExplicitBounds"},
	pmetric.MetricTypeExponentialHistogram: {"AggregationTemporality", "Count", "Sum", "HasSum", "Min",
		"HasMin", "Max", "HasMax", "Scale", "ZeroCount", "ZeroThreshold", "PositiveOffset",
		"PositiveBucketCounts", "NegativeOffset", "NegativeBucketCounts"},
	pmetric.MetricTypeSummary: {"Count", "Sum", "Quantiles.Quantile", "Quantiles.Value"},
}

var metricTables = map[pmetric.MetricType]string{
	pmetric.MetricTypeGauge:                rollup.TableMetricsGauge,
	pmetric.MetricTypeSum:                  rollup.TableMetricsSum,
	pmetric.MetricTypeHistogram:            rollup.TableMetricsHistogram,
	pmetric.MetricTypeExponentialHistogram: rollup.TableMetricsExponentialHistogram,
	pmetric.MetricTypeSummary:              rollup.TableMetricsSummary,
}

// metricOrder is the order the five tables are written in.
var metricOrder = []pmetric.MetricType{
	pmetric.MetricTypeGauge, pmetric.MetricTypeSum, pmetric.MetricTypeHistogram,
	pmetric.MetricTypeExponentialHistogram, pmetric.MetricTypeSummary,
}

// metricBlocks is one block per metric table, sharing an arena. Reused across batches.
type metricBlocks struct {
	a        arena
	red      redBlocks
	blocks   [5]*metricBlock
	hash     model.Hasher
	hashText []byte // scratch text of non-string attribute values, for the hash

	// seriesOnly holds the points of scopes handed back for series_1m alone (see
	// seriesOnlyKey): never inserted into the raw tables, only aggregated into series.
	seriesOnly [5]*metricBlock
	series     seriesBlock
	seriesSrc  []*metricBlock
}

func newMetricBlocks() *metricBlocks {
	bs := &metricBlocks{}
	for i, t := range metricOrder {
		cols := append(append(append([]string(nil), metricHead...), typeColumns[t]...), metricTail...)
		bs.blocks[i] = &metricBlock{table: metricTables[t], metricType: t, cols: cols, a: &bs.a}
		bs.seriesOnly[i] = &metricBlock{metricType: t, cols: cols, a: &bs.a}
	}
	return bs
}

// buildSeries aggregates series_1m's rows from the raw blocks whose insert succeeded (failed
// names the types whose insert did not) and from the series-only points.
func (bs *metricBlocks) buildSeries(failed map[pmetric.MetricType]bool) *seriesBlock {
	src := bs.seriesSrc[:0]
	for _, b := range bs.blocks {
		if !failed[b.metricType] {
			src = append(src, b)
		}
	}
	src = append(src, bs.seriesOnly[:]...)
	bs.series.build(src)
	clear(src)
	bs.seriesSrc = src[:0]
	return &bs.series
}

func (bs *metricBlocks) all() []*metricBlock { return bs.blocks[:] }

func (bs *metricBlocks) of(t pmetric.MetricType) *metricBlock { return blockOf(bs.blocks[:], t) }

func blockOf(blocks []*metricBlock, t pmetric.MetricType) *metricBlock {
	for _, b := range blocks {
		if b.metricType == t {
			return b
		}
	}
	return nil
}

// fill resets every block and appends all data points of md to the block of their type.
// Metrics of an empty type carry no points and are skipped.
func (bs *metricBlocks) fill(md pmetric.Metrics) {
	bs.a.reset()
	for _, b := range bs.blocks {
		b.reset()
	}
	for _, b := range bs.seriesOnly {
		b.reset()
	}
	bs.series.reset()
	bs.red.reset()
	rms := md.ResourceMetrics()
	for r := 0; r < rms.Len(); r++ {
		rm := rms.At(r)
		service := serviceName(rm.Resource().Attributes())
		sms := rm.ScopeMetrics()
		for s := 0; s < sms.Len(); s++ {
			sm := sms.At(s)
			if isRED(sm) {
				// weir_red's metrics go to the RED tiers, not the generic tables.
				bs.red.addScope(service, sm)
				continue
			}
			blocks := bs.blocks[:]
			if isSeriesOnly(sm) {
				blocks = bs.seriesOnly[:]
			}
			ms := sm.Metrics()
			for i := 0; i < ms.Len(); i++ {
				m := ms.At(i)
				b := blockOf(blocks, m.Type())
				if b == nil {
					continue
				}
				ctx := pointCtx{rm: rm, sm: sm, m: m, service: service}
				ctx.seed = bs.seriesSeed(rm, sm, m)
				b.appendMetric(ctx, bs)
			}
		}
	}
}

// seriesSeed hashes what a series shares across its points: resource, scope and metric name.
func (bs *metricBlocks) seriesSeed(rm pmetric.ResourceMetrics, sm pmetric.ScopeMetrics, m pmetric.Metric) uint64 {
	var res uint64
	res, bs.hashText = anyvalue.HashMap(&bs.hash, rm.Resource().Attributes(), bs.hashText)
	return bs.hash.Seed(sm.Scope().Name(), m.Name(), res)
}

type pointCtx struct {
	rm      pmetric.ResourceMetrics
	sm      pmetric.ScopeMetrics
	m       pmetric.Metric
	service string
	seed    uint64
}

// metricBlock is one INSERT worth of one metric table.
type metricBlock struct {
	table      string
	metricType pmetric.MetricType
	cols       []string
	a          *arena
	rows       int
	bytes      int

	// head
	timestamp  []int64
	timeNano   []uint64
	startNano  []uint64
	service    []string
	name       []string
	desc       []string
	unit       []string
	seriesHash []uint64
	attrs      attrCols
	flags      []uint32

	// type-specific
	temporality []uint8
	monotonic   []uint8
	valueType   []uint8
	dbl         []float64
	intv        []int64
	count       []uint64
	sum         []float64
	hasSum      []uint8
	min, max    []float64
	hasMin      []uint8
	hasMax      []uint8
	buckets     nested[uint64]
	bounds      nested[float64]
	scale       []int32
	zeroCount   []uint64
	zeroThresh  []float64
	posOffset   []int32
	posCounts   nested[uint64]
	negOffset   []int32
	negCounts   nested[uint64]
	quantiles   nested[float64]
	qValues     nested[float64]

	// tail
	meta         attrCols
	resAttrs     attrCols
	resDropped   []uint32
	resSchema    []string
	scopeName    []string
	scopeVersion []string
	scopeAttrs   attrCols
	scopeDropped []uint32
	scopeSchema  []string
	exTime       nested[uint64]
	exType       nested[uint8]
	exDouble     nested[float64]
	exInt        nested[int64]
	exTrace      nested[string]
	exSpan       nested[string]
	exAttrs      nestedAttrCols
}

// nested is an Array(T) column whose rows are views into one flat slice.
type nested[T any] struct {
	rows [][]T
	flat []T
}

func (n *nested[T]) reset()     { n.rows, n.flat = n.rows[:0], n.flat[:0] }
func (n *nested[T]) begin() int { return len(n.flat) }
func (n *nested[T]) add(v T)    { n.flat = append(n.flat, v) }
func (n *nested[T]) end(start int) {
	e := len(n.flat)
	n.rows = append(n.rows, n.flat[start:e:e])
}

func (b *metricBlock) columns() []string { return b.cols }
func (b *metricBlock) size() (int, int)  { return b.rows, b.bytes }

func (b *metricBlock) reset() {
	b.rows, b.bytes = 0, 0
	b.timestamp, b.timeNano, b.startNano = b.timestamp[:0], b.timeNano[:0], b.startNano[:0]
	b.service, b.name, b.desc, b.unit = b.service[:0], b.name[:0], b.desc[:0], b.unit[:0]
	b.seriesHash, b.flags = b.seriesHash[:0], b.flags[:0]
	b.attrs.reset()
	b.temporality, b.monotonic, b.valueType = b.temporality[:0], b.monotonic[:0], b.valueType[:0]
	b.dbl, b.intv, b.count, b.sum = b.dbl[:0], b.intv[:0], b.count[:0], b.sum[:0]
	b.hasSum, b.min, b.max, b.hasMin, b.hasMax = b.hasSum[:0], b.min[:0], b.max[:0], b.hasMin[:0], b.hasMax[:0]
	b.buckets.reset()
	b.bounds.reset()
	b.scale, b.zeroCount, b.zeroThresh = b.scale[:0], b.zeroCount[:0], b.zeroThresh[:0]
	b.posOffset, b.negOffset = b.posOffset[:0], b.negOffset[:0]
	b.posCounts.reset()
	b.negCounts.reset()
	b.quantiles.reset()
	b.qValues.reset()
	b.meta.reset()
	b.resAttrs.reset()
	b.resDropped, b.resSchema = b.resDropped[:0], b.resSchema[:0]
	b.scopeName, b.scopeVersion, b.scopeDropped, b.scopeSchema = b.scopeName[:0], b.scopeVersion[:0], b.scopeDropped[:0], b.scopeSchema[:0]
	b.scopeAttrs.reset()
	b.exTime.reset()
	b.exType.reset()
	b.exDouble.reset()
	b.exInt.reset()
	b.exTrace.reset()
	b.exSpan.reset()
	b.exAttrs.reset()
}

// commonPoint is what every OTLP data point has.
type commonPoint interface {
	StartTimestamp() pcommon.Timestamp
	Timestamp() pcommon.Timestamp
	Attributes() pcommon.Map
	Flags() pmetric.DataPointFlags
}

func (b *metricBlock) appendMetric(c pointCtx, bs *metricBlocks) {
	m := c.m
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		dps := m.Gauge().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			p := dps.At(i)
			b.head(c, p, bs)
			b.number(p)
			b.tail(c, p.Exemplars())
		}
	case pmetric.MetricTypeSum:
		s := m.Sum()
		dps := s.DataPoints()
		for i := 0; i < dps.Len(); i++ {
			p := dps.At(i)
			b.head(c, p, bs)
			b.temporality = append(b.temporality, uint8(s.AggregationTemporality()))
			b.monotonic = append(b.monotonic, boolByte(s.IsMonotonic()))
			b.number(p)
			b.tail(c, p.Exemplars())
		}
	case pmetric.MetricTypeHistogram:
		h := m.Histogram()
		dps := h.DataPoints()
		for i := 0; i < dps.Len(); i++ {
			p := dps.At(i)
			b.head(c, p, bs)
			b.temporality = append(b.temporality, uint8(h.AggregationTemporality()))
			b.stats(p.Count(), p.Sum(), p.HasSum(), p.Min(), p.HasMin(), p.Max(), p.HasMax())
			appendUint64s(&b.buckets, p.BucketCounts())
			st := b.bounds.begin()
			for j := 0; j < p.ExplicitBounds().Len(); j++ {
				b.bounds.add(p.ExplicitBounds().At(j))
			}
			b.bounds.end(st)
			b.bytes += 8 * (p.BucketCounts().Len() + p.ExplicitBounds().Len())
			b.tail(c, p.Exemplars())
		}
	case pmetric.MetricTypeExponentialHistogram:
		h := m.ExponentialHistogram()
		dps := h.DataPoints()
		for i := 0; i < dps.Len(); i++ {
			p := dps.At(i)
			b.head(c, p, bs)
			b.temporality = append(b.temporality, uint8(h.AggregationTemporality()))
			b.stats(p.Count(), p.Sum(), p.HasSum(), p.Min(), p.HasMin(), p.Max(), p.HasMax())
			b.scale = append(b.scale, p.Scale())
			b.zeroCount = append(b.zeroCount, p.ZeroCount())
			b.zeroThresh = append(b.zeroThresh, p.ZeroThreshold())
			b.posOffset = append(b.posOffset, p.Positive().Offset())
			appendUint64s(&b.posCounts, p.Positive().BucketCounts())
			b.negOffset = append(b.negOffset, p.Negative().Offset())
			appendUint64s(&b.negCounts, p.Negative().BucketCounts())
			b.bytes += 8 * (p.Positive().BucketCounts().Len() + p.Negative().BucketCounts().Len())
			b.tail(c, p.Exemplars())
		}
	case pmetric.MetricTypeSummary:
		dps := m.Summary().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			p := dps.At(i)
			b.head(c, p, bs)
			b.count = append(b.count, p.Count())
			b.sum = append(b.sum, p.Sum())
			qs := p.QuantileValues()
			sq, sv := b.quantiles.begin(), b.qValues.begin()
			for j := 0; j < qs.Len(); j++ {
				b.quantiles.add(qs.At(j).Quantile())
				b.qValues.add(qs.At(j).Value())
			}
			b.quantiles.end(sq)
			b.qValues.end(sv)
			b.bytes += 16 * qs.Len()
			b.tail(c, pmetric.NewExemplarSlice())
		}
	}
}

func appendUint64s(n *nested[uint64], s pcommon.UInt64Slice) {
	st := n.begin()
	for j := 0; j < s.Len(); j++ {
		n.add(s.At(j))
	}
	n.end(st)
}

func boolByte(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}

func (b *metricBlock) head(c pointCtx, p commonPoint, bs *metricBlocks) {
	ts := uint64(p.Timestamp())
	b.timestamp = append(b.timestamp, int64(ts/1e9))
	b.timeNano = append(b.timeNano, ts)
	b.startNano = append(b.startNano, uint64(p.StartTimestamp()))
	b.service = append(b.service, c.service)
	b.name = append(b.name, c.m.Name())
	b.desc = append(b.desc, c.m.Description())
	b.unit = append(b.unit, c.m.Unit())
	// The series is the resource, scope and name (the seed) plus the point's attributes.
	var ph uint64
	ph, bs.hashText = anyvalue.HashMap(&bs.hash, p.Attributes(), bs.hashText)
	b.seriesHash = append(b.seriesHash, model.Mix(c.seed, ph))
	b.bytes += 80 + len(c.m.Name()) + len(c.service) + b.attrs.appendMap(p.Attributes(), b.a)
	b.flags = append(b.flags, uint32(p.Flags()))
}

type numberPoint interface {
	ValueType() pmetric.NumberDataPointValueType
	DoubleValue() float64
	IntValue() int64
}

func (b *metricBlock) number(p numberPoint) {
	b.valueType = append(b.valueType, uint8(p.ValueType()))
	b.dbl = append(b.dbl, p.DoubleValue())
	b.intv = append(b.intv, p.IntValue())
}

func (b *metricBlock) stats(count uint64, sum float64, hasSum bool, min float64, hasMin bool, max float64, hasMax bool) {
	b.count = append(b.count, count)
	b.sum = append(b.sum, sum)
	b.hasSum = append(b.hasSum, boolByte(hasSum))
	b.min = append(b.min, min)
	b.hasMin = append(b.hasMin, boolByte(hasMin))
	b.max = append(b.max, max)
	b.hasMax = append(b.hasMax, boolByte(hasMax))
}

func (b *metricBlock) tail(c pointCtx, exs pmetric.ExemplarSlice) {
	b.bytes += b.meta.appendMap(c.m.Metadata(), b.a)
	res := c.rm.Resource()
	b.bytes += b.resAttrs.appendMap(res.Attributes(), b.a)
	b.resDropped = append(b.resDropped, res.DroppedAttributesCount())
	b.resSchema = append(b.resSchema, c.rm.SchemaUrl())
	sc := c.sm.Scope()
	b.scopeName = append(b.scopeName, sc.Name())
	b.scopeVersion = append(b.scopeVersion, sc.Version())
	b.bytes += b.scopeAttrs.appendMap(sc.Attributes(), b.a)
	b.scopeDropped = append(b.scopeDropped, sc.DroppedAttributesCount())
	b.scopeSchema = append(b.scopeSchema, c.sm.SchemaUrl())

	st, sy, sd, si, sr, ss := b.exTime.begin(), b.exType.begin(), b.exDouble.begin(), b.exInt.begin(), b.exTrace.begin(), b.exSpan.begin()
	row := b.exAttrs.beginRow()
	for i := 0; i < exs.Len(); i++ {
		ex := exs.At(i)
		b.exTime.add(uint64(ex.Timestamp()))
		b.exType.add(uint8(ex.ValueType()))
		b.exDouble.add(ex.DoubleValue())
		b.exInt.add(ex.IntValue())
		tid, sid := ex.TraceID(), ex.SpanID()
		b.exTrace.add(string(tid[:]))
		b.exSpan.add(string(sid[:]))
		b.bytes += 64 + b.exAttrs.inner.appendMap(ex.FilteredAttributes(), b.a)
	}
	b.exAttrs.endRow(row)
	b.exTime.end(st)
	b.exType.end(sy)
	b.exDouble.end(sd)
	b.exInt.end(si)
	b.exTrace.end(sr)
	b.exSpan.end(ss)
	b.rows++
}

func (b *metricBlock) appendTo(batch driver.Batch) error {
	cols := []any{
		b.timestamp, b.timeNano, b.startNano, b.service, b.name, b.desc, b.unit, b.seriesHash,
		b.attrs.keys, b.attrs.vals, b.attrs.types, b.flags,
	}
	switch b.metricType {
	case pmetric.MetricTypeGauge:
		cols = append(cols, b.valueType, b.dbl, b.intv)
	case pmetric.MetricTypeSum:
		cols = append(cols, b.temporality, b.monotonic, b.valueType, b.dbl, b.intv)
	case pmetric.MetricTypeHistogram:
		cols = append(cols, b.temporality, b.count, b.sum, b.hasSum, b.min, b.hasMin, b.max, b.hasMax,
			b.buckets.rows, b.bounds.rows)
	case pmetric.MetricTypeExponentialHistogram:
		cols = append(cols, b.temporality, b.count, b.sum, b.hasSum, b.min, b.hasMin, b.max, b.hasMax,
			b.scale, b.zeroCount, b.zeroThresh, b.posOffset, b.posCounts.rows, b.negOffset, b.negCounts.rows)
	case pmetric.MetricTypeSummary:
		cols = append(cols, b.count, b.sum, b.quantiles.rows, b.qValues.rows)
	}
	cols = append(cols,
		b.meta.keys, b.meta.vals, b.meta.types,
		b.resAttrs.keys, b.resAttrs.vals, b.resAttrs.types, b.resDropped, b.resSchema,
		b.scopeName, b.scopeVersion, b.scopeAttrs.keys, b.scopeAttrs.vals, b.scopeAttrs.types,
		b.scopeDropped, b.scopeSchema,
		b.exTime.rows, b.exType.rows, b.exDouble.rows, b.exInt.rows, b.exTrace.rows, b.exSpan.rows,
		b.exAttrs.keys, b.exAttrs.vals, b.exAttrs.types,
	)
	return appendColumns(batch, b.cols, cols)
}

// metricsWhere copies the metrics of md for which keep is true, for a retry.
func metricsWhere(md pmetric.Metrics, keep func(sm pmetric.ScopeMetrics, m pmetric.Metric) bool) pmetric.Metrics {
	out := pmetric.NewMetrics()
	md.CopyTo(out)
	out.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool { return !keep(sm, m) })
			return sm.Metrics().Len() == 0
		})
		return rm.ScopeMetrics().Len() == 0
	})
	return out
}
