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

	// ResourceSeq and ScopeSeq number the resource and the scope among those a MetricSet has
	// seen (0: unnumbered), so that a block can repeat the previous row's attributes when
	// they are the same resource's or scope's.
	ResourceSeq, ScopeSeq uint64
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
	b := &MetricBlock{typ: typ}
	b.service, b.name, b.desc, b.unit = newStrCol(lc), newStrCol(lc), newStrCol(lc), newStrCol(lc)
	b.attrs, b.resAttrs, b.scopeAttrs, b.meta = newAttrCols(lc), newAttrCols(lc), newAttrCols(lc), newAttrCols(false)
	b.resSchema, b.scopeName, b.scopeVersion, b.scopeSchema = newStrCol(lc), newStrCol(lc), newStrCol(lc), newStrCol(lc)
	b.bucketsData, b.boundsData = new(proto.ColUInt64), new(proto.ColFloat64)
	b.buckets, b.bounds = newArr(b.bucketsData), newArr(b.boundsData)
	b.posData, b.negData = new(proto.ColUInt64), new(proto.ColUInt64)
	b.pos, b.neg = newArr(b.posData), newArr(b.negData)
	b.quantilesData, b.qValuesData = new(proto.ColFloat64), new(proto.ColFloat64)
	b.quantiles, b.qValues = newArr(b.quantilesData), newArr(b.qValuesData)
	b.exTimeData, b.exTypeData, b.exDoubleData = new(proto.ColUInt64), new(proto.ColUInt8), new(proto.ColFloat64)
	b.exIntData, b.exTraceData, b.exSpanData = new(proto.ColInt64), new(proto.ColFixedStr16), new(proto.ColFixedStr8)
	b.exTime, b.exType, b.exDouble = newArr(b.exTimeData), newArr(b.exTypeData), newArr(b.exDoubleData)
	b.exInt, b.exTrace, b.exSpan = newArr(b.exIntData), newArr(b.exTraceData), newArr(b.exSpanData)
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
}

// Encode appends the block in Native format, every row with InsertId insertID.
func (b *MetricBlock) Encode(dst []byte, insertID uint64) ([]byte, error) {
	return encodeWithID(dst, b.cols, b.rows, &b.insertID, insertID)
}

// Append adds one point. series is its series hash; temporality the metric's, or what the
// cumulative-to-delta stage made of it.
func (b *MetricBlock) Append(c *MetricContext, p *otlpwire.Point, series uint64, temporality int32) {
	m := c.Metric
	b.timestamp.Data = append(b.timestamp.Data, proto.DateTime(uint32(p.Time/1e9)))
	b.timeNano.Append(p.Time)
	b.startNano.Append(p.Start)
	b.service.appendBytes(c.Service)
	b.name.appendBytes(m.Name)
	b.desc.appendBytes(m.Description)
	b.unit.appendBytes(m.Unit)
	b.seriesHash.Append(series)
	n := 80 + len(m.Name) + len(c.Service) + b.attrs.rowWire(p.Attrs)
	b.flags.Append(p.Flags)
	switch b.typ {
	case otlpwire.MetricGauge, otlpwire.MetricSum:
		if b.typ == otlpwire.MetricSum {
			b.temporality.Append(uint8(temporality))
			b.monotonic.Append(boolByte(m.Monotonic))
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
		b.quantiles.end()
		b.qValues.end()
		n += 16 * len(p.Quantiles)
	}
	n += b.meta.rowWire(m.Metadata)
	res, sc := c.Resource, c.Scope
	n += b.resAttrs.rowWireOf(res.Attrs, c.ResourceSeq, &b.lastRes)
	b.resDropped.Append(res.Dropped)
	b.resSchema.appendBytes(res.SchemaURL)
	b.scopeName.appendBytes(sc.Name)
	b.scopeVersion.appendBytes(sc.Version)
	n += b.scopeAttrs.rowWireOf(sc.Attrs, c.ScopeSeq, &b.lastScope)
	b.scopeDropped.Append(sc.Dropped)
	b.scopeSchema.appendBytes(sc.SchemaURL)
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
	endRows(len(*b.exTimeData), b.exTime, b.exType, b.exDouble, b.exInt, b.exTrace, b.exSpan)
	b.exAttrs.endRow()
	b.rows++
	b.bytes += n
}
