package chblock

import (
	"github.com/ClickHouse/ch-go/proto"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/internal/red"
)

// latencyCols are the columns of a mergeable latency distribution, shared by the RED and
// edge tables: buckets stored sparsely (index, count), zeros left out, so sumMap adds them
// across rows.
type latencyCols struct {
	count, zero     proto.ColUInt64
	sum             proto.ColFloat64
	indexes, counts *arrCol
	idxData         *proto.ColInt32
	cntData         *proto.ColUInt64
}

func newLatencyCols() *latencyCols {
	l := &latencyCols{idxData: new(proto.ColInt32), cntData: new(proto.ColUInt64)}
	a := newArrays(l.idxData, l.cntData)
	l.indexes, l.counts = a[0], a[1]
	return l
}

func (l *latencyCols) columns(count string) []column {
	return []column{{count, &l.count}, {"DurationSumNano", &l.sum}, {"ZeroCount", &l.zero},
		{"BucketIndexes", l.indexes}, {"BucketCounts", l.counts}}
}

// add appends one distribution and returns the bytes it adds.
func (l *latencyCols) add(count, zero uint64, sum float64, offset int32, counts []uint64) int {
	l.count.Append(count)
	l.sum.Append(sum)
	l.zero.Append(zero)
	n := 0
	for i, c := range counts {
		if c > 0 {
			l.idxData.Append(offset + int32(i))
			l.cntData.Append(c)
			n++
		}
	}
	l.indexes.end()
	return 24 + 12*n
}

func (l *latencyCols) addPdata(p pmetric.ExponentialHistogramDataPoint) int {
	return l.add(p.Count(), p.ZeroCount(), p.Sum(), p.Positive().Offset(), p.Positive().BucketCounts().AsRaw())
}

// REDBlock is one INSERT worth of red_1m: requests, errors and latency per service, span
// name, kind, status and dimensions, one row per series and minute window.
type REDBlock struct {
	rows, bytes int
	cols        []column

	timestamp     proto.ColDateTime
	service, name *strCol
	kind, status  proto.ColUInt8
	dimKeys       *arrCol
	dimVals       *arrCol
	dimK, dimV    *strCol
	lat           *latencyCols
	insertID      proto.ColUInt64
	text          []byte
}

// NewREDBlock returns an empty block; lowCardinality as for NewSpanBlock.
func NewREDBlock(lowCardinality bool) *REDBlock {
	b := &REDBlock{service: newStrCol(lowCardinality), name: newStrCol(lowCardinality),
		dimK: newStrCol(lowCardinality), dimV: newStrCol(false), lat: newLatencyCols()}
	dim := newArrays(b.dimK, b.dimV)
	b.dimKeys, b.dimVals = dim[0], dim[1]
	b.cols = []column{{"Timestamp", &b.timestamp}, {"ServiceName", b.service}, {"SpanName", b.name},
		{"SpanKind", &b.kind}, {"StatusCode", &b.status}, {"DimKeys", b.dimKeys}, {"DimValues", b.dimVals}}
	b.cols = append(b.cols, b.lat.columns("Requests")...)
	b.cols = append(b.cols, column{"InsertId", &b.insertID})
	return b
}

// Append adds one row of the RED aggregator.
func (b *REDBlock) Append(r *red.Row) {
	b.timestamp.Data = append(b.timestamp.Data, proto.DateTime(uint32(r.Window/1e9)))
	b.service.appendString(r.Service)
	b.name.appendString(r.Name)
	b.kind.Append(r.Kind)
	b.status.Append(r.Status)
	n := 32 + len(r.Service) + len(r.Name)
	for i, k := range r.DimKeys {
		b.dimK.appendString(k)
		b.dimV.appendString(r.DimVals[i])
		n += len(k) + len(r.DimVals[i])
	}
	b.dimKeys.end()
	h := r.Hist
	b.bytes += n + b.lat.add(h.Count, h.ZeroCount, h.Sum, h.Offset, h.Counts)
	b.rows++
}

// AppendPdata adds a point of model.REDMetric (as the weir_red connector emits it) of a
// resource whose service.name is service.
func (b *REDBlock) AppendPdata(service string, p pmetric.ExponentialHistogramDataPoint) {
	b.timestamp.Data = append(b.timestamp.Data, proto.DateTime(uint32(uint64(p.StartTimestamp())/1e9)))
	b.service.appendString(service)
	name, kind, status := "", int64(0), int64(0)
	n := 32 + len(service)
	p.Attributes().Range(func(k string, v pcommon.Value) bool {
		switch k {
		case model.AttrSpanName:
			name = v.Str()
		case model.AttrSpanKind:
			kind = v.Int()
		case model.AttrStatusCode:
			status = v.Int()
		default:
			b.dimK.appendString(k)
			b.text = append(b.text[:0], v.AsString()...)
			b.dimV.appendBytes(b.text)
			n += len(k) + len(b.text)
		}
		return true
	})
	b.dimKeys.end()
	b.name.appendString(name)
	b.kind.Append(uint8(kind))
	b.status.Append(uint8(status))
	b.bytes += n + len(name) + b.lat.addPdata(p)
	b.rows++
}

// Columns, Rows, Bytes, Reset and Encode as for SpanBlock.
func (b *REDBlock) Columns() []string { return names(b.cols) }
func (b *REDBlock) Rows() int         { return b.rows }
func (b *REDBlock) Bytes() int        { return b.bytes }

// TimeRange is the earliest and latest Timestamp (Unix seconds) of the rows.
func (b *REDBlock) TimeRange() (lo, hi uint32) { return timeRange(&b.timestamp) }
func (b *REDBlock) Reset() {
	resetAll(b.cols)
	b.rows, b.bytes = 0, 0
}
func (b *REDBlock) Encode(dst []byte, insertID uint64) ([]byte, error) {
	return encodeWithID(dst, b.cols, b.rows, &b.insertID, insertID)
}

// EdgeBlock is one INSERT worth of edges_1m: calls per service-graph edge and minute.
type EdgeBlock struct {
	rows, bytes          int
	cols                 []column
	timestamp            proto.ColDateTime
	client, server, conn *strCol
	failed               proto.ColUInt8
	lat                  *latencyCols
	insertID             proto.ColUInt64
}

// NewEdgeBlock returns an empty block; lowCardinality as for NewSpanBlock.
func NewEdgeBlock(lowCardinality bool) *EdgeBlock {
	lc := lowCardinality
	b := &EdgeBlock{client: newStrCol(lc), server: newStrCol(lc), conn: newStrCol(lc), lat: newLatencyCols()}
	b.cols = []column{{"Timestamp", &b.timestamp}, {"Client", b.client}, {"Server", b.server},
		{"ConnectionType", b.conn}, {"Failed", &b.failed}}
	b.cols = append(b.cols, b.lat.columns("Calls")...)
	b.cols = append(b.cols, column{"InsertId", &b.insertID})
	return b
}

// Append adds one edge row of the RED aggregator.
func (b *EdgeBlock) Append(e *red.EdgeRow) {
	b.timestamp.Data = append(b.timestamp.Data, proto.DateTime(uint32(e.Window/1e9)))
	b.client.appendString(e.Client)
	b.server.appendString(e.Server)
	b.conn.appendString(e.Conn)
	b.failed.Append(boolByte(e.Failed))
	h := e.Hist
	b.bytes += 48 + b.lat.add(h.Count, h.ZeroCount, h.Sum, h.Offset, h.Counts)
	b.rows++
}

// AppendPdata adds a point of model.EdgeMetric.
func (b *EdgeBlock) AppendPdata(p pmetric.ExponentialHistogramDataPoint) {
	a := p.Attributes()
	b.timestamp.Data = append(b.timestamp.Data, proto.DateTime(uint32(uint64(p.StartTimestamp())/1e9)))
	str := func(k string) string {
		if v, ok := a.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	b.client.appendString(str(model.AttrClient))
	b.server.appendString(str(model.AttrServer))
	b.conn.appendString(str(model.AttrConnectionType))
	failed := false
	if v, ok := a.Get(model.AttrFailed); ok && v.Bool() {
		failed = true
	}
	b.failed.Append(boolByte(failed))
	b.bytes += 48 + b.lat.addPdata(p)
	b.rows++
}

func (b *EdgeBlock) Columns() []string { return names(b.cols) }
func (b *EdgeBlock) Rows() int         { return b.rows }
func (b *EdgeBlock) Bytes() int        { return b.bytes }

// TimeRange is the earliest and latest Timestamp (Unix seconds) of the rows.
func (b *EdgeBlock) TimeRange() (lo, hi uint32) { return timeRange(&b.timestamp) }
func (b *EdgeBlock) Reset() {
	resetAll(b.cols)
	b.rows, b.bytes = 0, 0
}
func (b *EdgeBlock) Encode(dst []byte, insertID uint64) ([]byte, error) {
	return encodeWithID(dst, b.cols, b.rows, &b.insertID, insertID)
}

func boolByte(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}

// encodeWithID fills the InsertId column and encodes.
func encodeWithID(dst []byte, cols []column, rows int, ids *proto.ColUInt64, insertID uint64) ([]byte, error) {
	ids.Reset()
	for i := 0; i < rows; i++ {
		ids.Append(insertID)
	}
	return encode(dst, cols, rows)
}
