package chblock

import (
	"encoding/binary"
	"fmt"
	"slices"
	"unsafe"

	"github.com/ClickHouse/ch-go/proto"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/weirhq/weir/internal/anyvalue"
	"github.com/weirhq/weir/internal/otlpwire"
)

// column is what a block hands to proto.Block: a named input column that can be reset.
type column struct {
	name string
	col  resettable
}

type resettable interface {
	proto.ColInput
	Reset()
}

// strCol is a String column, or LowCardinality(String) on servers that have it (the DDL
// wraps dictionary-friendly strings then, and Native input must match the column's type).
// Appends copy the bytes: callers' buffers may be reused at once.
//
// A String column is kept in its Native encoding (each value's length as a uvarint, then its
// bytes), so that encoding the block copies it whole: proto.ColStr keeps a position per value
// and encodes them one by one, which was 8% of the CPU of weir's metric path
// (BenchmarkEngine_Metrics). ends has where each value ends in native, for Rollback.
type strCol struct {
	native []byte
	ends   []int32
	// With LowCardinality: the values as strings viewing arena, which holds their bytes
	// until reset (the dictionary's map keys point into it). markArena is arena at the last
	// mark, which truncate goes back to.
	lc        *proto.ColLowCardinality[string]
	arena     []byte
	markArena []byte
}

func newStrCol(lowCardinality bool) *strCol {
	c := &strCol{}
	if lowCardinality {
		// The dictionary column must be given: a zero ColLowCardinality has none, and its
		// Type panics (found by TestSpanBlock_RollbackLeavesTheBlockAsItWas, the first test
		// to encode a LowCardinality block; 18.16 servers never get one).
		c.lc = proto.NewLowCardinality[string](new(proto.ColStr))
	}
	return c
}

func (c *strCol) appendBytes(b []byte) {
	if c.lc == nil {
		c.native = binary.AppendUvarint(c.native, uint64(len(b)))
		c.native = append(c.native, b...)
		c.ends = append(c.ends, int32(len(c.native)))
		return
	}
	c.lc.Append(c.view(b))
}

// repeatLast appends k copies of the last value, which there must be (not LowCardinality).
func (c *strCol) repeatLast(k int) {
	n := len(c.ends)
	c.repeatN(n-1, n, k)
}

// repeatN appends values lo to hi-1 again k times (not LowCardinality). The bytes are copied
// in doubling steps: k copies of a short value cost about log2(k) copies.
func (c *strCol) repeatN(lo, hi, k int) {
	if lo == hi || k <= 0 {
		return
	}
	from := 0
	if lo > 0 {
		from = int(c.ends[lo-1])
	}
	to := int(c.ends[hi-1])
	w, base := to-from, len(c.native)
	c.native = slices.Grow(c.native, k*w)[:base+k*w]
	copy(c.native[base:], c.native[from:to])
	for done := w; done < k*w; done *= 2 {
		copy(c.native[base+done:], c.native[base:base+done])
	}
	c.ends = slices.Grow(c.ends, k*(hi-lo))
	if hi-lo == 1 { // one value (repeatLast): its copies end every w bytes
		n := len(c.ends)
		c.ends = c.ends[:n+k]
		for j := range k {
			c.ends[n+j] = int32(base + (j+1)*w)
		}
		return
	}
	for j := range k {
		shift := int32(base - from + j*w)
		for _, e := range c.ends[lo:hi] {
			c.ends = append(c.ends, e+shift)
		}
	}
}

// appendString is appendBytes for a string: both copy the bytes, so viewing s is safe.
func (c *strCol) appendString(s string) {
	c.appendBytes(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// view copies b into the arena and returns it as a string. When the arena grows, earlier
// views keep the old array alive until reset.
func (c *strCol) view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if cap(c.arena)-len(c.arena) < len(b) {
		c.arena = make([]byte, 0, max(2*cap(c.arena), len(b), 4096))
	}
	start := len(c.arena)
	c.arena = append(c.arena, b...)
	return unsafe.String(&c.arena[start], len(b))
}

func (c *strCol) Type() proto.ColumnType {
	if c.lc != nil {
		return c.lc.Type()
	}
	return proto.ColumnTypeString
}

func (c *strCol) Rows() int {
	if c.lc != nil {
		return c.lc.Rows()
	}
	return len(c.ends)
}

func (c *strCol) EncodeColumn(b *proto.Buffer) {
	if c.lc != nil {
		c.lc.EncodeColumn(b)
		return
	}
	b.Buf = append(b.Buf, c.native...)
}

func (c *strCol) WriteColumn(w *proto.Writer) {
	if c.lc != nil {
		c.lc.WriteColumn(w)
		return
	}
	w.ChainWrite(c.native)
}

// Prepare and EncodeState pass through to LowCardinality, which needs both.
func (c *strCol) Prepare() error {
	if c.lc != nil {
		return c.lc.Prepare()
	}
	return nil
}

func (c *strCol) EncodeState(b *proto.Buffer) {
	if c.lc != nil {
		c.lc.EncodeState(b)
	}
}

func (c *strCol) Reset() {
	c.native, c.ends = c.native[:0], c.ends[:0]
	if c.lc != nil {
		c.lc.Reset()
		// The dictionary's keys that viewed the arena are gone with lc.Reset.
		c.arena = c.arena[:0]
		// The mark, if any, is gone too: its arena may be one the rows now appended
		// reuse, whose bytes truncate must not hand out again.
		c.markArena = nil
	}
}

// mark records the arena for truncate (SpanBlock.Mark): the rows appended since then
// are all the arena holds past it.
func (c *strCol) mark() { c.markArena = c.arena }

// truncate drops c's rows past the first n (SpanBlock.Rollback), n being the rows at the
// last mark; a column with no more rows than that (InsertId, filled when the block is
// encoded) is left as it is.
func (c *strCol) truncate(n int) {
	if c.lc != nil {
		// The arena goes back to where it was at the mark, so that taken back values do not
		// stay in it, uncounted by Bytes. If it grew into new arrays since, the values taken
		// back are cleared to let go of them. lc.Reset drops the dictionary of any Prepare
		// since (Encode builds it anew), whose keys may view the bytes given back.
		if cap(c.arena) != cap(c.markArena) || unsafe.SliceData(c.arena) != unsafe.SliceData(c.markArena) {
			clear(c.lc.Values[n:])
		}
		vals := c.lc.Values[:n]
		c.lc.Reset()
		c.lc.Values = vals
		c.arena = c.markArena
		return
	}
	end := int32(0)
	if n > 0 {
		end = c.ends[n-1]
	}
	c.native, c.ends = c.native[:end], c.ends[:n]
}

// mark is strCol.mark for every column; the others need nothing.
func mark(c resettable) {
	switch c := c.(type) {
	case *strCol:
		c.mark()
	case *arrCol:
		mark(c.data)
	}
}

// truncate is strCol.truncate for every column type a SpanBlock holds.
func truncate(c resettable, n int) {
	if a, ok := c.(*arrCol); ok {
		// Before the guard: the rows of an array whose offsets are shared may be cut already.
		a.truncate(n)
		return
	}
	if c.Rows() <= n {
		return
	}
	switch c := c.(type) {
	case *strCol:
		c.truncate(n)
	case *proto.ColDateTime:
		c.Data = c.Data[:n]
	case *proto.ColUInt64:
		*c = (*c)[:n]
	case *proto.ColInt64:
		*c = (*c)[:n]
	case *proto.ColUInt32:
		*c = (*c)[:n]
	case *proto.ColUInt8:
		*c = (*c)[:n]
	case *proto.ColFloat64:
		*c = (*c)[:n]
	case *proto.ColFixedStr16:
		*c = (*c)[:n]
	case *proto.ColFixedStr8:
		*c = (*c)[:n]
	default:
		// A new column type in a block that is rolled back: a bug caught by the tests.
		panic(fmt.Sprintf("chblock: no truncate for %T", c))
	}
}

// arrCol is Array(T) over any column: the caller appends elements to data and closes each
// row with end.
//
// Arrays filled in step (an attribute map's keys, values and types; a Nested column's
// fields) share one offsets column (newArrays), so that a row is closed once for all of them
// (endAt): closing each on its own was 3.6 % of weir's CPU on the metric path (a profile at
// 50k points/s), where a point closes rows in 21 arrays.
type arrCol struct {
	offsets *proto.ColUInt64
	data    resettable
}

func newArr(data resettable) *arrCol { return &arrCol{offsets: new(proto.ColUInt64), data: data} }

// newArrays returns an Array column over each of datas, all with the same offsets: their
// rows are closed together, through any one of them (endAt).
func newArrays(datas ...resettable) []*arrCol {
	off := new(proto.ColUInt64)
	cols := make([]*arrCol, len(datas))
	for i, d := range datas {
		cols[i] = &arrCol{offsets: off, data: d}
	}
	return cols
}

// end closes the current row after the elements appended since the last end.
func (c *arrCol) end() { c.endAt(c.data.Rows()) }

// endAt closes the current row at n elements in all: for arrays sharing their offsets, the
// row of every one of them, which the caller has filled to n.
func (c *arrCol) endAt(n int) { *c.offsets = append(*c.offsets, uint64(n)) }

// truncate drops the rows past the first n. Arrays sharing their offsets each truncate their
// data: the offsets may have been cut already, by another of them.
func (c *arrCol) truncate(n int) {
	if n > len(*c.offsets) {
		return
	}
	*c.offsets = (*c.offsets)[:n]
	elems := 0
	if n > 0 {
		elems = int((*c.offsets)[n-1])
	}
	truncate(c.data, elems)
}

func (c *arrCol) Type() proto.ColumnType { return proto.ColumnTypeArray.Sub(c.data.Type()) }
func (c *arrCol) Rows() int              { return len(*c.offsets) }
func (c *arrCol) EncodeColumn(b *proto.Buffer) {
	c.offsets.EncodeColumn(b)
	c.data.EncodeColumn(b)
}
func (c *arrCol) WriteColumn(w *proto.Writer) {
	c.offsets.WriteColumn(w)
	c.data.WriteColumn(w)
}
func (c *arrCol) Reset() {
	c.offsets.Reset()
	c.data.Reset()
}
func (c *arrCol) Prepare() error {
	if p, ok := c.data.(proto.Preparable); ok {
		return p.Prepare()
	}
	return nil
}
func (c *arrCol) EncodeState(b *proto.Buffer) {
	if s, ok := c.data.(proto.StateEncoder); ok {
		s.EncodeState(b)
	}
}

// attrCols is one attribute map per row as three parallel array columns: keys, values in
// their column text (internal/anyvalue) and type codes.
type attrCols struct {
	keys, vals, types *arrCol
	k, v              *strCol
	t                 *proto.ColUInt8
	text              []byte // scratch for a value's text
}

// newAttrCols makes the columns; keys are LowCardinality when lcKeys (the DDL's choice).
func newAttrCols(lcKeys bool) *attrCols {
	c := &attrCols{k: newStrCol(lcKeys), v: newStrCol(false), t: new(proto.ColUInt8)}
	a := newArrays(c.k, c.v, c.t)
	c.keys, c.vals, c.types = a[0], a[1], a[2]
	return c
}

func (c *attrCols) columns(prefix string) []column {
	return []column{{prefix + "Keys", c.keys}, {prefix + "Values", c.vals}, {prefix + "Types", c.types}}
}

// addWire appends one attribute and returns the bytes it adds.
func (c *attrCols) addWire(kv *otlpwire.KV) int {
	c.k.appendBytes(kv.Key)
	c.t.Append(kv.Value.Type)
	if kv.Value.Type == anyvalue.TypeString {
		// Its text is itself: no copy through c.text.
		c.v.appendBytes(kv.Value.Bytes)
		return len(kv.Key) + len(kv.Value.Bytes) + 1 + 16
	}
	c.text = otlpwire.AppendText(c.text[:0], kv.Value)
	c.v.appendBytes(c.text)
	return len(kv.Key) + len(c.text) + 1 + 16
}

// addString appends one string attribute.
func (c *attrCols) addString(key, value string) int {
	c.k.appendString(key)
	c.v.appendString(value)
	c.t.Append(anyvalue.TypeString)
	return len(key) + len(value) + 1 + 16
}

// addPdata appends one attribute from pdata.
func (c *attrCols) addPdata(k string, v pcommon.Value) int {
	c.k.appendString(k)
	if v.Type() == pcommon.ValueTypeStr {
		c.v.appendString(v.Str())
		c.t.Append(anyvalue.TypeString)
		return len(k) + len(v.Str()) + 1 + 16
	}
	c.text = anyvalue.Append(c.text[:0], v)
	c.v.appendBytes(c.text)
	c.t.Append(anyvalue.TypeOf(v))
	return len(k) + len(c.text) + 1 + 16
}

// end closes the current row.
func (c *attrCols) end() {
	c.keys.endAt(len(*c.t))
}

// rowWire appends a whole row from wire attributes.
func (c *attrCols) rowWire(kvs []otlpwire.KV) int {
	n := 0
	for i := range kvs {
		n += c.addWire(&kvs[i])
	}
	c.end()
	return n
}

// rowMemo is which resource or scope (MetricContext's number for it) an attrCols' last row
// came from, and the row's estimated size.
type rowMemo struct {
	seq uint64
	n   int
}

// rowWireOf appends the row of the attributes of resource or scope seq (0: unnumbered): a
// copy of the last row when that was seq's too, which spares reading and writing each
// attribute again on every point of a resource. It returns the row's estimated size.
func (c *attrCols) rowWireOf(kvs []otlpwire.KV, seq uint64, m *rowMemo) int {
	if seq == 0 || seq != m.seq || !c.repeatRow() {
		m.seq, m.n = seq, c.rowWire(kvs)
	}
	return m.n
}

// repeatRow appends a copy of the last row; false when it cannot (no row yet, or
// LowCardinality keys).
func (c *attrCols) repeatRow() bool {
	if c.keys.Rows() == 0 || c.k.lc != nil {
		return false
	}
	c.repeatRows(1)
	return true
}

// repeatRows appends k copies of the last row, which there must be (not LowCardinality keys).
func (c *attrCols) repeatRows(k int) {
	off := *c.keys.offsets
	rows := len(off)
	lo, hi := 0, int(off[rows-1])
	if rows > 1 {
		lo = int(off[rows-2])
	}
	c.k.repeatN(lo, hi, k)
	c.v.repeatN(lo, hi, k)
	for range k {
		*c.t = append(*c.t, (*c.t)[lo:hi]...)
	}
	for j := 1; j <= k; j++ {
		c.keys.endAt(hi + j*(hi-lo))
	}
}

// repeatLast appends k copies of the last value, which there must be.
func repeatLast[S ~[]E, E any](c *S, k int) {
	v := (*c)[len(*c)-1]
	*c = slices.Grow(*c, k)
	for range k {
		*c = append(*c, v)
	}
}

// rowPdata appends a whole row from a pdata map.
func (c *attrCols) rowPdata(m pcommon.Map) int {
	n := 0
	m.Range(func(k string, v pcommon.Value) bool {
		n += c.addPdata(k, v)
		return true
	})
	c.end()
	return n
}

// nestedAttrCols is an attribute map per element of a Nested column (events, links,
// exemplars): Array(Array(String)) and Array(Array(UInt8)). The inner attrCols closes an
// element; endRow closes the row.
type nestedAttrCols struct {
	inner             *attrCols
	keys, vals, types *arrCol
}

func newNestedAttrCols() *nestedAttrCols {
	in := newAttrCols(false)
	a := newArrays(in.keys, in.vals, in.types)
	return &nestedAttrCols{inner: in, keys: a[0], vals: a[1], types: a[2]}
}

func (c *nestedAttrCols) columns(prefix string) []column {
	return []column{{prefix + "Keys", c.keys}, {prefix + "Values", c.vals}, {prefix + "Types", c.types}}
}

func (c *nestedAttrCols) endRow() {
	c.keys.endAt(c.inner.types.Rows())
}

// rawCol is a column whose values arrive already in Native form (aggregate function states).
type rawCol struct {
	typ  proto.ColumnType
	data []byte
	rows int
}

func (c *rawCol) Type() proto.ColumnType       { return c.typ }
func (c *rawCol) Rows() int                    { return c.rows }
func (c *rawCol) EncodeColumn(b *proto.Buffer) { b.Buf = append(b.Buf, c.data...) }
func (c *rawCol) WriteColumn(w *proto.Writer)  { w.ChainWrite(c.data) }
func (c *rawCol) Reset()                       { c.data, c.rows = c.data[:0], 0 }

// encode writes cols as one Native block (protocol version 0: no per-column flag byte, which
// ClickHouse 18.16 refuses) appended to dst.
//
// A column whose every row holds its type's default (empty arrays, empty strings, zeros of a
// UInt32) is left out: ClickHouse fills a block's missing columns with their defaults, which
// are the types' (InsertId's DEFAULT 0, the only one declared, is its type's too; the test
// below checks the schema), so the rows stored are the same, and the block is smaller to
// encode, compress, journal, send and parse. Exemplars, metric metadata, scope attributes,
// dropped counts and schema URLs are empty in most OTLP traffic: a gauge block of weirload's
// shape is 84 KB instead of 154 (TestEncode_LeavesOutDefaults).
func encode(dst []byte, cols []column, rows int) ([]byte, error) {
	in := make([]proto.InputColumn, 0, len(cols))
	for _, c := range cols {
		if !defaultsOnly(c.col) {
			in = append(in, proto.InputColumn{Name: c.name, Data: c.col})
		}
	}
	buf := proto.Buffer{Buf: dst}
	if err := (proto.Block{Columns: len(in), Rows: rows}).EncodeRawBlock(&buf, 0, in); err != nil {
		return dst, err
	}
	return buf.Buf, nil
}

// defaultsOnly says whether every row of c holds its type's default, for the kinds of column
// where that is cheap to tell. A column with no rows is not: a block of no rows is never
// encoded, and the column lists must not depend on it.
func defaultsOnly(c resettable) bool {
	switch c := c.(type) {
	case *arrCol:
		off := *c.offsets
		return len(off) > 0 && off[len(off)-1] == 0
	case *strCol:
		if c.lc != nil {
			for _, v := range c.lc.Values {
				if v != "" {
					return false
				}
			}
			return len(c.lc.Values) > 0
		}
		// A row of an empty string is its length, one zero byte.
		return len(c.ends) > 0 && len(c.native) == len(c.ends)
	case *proto.ColUInt32:
		for _, v := range *c {
			if v != 0 {
				return false
			}
		}
		return len(*c) > 0
	}
	return false
}

func resetAll(cols []column) {
	for _, c := range cols {
		c.col.Reset()
	}
}

// timeRange is the earliest and latest second of a DateTime column (0, 0 when empty): the
// sender narrows its "is this block already in?" query to the partitions they fall in.
func timeRange(c *proto.ColDateTime) (lo, hi uint32) {
	if len(c.Data) == 0 {
		return 0, 0
	}
	lo, hi = uint32(c.Data[0]), uint32(c.Data[0])
	for _, t := range c.Data[1:] {
		lo, hi = min(lo, uint32(t)), max(hi, uint32(t))
	}
	return lo, hi
}
