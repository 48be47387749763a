package chblock

import (
	"bytes"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weirhq/weir/internal/otlpwire"
	"github.com/weirhq/weir/internal/sampleweight"
)

// UnknownService is the ServiceName of spans and points whose resource has no string
// service.name.
const UnknownService = "unknown_service"

// Keep is how the tail sampler kept a span's trace, applied as the span is stored: the
// reason attribute (set like pcommon.Map.PutStr: the first attribute of that key takes the
// value, else it is added last) and, for the baseline, the sampling threshold recorded in the
// span's tracestate (sampleweight.WithThreshold), which SampleWeight is then read from.
type Keep struct {
	ReasonKey    string // "" adds no attribute
	Reason       string
	Threshold    sampling.Threshold
	HasThreshold bool
}

// SpanBlock is one INSERT worth of the spans table, plus the trace_index rows of its spans.
type SpanBlock struct {
	rows, bytes int
	cols        []column

	// Index aggregates the block's spans per trace and day; it is encoded as its own block.
	Index *TraceIndexBlock

	timestamp     proto.ColDateTime
	start         proto.ColUInt64
	duration      proto.ColInt64
	service, name *strCol
	kind          proto.ColUInt8
	traceID       proto.ColFixedStr16
	spanID        proto.ColFixedStr8
	parentID      proto.ColFixedStr8
	traceState    *strCol
	flags         proto.ColUInt32
	statusCode    proto.ColUInt8
	statusMessage *strCol
	weight        proto.ColFloat64
	attrs         *attrCols
	droppedAttrs  proto.ColUInt32
	resAttrs      *attrCols
	resDropped    proto.ColUInt32
	resSchemaURL  *strCol
	scopeName     *strCol
	scopeVersion  *strCol
	scopeAttrs    *attrCols
	scopeDropped  proto.ColUInt32
	scopeSchema   *strCol

	evTime, evName, evDropped *arrCol
	evTimeData                *proto.ColUInt64
	evNameData                *strCol
	evDropData                *proto.ColUInt32
	evAttrs                   *nestedAttrCols
	droppedEvents             proto.ColUInt32

	lkTrace, lkSpan, lkState, lkFlags, lkDropped *arrCol
	lkTraceData                                  *proto.ColFixedStr16
	lkSpanData                                   *proto.ColFixedStr8
	lkStateData                                  *strCol
	lkFlagsData, lkDropData                      *proto.ColUInt32
	lkAttrs                                      *nestedAttrCols
	droppedLinks                                 proto.ColUInt32

	insertID proto.ColUInt64

	state stateMemo // the last tracestate written and its weight

	// Between Mark and Commit or Rollback: the rows and bytes at Mark, and the trace_index
	// additions of the spans appended since, which wait for Commit (that aggregation cannot
	// be taken back).
	marked     bool
	markRows   int
	markBytes  int
	pendingIdx []indexAdd
}

// stateMemo is the last tracestate a block wrote, as sent and as written, with its weight.
// The spans of a trace, and often all of a service's, carry the same tracestate, and reading
// it (W3C list, then the ot entry) and rewriting it with the sampler's threshold cost more than
// the rest of a kept span's row: 3 % of BenchmarkEngine_Traces/sampled10 went to reading it.
type stateMemo struct {
	ok     bool
	in     []byte // as sent
	keep   bool   // whether a threshold was recorded in it
	th     sampling.Threshold
	out    []byte // as written
	weight float64
}

// of returns the tracestate to write for one sent with a span kept with keep (nil: not
// weir's sampler's), and the span's weight read from it.
func (m *stateMemo) of(state []byte, keep *Keep) ([]byte, float64) {
	hasTh := keep != nil && keep.HasThreshold
	var th sampling.Threshold
	if hasTh {
		th = keep.Threshold
	}
	if m.ok && hasTh == m.keep && th == m.th && bytes.Equal(state, m.in) {
		return m.out, m.weight
	}
	m.ok, m.keep, m.th = true, hasTh, th
	m.in = append(m.in[:0], state...)
	if hasTh {
		m.out = append(m.out[:0], sampleweight.WithThreshold(string(state), th)...)
	} else {
		m.out = append(m.out[:0], state...)
	}
	m.weight = sampleweight.FromTraceStateBytes(m.out)
	return m.out, m.weight
}

// indexAdd is one span's trace_index addition, held back until Commit.
type indexAdd struct {
	traceID    [16]byte
	start, end uint64
	service    []byte
}

// NewSpanBlock returns an empty block. lowCardinality says whether the server's spans table
// wraps its dictionary-friendly strings in LowCardinality (rollup.Features); loc is the
// server's time zone, which decides the Day of trace_index rows.
func NewSpanBlock(lowCardinality bool, loc *time.Location) *SpanBlock {
	b := &SpanBlock{Index: NewTraceIndexBlock(loc)}
	lc := lowCardinality
	b.service, b.name = newStrCol(lc), newStrCol(lc)
	b.traceState, b.statusMessage = newStrCol(false), newStrCol(false)
	b.attrs, b.resAttrs, b.scopeAttrs = newAttrCols(lc), newAttrCols(lc), newAttrCols(lc)
	b.resSchemaURL, b.scopeName, b.scopeVersion, b.scopeSchema = newStrCol(lc), newStrCol(lc), newStrCol(lc), newStrCol(lc)
	b.evTimeData, b.evNameData, b.evDropData = new(proto.ColUInt64), newStrCol(false), new(proto.ColUInt32)
	ev := newArrays(b.evTimeData, b.evNameData, b.evDropData)
	b.evTime, b.evName, b.evDropped = ev[0], ev[1], ev[2]
	b.evAttrs = newNestedAttrCols()
	b.lkTraceData, b.lkSpanData, b.lkStateData = new(proto.ColFixedStr16), new(proto.ColFixedStr8), newStrCol(false)
	b.lkFlagsData, b.lkDropData = new(proto.ColUInt32), new(proto.ColUInt32)
	lk := newArrays(b.lkTraceData, b.lkSpanData, b.lkStateData, b.lkFlagsData, b.lkDropData)
	b.lkTrace, b.lkSpan, b.lkState, b.lkFlags, b.lkDropped = lk[0], lk[1], lk[2], lk[3], lk[4]
	b.lkAttrs = newNestedAttrCols()

	b.cols = []column{
		{"Timestamp", &b.timestamp}, {"StartTimeUnixNano", &b.start}, {"DurationNano", &b.duration},
		{"ServiceName", b.service}, {"SpanName", b.name}, {"SpanKind", &b.kind},
		{"TraceId", &b.traceID}, {"SpanId", &b.spanID}, {"ParentSpanId", &b.parentID},
		{"TraceState", b.traceState}, {"Flags", &b.flags}, {"StatusCode", &b.statusCode},
		{"StatusMessage", b.statusMessage}, {"SampleWeight", &b.weight},
	}
	b.cols = append(b.cols, b.attrs.columns("SpanAttribute")...)
	b.cols = append(b.cols, column{"DroppedAttributesCount", &b.droppedAttrs})
	b.cols = append(b.cols, b.resAttrs.columns("ResourceAttribute")...)
	b.cols = append(b.cols, column{"ResourceDroppedAttributesCount", &b.resDropped}, column{"ResourceSchemaUrl", b.resSchemaURL},
		column{"ScopeName", b.scopeName}, column{"ScopeVersion", b.scopeVersion})
	b.cols = append(b.cols, b.scopeAttrs.columns("ScopeAttribute")...)
	b.cols = append(b.cols, column{"ScopeDroppedAttributesCount", &b.scopeDropped}, column{"ScopeSchemaUrl", b.scopeSchema},
		column{"Events.TimeUnixNano", b.evTime}, column{"Events.Name", b.evName})
	b.cols = append(b.cols, b.evAttrs.columns("Events.Attribute")...)
	b.cols = append(b.cols, column{"Events.DroppedAttributesCount", b.evDropped}, column{"DroppedEventsCount", &b.droppedEvents},
		column{"Links.TraceId", b.lkTrace}, column{"Links.SpanId", b.lkSpan}, column{"Links.TraceState", b.lkState},
		column{"Links.Flags", b.lkFlags})
	b.cols = append(b.cols, b.lkAttrs.columns("Links.Attribute")...)
	b.cols = append(b.cols, column{"Links.DroppedAttributesCount", b.lkDropped}, column{"DroppedLinksCount", &b.droppedLinks},
		column{"InsertId", &b.insertID})
	return b
}

// Columns lists the block's column names, in the order it encodes them.
func (b *SpanBlock) Columns() []string { return names(b.cols) }

// Rows is how many spans the block holds.
func (b *SpanBlock) Rows() int { return b.rows }

// Bytes estimates the rows' size, for the block size limits.
func (b *SpanBlock) Bytes() int { return b.bytes }

// TimeRange is the earliest and latest Timestamp (Unix seconds) of the rows.
func (b *SpanBlock) TimeRange() (lo, hi uint32) { return timeRange(&b.timestamp) }

// Reset empties the block, keeping its buffers.
func (b *SpanBlock) Reset() {
	resetAll(b.cols)
	b.rows, b.bytes = 0, 0
	b.Index.Reset()
	clear(b.pendingIdx)
	b.pendingIdx, b.marked = b.pendingIdx[:0], false
}

// Mark starts a tentative append of spans by AppendWire, for a caller that finds out whether it wants the spans only
// after appending them (weir's engine reads a request once, storing its spans as it checks
// it, and a request found broken halfway must leave nothing behind). Rollback takes back
// every span appended since; Commit keeps them. Until then the service names given to
// AppendWire must stay as they are.
func (b *SpanBlock) Mark() {
	b.marked, b.markRows, b.markBytes = true, b.rows, b.bytes
	for _, c := range b.cols {
		mark(c.col)
	}
	b.pendingIdx = b.pendingIdx[:0]
}

// Commit keeps the spans appended since Mark.
func (b *SpanBlock) Commit() {
	for i := range b.pendingIdx {
		a := &b.pendingIdx[i]
		b.Index.AddBytes(a.traceID, a.start, a.end, a.service)
		a.service = nil // the caller's buffer may go
	}
	b.pendingIdx = b.pendingIdx[:0]
	b.marked = false
}

// Rollback takes back the spans appended since Mark: the block is as it was then.
func (b *SpanBlock) Rollback() {
	for _, c := range b.cols {
		truncate(c.col, b.markRows)
	}
	b.rows, b.bytes = b.markRows, b.markBytes
	clear(b.pendingIdx)
	b.pendingIdx = b.pendingIdx[:0]
	b.marked = false
}

// Encode appends the block in Native form, every row with insertID, to dst.
func (b *SpanBlock) Encode(dst []byte, insertID uint64) ([]byte, error) {
	return encodeWithID(dst, b.cols, b.rows, &b.insertID, insertID)
}

func id16(b []byte) (id [16]byte) {
	copy(id[:], b) // an empty ID is all zero, as pdata reads it
	return id
}

func id8(b []byte) (id [8]byte) {
	copy(id[:], b)
	return id
}

// AppendWire appends a span read by otlpwire. The caller checked sp.ValidIDs; service is the
// resource's service.name, stored as UnknownService when nil (ServiceNameWire gives it).
// keep is nil for spans not kept by weir's sampler.
func (b *SpanBlock) AppendWire(res *otlpwire.Resource, service []byte, sc *otlpwire.Scope, sp *otlpwire.Span, keep *Keep) {
	if service == nil {
		service = unknownService
	}
	tid := id16(sp.TraceID)
	b.head(sp.Start, sp.End, tid, id8(sp.SpanID), id8(sp.ParentSpanID))
	b.service.appendBytes(service)
	b.name.appendBytes(sp.Name)
	b.kind.Append(uint8(sp.Kind))
	state, weight := b.state.of(sp.TraceState, keep)
	b.traceState.appendBytes(state)
	b.weight.Append(weight)
	b.flags.Append(sp.Flags)
	b.statusCode.Append(uint8(sp.StatusCode))
	b.statusMessage.appendBytes(sp.StatusMessage)
	if b.marked {
		b.pendingIdx = append(b.pendingIdx, indexAdd{tid, sp.Start, sp.End, service})
	} else {
		b.Index.AddBytes(tid, sp.Start, sp.End, service)
	}
	n := 120 + len(service) + len(sp.Name) + len(sp.StatusMessage)

	if keep != nil && keep.ReasonKey != "" {
		n += b.attrsWithReason(sp.Attrs, keep)
	} else {
		n += b.attrs.rowWire(sp.Attrs)
	}
	b.droppedAttrs.Append(sp.DroppedAttrs)
	n += b.resAttrs.rowWire(res.Attrs)
	b.resDropped.Append(res.Dropped)
	b.resSchemaURL.appendBytes(res.SchemaURL)
	b.scopeName.appendBytes(sc.Name)
	b.scopeVersion.appendBytes(sc.Version)
	n += b.scopeAttrs.rowWire(sc.Attrs)
	b.scopeDropped.Append(sc.Dropped)
	b.scopeSchema.appendBytes(sc.SchemaURL)

	for i := range sp.Events {
		ev := &sp.Events[i]
		b.evTimeData.Append(ev.Time)
		b.evNameData.appendBytes(ev.Name)
		b.evDropData.Append(ev.Dropped)
		n += 12 + len(ev.Name) + b.evAttrs.inner.rowWire(sp.EventAttrs[ev.Attrs[0]:ev.Attrs[1]])
	}
	b.endEvents(sp.DroppedEvents)
	for i := range sp.Links {
		l := &sp.Links[i]
		b.lkTraceData.Append(id16(l.TraceID))
		b.lkSpanData.Append(id8(l.SpanID))
		b.lkStateData.appendBytes(l.TraceState)
		b.lkFlagsData.Append(l.Flags)
		b.lkDropData.Append(l.Dropped)
		n += 40 + len(l.TraceState) + b.lkAttrs.inner.rowWire(sp.LinkAttrs[l.Attrs[0]:l.Attrs[1]])
	}
	b.endLinks(sp.DroppedLinks)
	b.rows++
	b.bytes += n
}

// attrsWithReason appends a span's attributes with the reason attribute set as
// pcommon.Map.PutStr sets it, so both fill paths store the same row.
func (b *SpanBlock) attrsWithReason(kvs []otlpwire.KV, keep *Keep) int {
	n, set := 0, false
	for i := range kvs {
		if !set && string(kvs[i].Key) == keep.ReasonKey {
			n += b.attrs.addString(keep.ReasonKey, keep.Reason)
			set = true
			continue
		}
		n += b.attrs.addWire(&kvs[i])
	}
	if !set {
		n += b.attrs.addString(keep.ReasonKey, keep.Reason)
	}
	b.attrs.end()
	return n
}

// AppendPdata appends a span from pdata and reports whether it did: a span with an all-zero
// trace or span ID is skipped (the caller counts it). service is the resource's service.name
// (ServiceNamePdata).
func (b *SpanBlock) AppendPdata(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, sp ptrace.Span, service string) bool {
	tid, sid := sp.TraceID(), sp.SpanID()
	if tid.IsEmpty() || sid.IsEmpty() {
		return false
	}
	start, end := uint64(sp.StartTimestamp()), uint64(sp.EndTimestamp())
	b.head(start, end, [16]byte(tid), [8]byte(sid), [8]byte(sp.ParentSpanID()))
	b.service.appendString(service)
	b.name.appendString(sp.Name())
	b.kind.Append(uint8(sp.Kind()))
	state := sp.TraceState().AsRaw()
	b.traceState.appendString(state)
	b.weight.Append(sampleweight.FromTraceState(state))
	b.flags.Append(sp.Flags())
	b.statusCode.Append(uint8(sp.Status().Code()))
	b.statusMessage.appendString(sp.Status().Message())
	b.Index.Add([16]byte(tid), start, end, service)
	n := 120 + len(service) + len(sp.Name()) + len(sp.Status().Message())

	n += b.attrs.rowPdata(sp.Attributes())
	b.droppedAttrs.Append(sp.DroppedAttributesCount())
	res := rs.Resource()
	n += b.resAttrs.rowPdata(res.Attributes())
	b.resDropped.Append(res.DroppedAttributesCount())
	b.resSchemaURL.appendString(rs.SchemaUrl())
	sc := ss.Scope()
	b.scopeName.appendString(sc.Name())
	b.scopeVersion.appendString(sc.Version())
	n += b.scopeAttrs.rowPdata(sc.Attributes())
	b.scopeDropped.Append(sc.DroppedAttributesCount())
	b.scopeSchema.appendString(ss.SchemaUrl())

	evs := sp.Events()
	for i := 0; i < evs.Len(); i++ {
		ev := evs.At(i)
		b.evTimeData.Append(uint64(ev.Timestamp()))
		b.evNameData.appendString(ev.Name())
		b.evDropData.Append(ev.DroppedAttributesCount())
		n += 12 + len(ev.Name()) + b.evAttrs.inner.rowPdata(ev.Attributes())
	}
	b.endEvents(sp.DroppedEventsCount())
	lks := sp.Links()
	for i := 0; i < lks.Len(); i++ {
		l := lks.At(i)
		b.lkTraceData.Append([16]byte(l.TraceID()))
		b.lkSpanData.Append([8]byte(l.SpanID()))
		b.lkStateData.appendString(l.TraceState().AsRaw())
		b.lkFlagsData.Append(l.Flags())
		b.lkDropData.Append(l.DroppedAttributesCount())
		n += 40 + len(l.TraceState().AsRaw()) + b.lkAttrs.inner.rowPdata(l.Attributes())
	}
	b.endLinks(sp.DroppedLinksCount())
	b.rows++
	b.bytes += n
	return true
}

func (b *SpanBlock) head(start, end uint64, tid [16]byte, sid, parent [8]byte) {
	b.timestamp.Data = append(b.timestamp.Data, proto.DateTime(uint32(start/1e9)))
	b.start.Append(start)
	b.duration.Append(int64(end - start))
	b.traceID.Append(tid)
	b.spanID.Append(sid)
	b.parentID.Append(parent)
}

func (b *SpanBlock) endEvents(dropped uint32) {
	b.evTime.endAt(len(*b.evTimeData))
	b.evAttrs.endRow()
	b.droppedEvents.Append(dropped)
}

func (b *SpanBlock) endLinks(dropped uint32) {
	b.lkTrace.endAt(len(*b.lkTraceData))
	b.lkAttrs.endRow()
	b.droppedLinks.Append(dropped)
}

// ServiceNamePdata is a resource's service.name when it is a string, else UnknownService.
func ServiceNamePdata(attrs pcommon.Map) string {
	if v, ok := attrs.Get("service.name"); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return UnknownService
}

// ServiceNameWire is ServiceNamePdata for a resource read by otlpwire.
func ServiceNameWire(attrs []otlpwire.KV) []byte {
	if s, ok := otlpwire.ServiceName(attrs); ok {
		return s
	}
	return unknownService
}

var unknownService = []byte(UnknownService)

func names(cols []column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.name
	}
	return out
}
