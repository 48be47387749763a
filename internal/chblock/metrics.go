package chblock

import (
	"github.com/ClickHouse/ch-go/proto"

	"github.com/weirhq/weir/internal/otlpwire"
)

// MetricTables names the table of each metric type (otlpwire.MetricGauge, …).
var MetricTables = [...]string{
	otlpwire.MetricGauge:                "metrics_gauge",
	otlpwire.MetricSum:                  "metrics_sum",
	otlpwire.MetricHistogram:            "metrics_histogram",
	otlpwire.MetricExponentialHistogram: "metrics_exponential_histogram",
	otlpwire.MetricSummary:              "metrics_summary",
}

// noRecordedValue is DataPointFlags' FLAG_NO_RECORDED_VALUE.
const noRecordedValue = 1

// MetricContext is what a point's row takes from its resource, scope and metric.
type MetricContext struct {
	Resource *otlpwire.Resource
	Service  []byte // UnknownService when the resource has no string service.name
	Scope    *otlpwire.Scope
	Metric   *otlpwire.Metric

	// ResourceSeq, ScopeSeq and MetricSeq number the resource, the scope and the metric (or
	// the part of its points stored in one go) among those a MetricSet has seen (0:
	// unnumbered), so that a block can repeat the previous row's context when it is the same.
	ResourceSeq, ScopeSeq, MetricSeq uint64
}

// MetricBlock is one INSERT worth of one of the five metric tables.
type MetricBlock struct {
	typ         uint8
	rows, bytes int
	cols        []column

	timestamp                 proto.ColDateTime
	timeNano, startNano       proto.ColUInt64
	service, name, desc, unit *strCol
	seriesHash                proto.ColUInt64
	attrs                     *attrCols
	flags                     proto.ColUInt32

	temporality, monotonic, valueType proto.ColUInt8
	dbl                               proto.ColFloat64
	intv                              proto.ColInt64
	count                             proto.ColUInt64
	sum, min, max                     proto.ColFloat64
	hasSum, hasMin, hasMax            proto.ColUInt8
	buckets, bounds                   *arrCol
	bucketsData                       *proto.ColUInt64
	boundsData                        *proto.ColFloat64
	scale, posOffset, negOffset       proto.ColInt32
	zeroCount                         proto.ColUInt64
	zeroThreshold                     proto.ColFloat64
	pos, neg                          *arrCol
	posData, negData                  *proto.ColUInt64
	quantiles, qValues                *arrCol
	quantilesData, qValuesData        *proto.ColFloat64

	meta                               *attrCols
	resAttrs, scopeAttrs               *attrCols
	lastRes, lastScope                 rowMemo // where the last row's resAttrs and scopeAttrs came from
	scopeRun, metricRun                contextRun
	runs                               bool // contextRuns are used (not with LowCardinality columns)
	resDropped, scopeDropped           proto.ColUInt32
	resSchema, scopeName, scopeVersion *strCol
	scopeSchema                        *strCol
	exTime, exType, exDouble, exInt    *arrCol
	exTrace, exSpan                    *arrCol
	exTimeData                         *proto.ColUInt64
	exTypeData                         *proto.ColUInt8
	exDoubleData                       *proto.ColFloat64
	exIntData                          *proto.ColInt64
	exTraceData                        *proto.ColFixedStr16
	exSpanData                         *proto.ColFixedStr8
	exAttrs                            *nestedAttrCols
	insertID                           proto.ColUInt64
}

// NewMetricBlock returns an empty block for points of type typ (otlpwire.MetricGauge, …).
// lowCardinality is as for NewSpanBlock.
func NewMetricBlock(typ uint8, lowCardinality bool) *MetricBlock {
	lc := lowCardinality
	b := &MetricBlock{typ: typ, runs: !lowCardinality}
	b.service, b.name, b.desc, b.unit = newStrCol(lc), newStrCol(lc), newStrCol(lc), newStrCol(lc)
	b.attrs, b.resAttrs, b.scopeAttrs, b.meta = newAttrCols(lc), newAttrCols(lc), newAttrCols(lc), newAttrCols(false)
	b.resSchema, b.scopeName, b.scopeVersion, b.scopeSchema = newStrCol(lc), newStrCol(lc), newStrCol(lc), newStrCol(lc)
	b.bucketsData, b.boundsData = new(proto.ColUInt64), new(proto.ColFloat64)
	b.buckets, b.bounds = newArr(b.bucketsData), newArr(b.boundsData)
	b.posData, b.negData = new(proto.ColUInt64), new(proto.ColUInt64)
	b.pos, b.neg = newArr(b.posData), newArr(b.negData)
	b.quantilesData, b.qValuesData = new(proto.ColFloat64), new(proto.ColFloat64)
	q := newArrays(b.quantilesData, b.qValuesData)
	b.quantiles, b.qValues = q[0], q[1]
	b.exTimeData, b.exTypeData, b.exDoubleData = new(proto.ColUInt64), new(proto.ColUInt8), new(proto.ColFloat64)
	b.exIntData, b.exTraceData, b.exSpanData = new(proto.ColInt64), new(proto.ColFixedStr16), new(proto.ColFixedStr8)
	ex := newArrays(b.exTimeData, b.exTypeData, b.exDoubleData, b.exIntData, b.exTraceData, b.exSpanData)
	b.exTime, b.exType, b.exDouble, b.exInt, b.exTrace, b.exSpan = ex[0], ex[1], ex[2], ex[3], ex[4], ex[5]
	b.exAttrs = newNestedAttrCols()

	b.cols = []column{
		{"Timestamp", &b.timestamp}, {"TimeUnixNano", &b.timeNano}, {"StartTimeUnixNano", &b.startNano},
		{"ServiceName", b.service}, {"MetricName", b.name}, {"MetricDescription", b.desc}, {"MetricUnit", b.unit},
		{"SeriesHash", &b.seriesHash},
	}
	b.cols = append(b.cols, b.attrs.columns("Attribute")...)
	b.cols = append(b.cols, column{"Flags", &b.flags})
	stats := []column{{"Count", &b.count}, {"Sum", &b.sum}, {"HasSum", &b.hasSum}, {"Min", &b.min},
		{"HasMin", &b.hasMin}, {"Max", &b.max}, {"HasMax", &b.hasMax}}
	switch typ {
	case otlpwire.MetricGauge:
		b.cols = append(b.cols, column{"ValueType", &b.valueType}, column{"DoubleValue", &b.dbl}, column{"IntValue", &b.intv})
	case otlpwire.MetricSum:
		b.cols = append(b.cols, column{"AggregationTemporality", &b.temporality}, column{"IsMonotonic", &b.monotonic},
			column{"ValueType", &b.valueType}, column{"DoubleValue", &b.dbl}, column{"IntValue", &b.intv})
	case otlpwire.MetricHistogram:
		b.cols = append(b.cols, column{"AggregationTemporality", &b.temporality})
		b.cols = append(b.cols, stats...)
		b.cols = append(b.cols, column{"BucketCounts", b.buckets}, column{"ExplicitBounds", b.bounds})
	case otlpwire.MetricExponentialHistogram:
		b.cols = append(b.cols, column{"AggregationTemporality", &b.temporality})
		b.cols = append(b.cols, stats...)
		b.cols = append(b.cols, column{"Scale", &b.scale}, column{"ZeroCount", &b.zeroCount},
			column{"ZeroThreshold", &b.zeroThreshold}, column{"PositiveOffset", &b.posOffset},
			column{"PositiveBucketCounts", b.pos}, column{"NegativeOffset", &b.negOffset},
			column{"NegativeBucketCounts", b.neg})
	case otlpwire.MetricSummary:
		b.cols = append(b.cols, column{"Count", &b.count}, column{"Sum", &b.sum},
			column{"Quantiles.Quantile", b.quantiles}, column{"Quantiles.Value", b.qValues})
	}
	b.cols = append(b.cols, b.meta.columns("MetricMetadata")...)
	b.cols = append(b.cols, b.resAttrs.columns("ResourceAttribute")...)
	b.cols = append(b.cols, column{"ResourceDroppedAttributesCount", &b.resDropped},
		column{"ResourceSchemaUrl", b.resSchema}, column{"ScopeName", b.scopeName}, column{"ScopeVersion", b.scopeVersion})
	b.cols = append(b.cols, b.scopeAttrs.columns("ScopeAttribute")...)
	b.cols = append(b.cols, column{"ScopeDroppedAttributesCount", &b.scopeDropped}, column{"ScopeSchemaUrl", b.scopeSchema},
		column{"Exemplars.TimeUnixNano", b.exTime}, column{"Exemplars.ValueType", b.exType},
		column{"Exemplars.DoubleValue", b.exDouble}, column{"Exemplars.IntValue", b.exInt},
		column{"Exemplars.TraceId", b.exTrace}, column{"Exemplars.SpanId", b.exSpan})
	b.cols = append(b.cols, b.exAttrs.columns("Exemplars.FilteredAttribute")...)
	b.cols = append(b.cols, column{"InsertId", &b.insertID})
	return b
}

// Table is the block's table.
func (b *MetricBlock) Table() string { return MetricTables[b.typ] }

// Columns lists the block's column names, in the order it encodes them.
func (b *MetricBlock) Columns() []string { return names(b.cols) }

// Rows is how many points the block holds.
func (b *MetricBlock) Rows() int { return b.rows }

// Bytes estimates the rows' size, for the block size limits.
func (b *MetricBlock) Bytes() int { return b.bytes }

// TimeRange is the earliest and latest Timestamp (Unix seconds) of the rows.
func (b *MetricBlock) TimeRange() (lo, hi uint32) { return timeRange(&b.timestamp) }

// Reset empties the block, keeping its memory.
func (b *MetricBlock) Reset() {
	resetAll(b.cols)
	b.rows, b.bytes = 0, 0
	b.lastRes, b.lastScope = rowMemo{}, rowMemo{}
	b.scopeRun, b.metricRun = contextRun{}, contextRun{}
}

// Encode appends the block in Native format, every row with InsertId insertID.
func (b *MetricBlock) Encode(dst []byte, insertID uint64) ([]byte, error) {
	b.flush()
	return encodeWithID(dst, b.cols, b.rows, &b.insertID, insertID)
}

// Append adds one point. series is its series hash; temporality the metric's, or what the
// cumulative-to-delta stage made of it.
func (b *MetricBlock) Append(c *MetricContext, p *otlpwire.Point, series uint64, temporality int32) {
	n := b.appendPoint(p, series, temporality)
	if b.runs && c.ScopeSeq != 0 && c.ScopeSeq == b.scopeRun.seq {
		b.scopeRun.rows++
	} else {
		b.flushScope()
		b.scopeRun = contextRun{seq: c.ScopeSeq, bytes: b.appendScope(c)}
	}
	if b.runs && c.MetricSeq != 0 && c.MetricSeq == b.metricRun.seq {
		b.metricRun.rows++
	} else {
		b.flushMetric()
		b.metricRun = contextRun{seq: c.MetricSeq, bytes: b.appendMetric(c.Metric)}
	}
	b.rows++
	b.bytes += n + b.scopeRun.bytes + b.metricRun.bytes
}

// contextRun is the rows since the first of a run of points of one scope (MetricContext's
// ScopeSeq) or of one metric (MetricSeq) whose columns of that scope and its resource, or of
// that metric, are not yet filled: they repeat the run's first row, and a flush appends them
// at once. Appending those 20 columns' values point by point was most of MetricBlock.Append's
// 19 % of weir's CPU at 50k points/s (bench-e2e, 2026-12-07 19:06); a run needs no more than
// a comparison and a count per point.
type contextRun struct {
	seq   uint64 // the scope's or metric's number; 0: no run
	rows  int    // rows whose columns of the run are still to be filled
	bytes int    // the run's part of a row's estimated size
}

// flush fills the run's columns of the rows it holds.
func (b *MetricBlock) flush() {
	b.flushScope()
	b.flushMetric()
}

func (b *MetricBlock) flushScope() {
	k := b.scopeRun.rows
	if k == 0 {
		return
	}
	b.scopeRun.rows = 0
	for _, c := range [...]*strCol{b.service, b.resSchema, b.scopeName, b.scopeVersion, b.scopeSchema} {
		c.repeatLast(k)
	}
	b.resAttrs.repeatRows(k)
	b.scopeAttrs.repeatRows(k)
	repeatLast(&b.resDropped, k)
	repeatLast(&b.scopeDropped, k)
}

func (b *MetricBlock) flushMetric() {
	k := b.metricRun.rows
	if k == 0 {
		return
	}
	b.metricRun.rows = 0
	for _, c := range [...]*strCol{b.name, b.desc, b.unit} {
		c.repeatLast(k)
	}
	if b.typ == otlpwire.MetricSum {
		repeatLast(&b.monotonic, k)
	}
	b.meta.repeatRows(k)
}

// appendScope appends a row's columns of its scope and resource and returns their part of
// its size.
func (b *MetricBlock) appendScope(c *MetricContext) int {
	res, sc := c.Resource, c.Scope
	b.service.appendBytes(c.Service)
	n := len(c.Service)
	n += b.resAttrs.rowWireOf(res.Attrs, c.ResourceSeq, &b.lastRes)
	b.resDropped.Append(res.Dropped)
	b.resSchema.appendBytes(res.SchemaURL)
	b.scopeName.appendBytes(sc.Name)
	b.scopeVersion.appendBytes(sc.Version)
	n += b.scopeAttrs.rowWireOf(sc.Attrs, c.ScopeSeq, &b.lastScope)
	b.scopeDropped.Append(sc.Dropped)
	b.scopeSchema.appendBytes(sc.SchemaURL)
	return n
}

// appendMetric appends a row's columns of its metric and returns their part of its size.
func (b *MetricBlock) appendMetric(m *otlpwire.Metric) int {
	b.name.appendBytes(m.Name)
	b.desc.appendBytes(m.Description)
	b.unit.appendBytes(m.Unit)
	if b.typ == otlpwire.MetricSum {
		b.monotonic.Append(boolByte(m.Monotonic))
	}
	return 80 + len(m.Name) + b.meta.rowWire(m.Metadata)
}

// appendPoint appends a row's columns of the point itself and returns their part of its size.
func (b *MetricBlock) appendPoint(p *otlpwire.Point, series uint64, temporality int32) int {
	b.timestamp.Data = append(b.timestamp.Data, proto.DateTime(uint32(p.Time/1e9)))
	b.timeNano.Append(p.Time)
	b.startNano.Append(p.Start)
	b.seriesHash.Append(series)
	n := b.attrs.rowWire(p.Attrs)
	b.flags.Append(p.Flags)
	switch b.typ {
	case otlpwire.MetricGauge, otlpwire.MetricSum:
		if b.typ == otlpwire.MetricSum {
			b.temporality.Append(uint8(temporality))
		}
		b.valueType.Append(p.ValueType)
		b.dbl.Append(p.Double)
		b.intv.Append(p.Int)
	case otlpwire.MetricHistogram, otlpwire.MetricExponentialHistogram:
		b.temporality.Append(uint8(temporality))
		b.count.Append(p.Count)
		b.sum.Append(p.Sum)
		b.hasSum.Append(boolByte(p.HasSum))
		b.min.Append(p.Min)
		b.hasMin.Append(boolByte(p.HasMin))
		b.max.Append(p.Max)
		b.hasMax.Append(boolByte(p.HasMax))
		if b.typ == otlpwire.MetricHistogram {
			b.bucketsData.AppendArr(p.BucketCounts)
			b.buckets.end()
			b.boundsData.AppendArr(p.ExplicitBounds)
			b.bounds.end()
			n += 8 * (len(p.BucketCounts) + len(p.ExplicitBounds))
		} else {
			b.scale.Append(p.Scale)
			b.zeroCount.Append(p.ZeroCount)
			b.zeroThreshold.Append(p.ZeroThreshold)
			b.posOffset.Append(p.PositiveOffset)
			b.posData.AppendArr(p.PositiveBucketCounts)
			b.pos.end()
			b.negOffset.Append(p.NegativeOffset)
			b.negData.AppendArr(p.NegativeBucketCounts)
			b.neg.end()
			n += 8 * (len(p.PositiveBucketCounts) + len(p.NegativeBucketCounts))
		}
	case otlpwire.MetricSummary:
		b.count.Append(p.Count)
		b.sum.Append(p.Sum)
		for _, q := range p.Quantiles {
			b.quantilesData.Append(q.Quantile)
			b.qValuesData.Append(q.Value)
		}
		b.quantiles.endAt(len(*b.quantilesData))
		n += 16 * len(p.Quantiles)
	}
	// Summaries carry no exemplars in OTLP; their rows get empty arrays as the others do.
	for i := range p.Exemplars {
		ex := &p.Exemplars[i]
		b.exTimeData.Append(ex.Time)
		b.exTypeData.Append(ex.ValueType)
		b.exDoubleData.Append(ex.Double)
		b.exIntData.Append(ex.Int)
		b.exTraceData.Append(ex.TraceID)
		b.exSpanData.Append(ex.SpanID)
		n += 64 + b.exAttrs.inner.rowWire(ex.Attrs)
	}
	b.exTime.endAt(len(*b.exTimeData))
	b.exAttrs.endRow()
	return n
}
