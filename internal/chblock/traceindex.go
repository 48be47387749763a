package chblock

import (
	"encoding/binary"
	"hash/maphash"
	"time"

	"github.com/ClickHouse/ch-go/proto"
)

// traceDay is the key of one trace_index row in a block. It holds no pointers, so the map
// of a large block costs the garbage collector nothing to scan.
type traceDay struct {
	id  [16]byte
	day uint16
}

// serviceNode is one service of a row: rows keep their distinct services as linked lists
// in one flat slice, newest first, their names in one byte arena.
type serviceNode struct {
	off, n int32 // the name in TraceIndexBlock.names
	next   int32 // index of the next node of the same row; -1 ends the list
}

// svcScanMax is how many services a row's list may hold before its services are indexed
// too: up to it, the list is scanned, which for the few services of most traces is faster
// than hashing the name; past it, a span of a trace of n services would walk n names.
const svcScanMax = 16

// svcKey is a service of an indexed row in TraceIndexBlock.svcAt: the row and the name's
// hash, plus one for each name of the row found at a key it tried (a hash collision).
type svcKey struct {
	row int32
	h   uint64
}

// TraceIndexBlock aggregates spans into trace_index rows: one row per trace and day (the
// span's Timestamp day in the server's time zone, which is the spans partition it lands
// in), with the first start, the last end, the distinct services and the number of spans.
// It encodes the rows as aggregate function states (min, max, groupUniqArray, count), the
// form trace_index stores, so the server inserts them without aggregating anything.
//
// The states merge: a trace's rows from several blocks add up in every reader. min, max and
// groupUniqArray do not mind a block sent twice; SpanCount would count it twice.
type TraceIndexBlock struct {
	loc *time.Location

	// The day last computed: seconds [dayLo, dayHi) are day number day.
	dayLo, dayHi int64
	day          uint16

	rowOf   map[traceDay]int32
	last    traceDay // key of the row Add touched last: spans of a trace tend to be adjacent
	lastRow int32

	ids     []byte // 16 bytes per row
	days    []uint16
	start   []uint64
	end     []uint64
	spans   []uint64
	svcHead []int32
	svcN    []int32 // the number of services of each row
	svc     []serviceNode
	// The services of rows of more than svcScanMax, by row and name hash, to their node;
	// a name whose key holds another name goes to the next free hash value.
	svcAt     map[svcKey]int32
	seed      maphash.Seed
	names     []byte
	spanTotal int

	tid   proto.ColFixedStr16
	date  proto.ColUInt16
	minS  rawCol
	maxE  rawCol
	uniqS rawCol
	cnt   rawCol
	cols  []column
}

// NewTraceIndexBlock returns an empty block whose Day is computed in loc, the ClickHouse
// server's time zone; nil means UTC.
func NewTraceIndexBlock(loc *time.Location) *TraceIndexBlock {
	if loc == nil {
		loc = time.UTC
	}
	b := &TraceIndexBlock{loc: loc, rowOf: map[traceDay]int32{}, lastRow: -1, seed: maphash.MakeSeed()}
	b.minS.typ = "AggregateFunction(min, UInt64)"
	b.maxE.typ = "AggregateFunction(max, UInt64)"
	b.uniqS.typ = "AggregateFunction(groupUniqArray, String)"
	b.cnt.typ = "AggregateFunction(count)"
	b.cols = []column{{"TraceId", &b.tid}, {"Day", &dateCol{&b.date}}, {"StartUnixNano", &b.minS},
		{"EndUnixNano", &b.maxE}, {"Services", &b.uniqS}, {"SpanCount", &b.cnt}}
	return b
}

// Add counts one span of trace traceID that starts and ends at the given Unix nanoseconds
// and belongs to service.
func (b *TraceIndexBlock) Add(traceID [16]byte, startUnixNano, endUnixNano uint64, service string) {
	b.add(traceID, startUnixNano, endUnixNano, service, nil)
}

// AddBytes is Add for a service name held as bytes; they are copied.
func (b *TraceIndexBlock) AddBytes(traceID [16]byte, startUnixNano, endUnixNano uint64, service []byte) {
	b.add(traceID, startUnixNano, endUnixNano, "", service)
}

func (b *TraceIndexBlock) add(traceID [16]byte, startUnixNano, endUnixNano uint64, s string, sb []byte) {
	// The day of the span's Timestamp as the spans table stores it, 32-bit seconds, which
	// wrap in 2106: the partition the span lands in (SpanBlock.head).
	k := traceDay{id: traceID, day: b.dayOf(int64(uint32(startUnixNano / 1e9)))}
	r := b.lastRow
	if r < 0 || k != b.last {
		var ok bool
		if r, ok = b.rowOf[k]; !ok {
			r = int32(len(b.days))
			b.rowOf[k] = r
			b.ids = append(b.ids, traceID[:]...)
			b.days = append(b.days, k.day)
			b.start = append(b.start, startUnixNano)
			b.end = append(b.end, endUnixNano)
			b.spans = append(b.spans, 0)
			b.svcHead = append(b.svcHead, -1)
			b.svcN = append(b.svcN, 0)
		}
		b.last, b.lastRow = k, r
	}
	b.start[r] = min(b.start[r], startUnixNano)
	b.end[r] = max(b.end[r], endUnixNano)
	b.spans[r]++
	b.spanTotal++
	if b.svcN[r] > svcScanMax {
		b.addIndexed(r, s, sb)
		return
	}
	for i := b.svcHead[r]; i >= 0; i = b.svc[i].next {
		if b.isName(i, s, sb) {
			return
		}
	}
	b.newService(r, s, sb)
	if b.svcN[r] > svcScanMax {
		// The row outgrows the scan: index the services it has.
		if b.svcAt == nil {
			b.svcAt = map[svcKey]int32{}
		}
		for i := b.svcHead[r]; i >= 0; i = b.svc[i].next {
			nd := b.svc[i]
			k := svcKey{r, maphash.Bytes(b.seed, b.names[nd.off:nd.off+nd.n])}
			for b.hasKey(k) { // the names differ: a collision
				k.h++
			}
			b.svcAt[k] = i
		}
	}
}

// addIndexed is add's service for row r, indexed in svcAt.
func (b *TraceIndexBlock) addIndexed(r int32, s string, sb []byte) {
	k := svcKey{row: r}
	if sb != nil {
		k.h = maphash.Bytes(b.seed, sb)
	} else {
		k.h = b.hashString(s)
	}
	for {
		i, ok := b.svcAt[k]
		if !ok {
			break
		}
		if b.isName(i, s, sb) {
			return
		}
		k.h++ // another name of the row with the same hash
	}
	b.newService(r, s, sb)
	b.svcAt[k] = int32(len(b.svc) - 1)
}

func (b *TraceIndexBlock) hashString(s string) uint64 { return maphash.String(b.seed, s) }

func (b *TraceIndexBlock) hasKey(k svcKey) bool {
	_, ok := b.svcAt[k]
	return ok
}

// isName reports whether node i's name is s or sb, whichever add was given.
func (b *TraceIndexBlock) isName(i int32, s string, sb []byte) bool {
	nd := b.svc[i]
	if int(nd.n) != len(s)+len(sb) {
		return false
	}
	name := b.names[nd.off : nd.off+nd.n]
	if sb != nil {
		return string(name) == string(sb)
	}
	return string(name) == s
}

// newService adds the name s or sb to row r's services.
func (b *TraceIndexBlock) newService(r int32, s string, sb []byte) {
	off := int32(len(b.names))
	b.names = append(b.names, s...)
	b.names = append(b.names, sb...)
	b.svc = append(b.svc, serviceNode{off: off, n: int32(len(s) + len(sb)), next: b.svcHead[r]})
	b.svcHead[r] = int32(len(b.svc) - 1)
	b.svcN[r]++
}

// dayOf is the server-local day number of Unix second sec, computed once per day seen.
func (b *TraceIndexBlock) dayOf(sec int64) uint16 {
	if sec >= b.dayLo && sec < b.dayHi {
		return b.day
	}
	y, m, d := time.Unix(sec, 0).In(b.loc).Date()
	b.dayLo = time.Date(y, m, d, 0, 0, 0, 0, b.loc).Unix()
	b.dayHi = time.Date(y, m, d+1, 0, 0, 0, 0, b.loc).Unix()
	b.day = uint16(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / (24 * 3600))
	return b.day
}

// Rows is the number of trace_index rows in the block.
func (b *TraceIndexBlock) Rows() int { return len(b.days) }

// Spans is the number of spans added since Reset.
func (b *TraceIndexBlock) Spans() int { return b.spanTotal }

// Columns lists the block's column names, in the order it encodes them.
func (b *TraceIndexBlock) Columns() []string { return names(b.cols) }

// Reset empties the block and keeps its memory.
func (b *TraceIndexBlock) Reset() {
	clear(b.rowOf)
	b.lastRow = -1
	b.ids, b.days, b.start, b.end, b.spans, b.svcHead = b.ids[:0], b.days[:0], b.start[:0], b.end[:0], b.spans[:0], b.svcHead[:0]
	b.svcN, b.svc, b.names = b.svcN[:0], b.svc[:0], b.names[:0]
	if len(b.svcAt) > 0 {
		clear(b.svcAt)
	}
	b.spanTotal = 0
}

// Encode appends the rows in Native form to dst. trace_index has no InsertId: its states
// merge per trace, so a row's column would not survive a merge.
func (b *TraceIndexBlock) Encode(dst []byte) ([]byte, error) {
	resetAll(b.cols)
	for i, day := range b.days {
		b.tid.Append([16]byte(b.ids[i*16 : i*16+16]))
		b.date.Append(day)
		b.minS.data = appendMinMax(b.minS.data, b.start[i])
		b.maxE.data = appendMinMax(b.maxE.data, b.end[i])
		// groupUniqArray's state: the number of values, then each as a length and bytes.
		b.uniqS.data = binary.AppendUvarint(b.uniqS.data, uint64(b.svcN[i]))
		for n := b.svcHead[i]; n >= 0; n = b.svc[n].next {
			nd := b.svc[n]
			b.uniqS.data = binary.AppendUvarint(b.uniqS.data, uint64(nd.n))
			b.uniqS.data = append(b.uniqS.data, b.names[nd.off:nd.off+nd.n]...)
		}
		b.cnt.data = binary.AppendUvarint(b.cnt.data, b.spans[i]) // count's state
	}
	rows := len(b.days)
	b.minS.rows, b.maxE.rows, b.uniqS.rows, b.cnt.rows = rows, rows, rows, rows
	return encode(dst, b.cols, rows)
}

// appendMinMax appends a min or max state of UInt64: a byte saying it has a value, then the
// value, little-endian.
func appendMinMax(dst []byte, v uint64) []byte {
	dst = append(dst, 1)
	return binary.LittleEndian.AppendUint64(dst, v)
}

// dateCol is a Date column from day numbers.
type dateCol struct{ *proto.ColUInt16 }

func (dateCol) Type() proto.ColumnType { return proto.ColumnTypeDate }
