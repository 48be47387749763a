package rollup

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// traceIndexInput is the external table trace_index_insert.sql reads: its name and columns,
// in the order TraceIndexBlock appends them.
const traceIndexInput = "trace_index_block"

var traceIndexInputColumns = []struct {
	name string
	typ  column.Type
}{
	{"TraceId", "FixedString(16)"},
	{"Day", "UInt16"}, // days since 1970-01-01 in the server's time zone, as Date stores them
	{"StartUnixNano", "UInt64"},
	{"EndUnixNano", "UInt64"},
	{"Services", "Array(String)"},
	{"SpanCount", "UInt64"},
}

// traceDay is the key of one trace_index row in a block. It holds no pointers, so the map
// of a large block costs the garbage collector nothing to scan.
type traceDay struct {
	id  [16]byte
	day uint16
}

// serviceNode is one service of a row: rows keep their distinct services as linked lists
// in one flat slice, newest first, so a block allocates only when that slice grows.
type serviceNode struct {
	name string
	next int32 // index of the next node of the same row; -1 ends the list
}

// svcScanMax is how many services a row may have before they are kept in a set as well: up
// to it the row's list is scanned, faster than hashing for the few services of most traces;
// past it, each span of a trace of n services would compare n names.
const svcScanMax = 16

// rowService is a service of one row, in TraceIndexBlock.svcSet.
type rowService struct {
	row  int32
	name string
}

// TraceIndexBlock aggregates spans into trace_index rows: one row per trace and day (the
// span's Timestamp day in the server's time zone, which is the spans partition it lands
// in), with the first start, the last end, the distinct services and the number of spans.
// Add takes one span at a time and allocates only while the block's buffers grow; Reset
// keeps them for the next block. Service strings are kept, not copied, until Reset.
// A TraceIndexBlock is not safe for concurrent use.
type TraceIndexBlock struct {
	loc *time.Location

	// The day last computed: seconds [dayLo, dayHi) are day number day.
	dayLo, dayHi int64
	day          uint16

	rowOf   map[traceDay]int32
	last    traceDay // key of the row Add touched last: spans of a trace tend to be adjacent
	lastRow int32

	ids       []byte // 16 bytes per row
	days      []uint16
	start     []uint64
	end       []uint64
	spans     []uint64
	svcHead   []int32
	svcN      []int32 // the number of services of each row
	svc       []serviceNode
	svcSet    map[rowService]struct{} // the services of rows of more than svcScanMax
	spanTotal int
	svcBytes  int

	// The external table the rows are sent in, and the buffers its columns are built from;
	// rebuilt by table, reused across blocks.
	input    *ext.Table
	idViews  [][]byte
	services [][]string
	flat     []string
}

// NewTraceIndexBlock returns an empty block whose Day is computed in loc, the ClickHouse
// server's time zone (driver.Conn's ServerVersion().Timezone); nil means UTC.
func NewTraceIndexBlock(loc *time.Location) *TraceIndexBlock {
	if loc == nil {
		loc = time.UTC
	}
	return &TraceIndexBlock{loc: loc, rowOf: map[traceDay]int32{}, lastRow: -1}
}

// Add counts one span of trace traceID that starts and ends at the given Unix nanoseconds
// and belongs to service.
func (b *TraceIndexBlock) Add(traceID [16]byte, startUnixNano, endUnixNano uint64, service string) {
	// The day of the Timestamp the spans table stores: DateTime is 32-bit seconds, which wrap
	// in 2106.
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
		if _, ok := b.svcSet[rowService{r, service}]; ok {
			return
		}
		b.svcSet[rowService{r, service}] = struct{}{}
	} else {
		for n := b.svcHead[r]; n >= 0; n = b.svc[n].next {
			if b.svc[n].name == service {
				return
			}
		}
	}
	b.svc = append(b.svc, serviceNode{name: service, next: b.svcHead[r]})
	b.svcHead[r] = int32(len(b.svc) - 1)
	b.svcBytes += len(service)
	b.svcN[r]++
	if b.svcN[r] == svcScanMax+1 {
		// The row outgrows the scan: its services go into the set.
		if b.svcSet == nil {
			b.svcSet = map[rowService]struct{}{}
		}
		for n := b.svcHead[r]; n >= 0; n = b.svc[n].next {
			b.svcSet[rowService{r, b.svc[n].name}] = struct{}{}
		}
	}
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

// Len is the number of trace_index rows in the block.
func (b *TraceIndexBlock) Len() int { return len(b.days) }

// Spans is the number of spans added since Reset.
func (b *TraceIndexBlock) Spans() int { return b.spanTotal }

// Bytes estimates the block's uncompressed size as sent: fixed-width columns plus the
// service names and their array offsets.
func (b *TraceIndexBlock) Bytes() int { return len(b.days)*(16+2+8+8+8+8) + b.svcBytes + len(b.svc)*8 }

// Reset empties the block and keeps its memory.
func (b *TraceIndexBlock) Reset() {
	clear(b.rowOf)
	b.lastRow = -1
	b.ids, b.days, b.start, b.end, b.spans, b.svcHead = b.ids[:0], b.days[:0], b.start[:0], b.end[:0], b.spans[:0], b.svcHead[:0]
	b.svcN = b.svcN[:0]
	clear(b.svc) // drop the service strings, which point into the caller's data
	b.svc = b.svc[:0]
	clear(b.svcSet)
	b.spanTotal, b.svcBytes = 0, 0
}

// table fills the external table with the block's rows, column by column.
func (b *TraceIndexBlock) table() (*ext.Table, error) {
	if b.input == nil {
		opts := make([]func(*ext.Table) error, len(traceIndexInputColumns))
		for i, c := range traceIndexInputColumns {
			opts[i] = ext.Column(c.name, c.typ)
		}
		t, err := ext.NewTable(traceIndexInput, opts...)
		if err != nil {
			return nil, fmt.Errorf("trace index input table: %w", err)
		}
		b.input = t
	}
	b.input.Block().Reset()
	b.idViews = b.idViews[:0]
	for i := range b.days {
		b.idViews = append(b.idViews, b.ids[i*16:i*16+16:i*16+16])
	}
	b.flat, b.services = b.flat[:0], b.services[:0]
	for _, head := range b.svcHead {
		from := len(b.flat)
		for n := head; n >= 0; n = b.svc[n].next {
			b.flat = append(b.flat, b.svc[n].name)
		}
		b.services = append(b.services, b.flat[from:len(b.flat):len(b.flat)])
	}
	cols := []any{b.idViews, b.days, b.start, b.end, b.services, b.spans}
	for i, c := range b.input.Block().Columns {
		if _, err := c.Append(cols[i]); err != nil {
			return nil, fmt.Errorf("column %s: %w", traceIndexInputColumns[i].name, err)
		}
	}
	return b.input, nil
}

// TraceIndexWriter inserts TraceIndexBlocks into one database's trace_index. Each Write is
// one INSERT ... SELECT that aggregates the block's rows into states on the server, so it
// makes one part per block, like the spans insert it follows. It is safe for concurrent
// use; the blocks are not.
type TraceIndexWriter struct {
	conn     driver.Conn
	database string
	query    string
}

// NewTraceIndexWriter returns a writer into database's trace_index. Every reader of
// trace_index merges rows per TraceId, so rows written for the same trace by several
// blocks, writers or processes add up.
func NewTraceIndexWriter(conn driver.Conn, database string) (*TraceIndexWriter, error) {
	if err := ValidateDatabase(database); err != nil {
		return nil, err
	}
	st, err := render("trace_index_insert", Options{Database: database})
	if err != nil {
		return nil, err
	}
	return &TraceIndexWriter{conn: conn, database: database, query: st.SQL}, nil
}

// Write inserts b's rows. The block is only read; the caller resets it afterwards. An
// empty block is not sent.
func (w *TraceIndexWriter) Write(ctx context.Context, b *TraceIndexBlock) error {
	if b.Len() == 0 {
		return nil
	}
	t, err := b.table()
	if err != nil {
		return err
	}
	if err := w.conn.Exec(clickhouse.Context(ctx, clickhouse.WithExternalTable(t)), w.query); err != nil {
		return fmt.Errorf("insert %d rows into %s.%s: %w", b.Len(), w.database, TableTraceIndex, err)
	}
	return nil
}
