package clickhouseexporter

import (
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weirhq/weir/internal/sampleweight"
	"github.com/weirhq/weir/rollup"
)

// spanColumns is the INSERT column list of the spans table; appendTo appends in this order.
var spanColumns = []string{
	"Timestamp", "StartTimeUnixNano", "DurationNano", "ServiceName", "SpanName", "SpanKind",
	"TraceId", "SpanId", "ParentSpanId", "TraceState", "Flags", "StatusCode", "StatusMessage",
	"SampleWeight",
	"SpanAttributeKeys", "SpanAttributeValues", "SpanAttributeTypes", "DroppedAttributesCount",
	"ResourceAttributeKeys", "ResourceAttributeValues", "ResourceAttributeTypes",
	"ResourceDroppedAttributesCount", "ResourceSchemaUrl",
	"ScopeName", "ScopeVersion", "ScopeAttributeKeys", "ScopeAttributeValues", "ScopeAttributeTypes",
	"ScopeDroppedAttributesCount", "ScopeSchemaUrl",
	"Events.TimeUnixNano", "Events.Name", "Events.AttributeKeys", "Events.AttributeValues",
	"Events.AttributeTypes", "Events.DroppedAttributesCount", "DroppedEventsCount",
	"Links.TraceId", "Links.SpanId", "Links.TraceState", "Links.Flags", "Links.AttributeKeys",
	"Links.AttributeValues", "Links.AttributeTypes", "Links.DroppedAttributesCount", "DroppedLinksCount",
}

// spanBlock is one INSERT worth of spans, column by column, and the trace_index rows of
// those spans. Reused across batches.
type spanBlock struct {
	rows, bytes int
	invalid     int // spans skipped for an all-zero trace or span ID

	a arena

	// index aggregates the block's spans per trace and day, written after the spans.
	index *rollup.TraceIndexBlock

	timestamp     []int64
	start         []uint64
	duration      []int64
	service, name []string
	kind          []uint8
	traceID       [][]byte
	spanID        [][]byte
	parentID      [][]byte
	traceState    []string
	flags         []uint32
	statusCode    []uint8
	statusMessage []string
	weight        []float64
	attrs         attrCols
	droppedAttrs  []uint32
	resAttrs      attrCols
	resDropped    []uint32
	resSchemaURL  []string
	scopeName     []string
	scopeVersion  []string
	scopeAttrs    attrCols
	scopeDropped  []uint32
	scopeSchema   []string

	evTime     [][]uint64
	evName     [][]string
	evAttrs    nestedAttrCols
	evDropped  [][]uint32
	evTimeFlat []uint64
	evNameFlat []string
	evDropFlat []uint32
	droppedEvs []uint32

	lkTraceID    [][]string
	lkSpanID     [][]string
	lkState      [][]string
	lkFlags      [][]uint32
	lkAttrs      nestedAttrCols
	lkDropped    [][]uint32
	lkTraceFlat  []string
	lkSpanFlat   []string
	lkStateFlat  []string
	lkFlagsFlat  []uint32
	lkDropFlat   []uint32
	droppedLinks []uint32
}

// newSpanBlock returns an empty block; loc is the ClickHouse server's time zone, which
// decides the Day of the block's trace_index rows.
func newSpanBlock(loc *time.Location) *spanBlock {
	return &spanBlock{index: rollup.NewTraceIndexBlock(loc)}
}

func (b *spanBlock) columns() []string { return spanColumns }

func (b *spanBlock) size() (int, int) { return b.rows, b.bytes }

func (b *spanBlock) reset() {
	b.rows, b.bytes, b.invalid = 0, 0, 0
	b.a.reset()
	b.index.Reset()
	b.timestamp, b.start, b.duration = b.timestamp[:0], b.start[:0], b.duration[:0]
	b.service, b.name, b.kind = b.service[:0], b.name[:0], b.kind[:0]
	b.traceID, b.spanID, b.parentID = b.traceID[:0], b.spanID[:0], b.parentID[:0]
	b.traceState, b.flags, b.statusCode, b.statusMessage = b.traceState[:0], b.flags[:0], b.statusCode[:0], b.statusMessage[:0]
	b.weight = b.weight[:0]
	b.attrs.reset()
	b.droppedAttrs = b.droppedAttrs[:0]
	b.resAttrs.reset()
	b.resDropped, b.resSchemaURL = b.resDropped[:0], b.resSchemaURL[:0]
	b.scopeName, b.scopeVersion = b.scopeName[:0], b.scopeVersion[:0]
	b.scopeAttrs.reset()
	b.scopeDropped, b.scopeSchema = b.scopeDropped[:0], b.scopeSchema[:0]
	b.evTime, b.evName, b.evDropped = b.evTime[:0], b.evName[:0], b.evDropped[:0]
	b.evAttrs.reset()
	b.evTimeFlat, b.evNameFlat, b.evDropFlat, b.droppedEvs = b.evTimeFlat[:0], b.evNameFlat[:0], b.evDropFlat[:0], b.droppedEvs[:0]
	b.lkTraceID, b.lkSpanID, b.lkState, b.lkFlags, b.lkDropped = b.lkTraceID[:0], b.lkSpanID[:0], b.lkState[:0], b.lkFlags[:0], b.lkDropped[:0]
	b.lkAttrs.reset()
	b.lkTraceFlat, b.lkSpanFlat, b.lkStateFlat, b.lkFlagsFlat, b.lkDropFlat = b.lkTraceFlat[:0], b.lkSpanFlat[:0], b.lkStateFlat[:0], b.lkFlagsFlat[:0], b.lkDropFlat[:0]
	b.droppedLinks = b.droppedLinks[:0]
}

// spanPos points at one span of a ptrace.Traces: resource, scope and span index.
type spanPos struct{ r, s, i int }

// fill resets b and appends spans of td from pos on until the block holds maxRows rows or
// maxBytes bytes. It returns where the next block starts and whether td is exhausted.
func (b *spanBlock) fill(td ptrace.Traces, pos spanPos, maxRows, maxBytes int) (spanPos, bool) {
	b.reset()
	rss := td.ResourceSpans()
	for r := pos.r; r < rss.Len(); r++ {
		rs := rss.At(r)
		res := rs.Resource()
		service := serviceName(res.Attributes())
		sss := rs.ScopeSpans()
		s0 := 0
		if r == pos.r {
			s0 = pos.s
		}
		for s := s0; s < sss.Len(); s++ {
			ss := sss.At(s)
			spans := ss.Spans()
			i0 := 0
			if r == pos.r && s == pos.s {
				i0 = pos.i
			}
			for i := i0; i < spans.Len(); i++ {
				if b.rows >= maxRows || b.bytes >= maxBytes {
					return spanPos{r, s, i}, false
				}
				sp := spans.At(i)
				if sp.TraceID().IsEmpty() || sp.SpanID().IsEmpty() {
					b.invalid++
					continue
				}
				b.appendSpan(rs, ss, sp, service)
			}
		}
	}
	return spanPos{}, true
}

// serviceName is the service.name resource attribute, as the OpenTelemetry spec requires
// every SDK to set; "unknown_service" when a sender did not.
func serviceName(attrs pcommon.Map) string {
	if v, ok := attrs.Get("service.name"); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return "unknown_service"
}

func (b *spanBlock) appendSpan(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, sp ptrace.Span, service string) {
	a := &b.a
	start := uint64(sp.StartTimestamp())
	end := uint64(sp.EndTimestamp())
	b.timestamp = append(b.timestamp, int64(start/1e9))
	b.start = append(b.start, start)
	b.duration = append(b.duration, int64(end-start))
	b.service = append(b.service, service)
	b.name = append(b.name, sp.Name())
	b.kind = append(b.kind, uint8(sp.Kind()))
	b.traceID = append(b.traceID, traceIDBytes(a, sp.TraceID()))
	b.spanID = append(b.spanID, spanIDBytes(a, sp.SpanID()))
	b.parentID = append(b.parentID, spanIDBytes(a, sp.ParentSpanID()))
	b.traceState = append(b.traceState, sp.TraceState().AsRaw())
	b.flags = append(b.flags, sp.Flags())
	b.statusCode = append(b.statusCode, uint8(sp.Status().Code()))
	b.statusMessage = append(b.statusMessage, sp.Status().Message())
	b.weight = append(b.weight, sampleweight.FromTraceState(sp.TraceState().AsRaw()))
	b.index.Add([16]byte(sp.TraceID()), start, end, service)
	n := 120 + len(service) + len(sp.Name()) + len(sp.Status().Message())
	n += b.attrs.appendMap(sp.Attributes(), a)
	b.droppedAttrs = append(b.droppedAttrs, sp.DroppedAttributesCount())
	res := rs.Resource()
	n += b.resAttrs.appendMap(res.Attributes(), a)
	b.resDropped = append(b.resDropped, res.DroppedAttributesCount())
	b.resSchemaURL = append(b.resSchemaURL, rs.SchemaUrl())
	sc := ss.Scope()
	b.scopeName = append(b.scopeName, sc.Name())
	b.scopeVersion = append(b.scopeVersion, sc.Version())
	n += b.scopeAttrs.appendMap(sc.Attributes(), a)
	b.scopeDropped = append(b.scopeDropped, sc.DroppedAttributesCount())
	b.scopeSchema = append(b.scopeSchema, ss.SchemaUrl())

	evs := sp.Events()
	e0 := len(b.evTimeFlat)
	row := b.evAttrs.beginRow()
	for i := 0; i < evs.Len(); i++ {
		ev := evs.At(i)
		b.evTimeFlat = append(b.evTimeFlat, uint64(ev.Timestamp()))
		b.evNameFlat = append(b.evNameFlat, ev.Name())
		b.evDropFlat = append(b.evDropFlat, ev.DroppedAttributesCount())
		n += 12 + len(ev.Name()) + b.evAttrs.inner.appendMap(ev.Attributes(), a)
	}
	b.evAttrs.endRow(row)
	e1 := len(b.evTimeFlat)
	b.evTime = append(b.evTime, b.evTimeFlat[e0:e1:e1])
	b.evName = append(b.evName, b.evNameFlat[e0:e1:e1])
	b.evDropped = append(b.evDropped, b.evDropFlat[e0:e1:e1])
	b.droppedEvs = append(b.droppedEvs, sp.DroppedEventsCount())

	lks := sp.Links()
	l0 := len(b.lkTraceFlat)
	row = b.lkAttrs.beginRow()
	for i := 0; i < lks.Len(); i++ {
		lk := lks.At(i)
		tid, sid := lk.TraceID(), lk.SpanID()
		// Links are rare; their IDs go through strings, which the driver's
		// Array(FixedString) path takes without reflection.
		b.lkTraceFlat = append(b.lkTraceFlat, string(tid[:]))
		b.lkSpanFlat = append(b.lkSpanFlat, string(sid[:]))
		b.lkStateFlat = append(b.lkStateFlat, lk.TraceState().AsRaw())
		b.lkFlagsFlat = append(b.lkFlagsFlat, lk.Flags())
		b.lkDropFlat = append(b.lkDropFlat, lk.DroppedAttributesCount())
		n += 40 + len(lk.TraceState().AsRaw()) + b.lkAttrs.inner.appendMap(lk.Attributes(), a)
	}
	b.lkAttrs.endRow(row)
	l1 := len(b.lkTraceFlat)
	b.lkTraceID = append(b.lkTraceID, b.lkTraceFlat[l0:l1:l1])
	b.lkSpanID = append(b.lkSpanID, b.lkSpanFlat[l0:l1:l1])
	b.lkState = append(b.lkState, b.lkStateFlat[l0:l1:l1])
	b.lkFlags = append(b.lkFlags, b.lkFlagsFlat[l0:l1:l1])
	b.lkDropped = append(b.lkDropped, b.lkDropFlat[l0:l1:l1])
	b.droppedLinks = append(b.droppedLinks, sp.DroppedLinksCount())

	b.rows++
	b.bytes += n
}

func (b *spanBlock) appendTo(batch driver.Batch) error {
	return appendColumns(batch, spanColumns, b.values())
}

// values are the block's column slices, in spanColumns order.
func (b *spanBlock) values() []any {
	return []any{
		b.timestamp, b.start, b.duration, b.service, b.name, b.kind,
		b.traceID, b.spanID, b.parentID, b.traceState, b.flags, b.statusCode, b.statusMessage,
		b.weight,
		b.attrs.keys, b.attrs.vals, b.attrs.types, b.droppedAttrs,
		b.resAttrs.keys, b.resAttrs.vals, b.resAttrs.types, b.resDropped, b.resSchemaURL,
		b.scopeName, b.scopeVersion, b.scopeAttrs.keys, b.scopeAttrs.vals, b.scopeAttrs.types,
		b.scopeDropped, b.scopeSchema,
		b.evTime, b.evName, b.evAttrs.keys, b.evAttrs.vals, b.evAttrs.types, b.evDropped, b.droppedEvs,
		b.lkTraceID, b.lkSpanID, b.lkState, b.lkFlags, b.lkAttrs.keys, b.lkAttrs.vals, b.lkAttrs.types,
		b.lkDropped, b.droppedLinks,
	}
}

// appendColumns appends each column's slice to the batch, naming the column on failure.
func appendColumns(batch driver.Batch, names []string, cols []any) error {
	for i, c := range cols {
		if err := appendColumn(batch.Column(i), c); err != nil {
			return &columnError{column: names[i], err: err}
		}
	}
	return nil
}

// appendColumn appends one column's values. The driver appends a whole slice of arrays
// through reflection, element by element; handed one row at a time, an array of strings or
// bytes takes its typed path instead (BenchmarkSpanBlock_Encode measures the difference).
func appendColumn(col driver.BatchColumn, c any) error {
	switch v := c.(type) {
	case [][]string:
		return appendRows(col, v)
	case [][]uint8: // Array(UInt8), and FixedString IDs as []byte rows
		return appendRows(col, v)
	case [][]uint32:
		return appendRows(col, v)
	case [][]uint64:
		return appendRows(col, v)
	case [][]int32:
		return appendRows(col, v)
	case [][]float64:
		return appendRows(col, v)
	}
	return col.Append(c)
}

func appendRows[T any](col driver.BatchColumn, rows [][]T) error {
	for _, row := range rows {
		if err := col.AppendRow(row); err != nil {
			return err
		}
	}
	return nil
}

type columnError struct {
	column string
	err    error
}

func (e *columnError) Error() string { return "column " + e.column + ": " + e.err.Error() }
func (e *columnError) Unwrap() error { return e.err }

// tracesFrom copies the spans of td from pos on into a new Traces, for a retry.
func tracesFrom(td ptrace.Traces, pos spanPos) ptrace.Traces {
	if pos == (spanPos{}) {
		return td
	}
	out := ptrace.NewTraces()
	rss := td.ResourceSpans()
	for r := pos.r; r < rss.Len(); r++ {
		src := rss.At(r)
		dst := out.ResourceSpans().AppendEmpty()
		src.Resource().CopyTo(dst.Resource())
		dst.SetSchemaUrl(src.SchemaUrl())
		for s := 0; s < src.ScopeSpans().Len(); s++ {
			if r == pos.r && s < pos.s {
				continue
			}
			ss := src.ScopeSpans().At(s)
			dss := dst.ScopeSpans().AppendEmpty()
			ss.Scope().CopyTo(dss.Scope())
			dss.SetSchemaUrl(ss.SchemaUrl())
			for i := 0; i < ss.Spans().Len(); i++ {
				if r == pos.r && s == pos.s && i < pos.i {
					continue
				}
				ss.Spans().At(i).CopyTo(dss.Spans().AppendEmpty())
			}
		}
	}
	return out
}
