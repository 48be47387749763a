package clickhouseexporter

import (
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/weirhq/weir/internal/anyvalue"
)

// arena holds the text of non-string attribute values for one block. Strings handed out
// point into it and stay valid until reset; the driver copies them when a column is
// appended, so reset after the block is sent is safe.
type arena struct{ buf []byte }

func (a *arena) reset() { a.buf = a.buf[:0] }

// str appends v's text and returns it as a string without copying. When buf grows, earlier
// strings keep pointing at the old array, which stays alive while they are referenced.
func (a *arena) str(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	start := len(a.buf)
	a.buf = anyvalue.Append(a.buf, v)
	if len(a.buf) == start {
		return ""
	}
	return unsafe.String(&a.buf[start], len(a.buf)-start)
}

// id copies an ID into the arena and returns a view of it for a FixedString column.
func (a *arena) id(b []byte) []byte {
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[start:len(a.buf):len(a.buf)]
}

// attrCols is one attribute map as three parallel array columns. Rows are views into flat
// backing slices, so a block of any size allocates only when the flat slices grow.
type attrCols struct {
	keys  [][]string
	vals  [][]string
	types [][]uint8

	flatK []string
	flatV []string
	flatT []uint8
}

func (c *attrCols) reset() {
	c.keys, c.vals, c.types = c.keys[:0], c.vals[:0], c.types[:0]
	c.flatK, c.flatV, c.flatT = c.flatK[:0], c.flatV[:0], c.flatT[:0]
}

// appendMap adds one row holding m, and returns the bytes it adds to the block.
func (c *attrCols) appendMap(m pcommon.Map, a *arena) int {
	start := len(c.flatK)
	k, v, t, n := appendAttrs(c.flatK, c.flatV, c.flatT, m, a)
	c.flatK, c.flatV, c.flatT = k, v, t
	end := len(k)
	c.keys = append(c.keys, k[start:end:end])
	c.vals = append(c.vals, v[start:end:end])
	c.types = append(c.types, t[start:end:end])
	return n
}

// appendAttrs appends m's keys, values and types to the three flat slices.
func appendAttrs(ks, vs []string, ts []uint8, m pcommon.Map, a *arena) ([]string, []string, []uint8, int) {
	n := 0
	m.Range(func(k string, v pcommon.Value) bool {
		s := a.str(v)
		ks = append(ks, k)
		vs = append(vs, s)
		ts = append(ts, anyvalue.TypeOf(v))
		n += len(k) + len(s) + 1 + 16
		return true
	})
	return ks, vs, ts, n
}

// nestedAttrCols is an attribute map per element of a Nested column (events, links,
// exemplars): Array(Array(String)) and Array(Array(UInt8)).
type nestedAttrCols struct {
	keys  [][][]string
	vals  [][][]string
	types [][][]uint8

	inner attrCols // the per-element rows, flattened across the block
}

func (c *nestedAttrCols) reset() {
	c.keys, c.vals, c.types = c.keys[:0], c.vals[:0], c.types[:0]
	c.inner.reset()
}

// beginRow marks where this row's elements start in inner.
func (c *nestedAttrCols) beginRow() int { return len(c.inner.keys) }

// endRow closes the row opened at start.
func (c *nestedAttrCols) endRow(start int) {
	end := len(c.inner.keys)
	c.keys = append(c.keys, c.inner.keys[start:end:end])
	c.vals = append(c.vals, c.inner.vals[start:end:end])
	c.types = append(c.types, c.inner.types[start:end:end])
}

// spanIDBytes and traceIDBytes avoid an escape of the ID arrays to the heap.
func traceIDBytes(a *arena, id pcommon.TraceID) []byte { return a.id(id[:]) }
func spanIDBytes(a *arena, id pcommon.SpanID) []byte   { return a.id(id[:]) }
