package rollup

import (
	"time"
)

// rowTable is a staged table whose rows are Go structs R (SpendRow, AllocationRow): every
// column of the table, in its order, and where each one takes its value from a row. The
// columns' names and portable types are pinned to the table's .sql file by a test.
type rowTable[R any] struct {
	stagedTable // columns: the names of cols, in order
	cols        []rowColumn[R]
}

func newRowTable[R any](t stagedTable, cols ...[]rowColumn[R]) *rowTable[R] {
	rt := &rowTable[R]{stagedTable: t}
	for _, cs := range cols {
		rt.cols = append(rt.cols, cs...)
	}
	for _, c := range rt.cols {
		rt.columns = append(rt.columns, c.name)
	}
	return rt
}

// stagedRow is a row type with a rowTable of its own: its table method returns it.
type stagedRow[R any] interface {
	table() *rowTable[R]
}

// rowColumn is one column of a rowTable: its name, its type on the portable core (the .sql
// file's {{lc}} rendered as String), and a constructor of the buffer that gathers its
// values from rows.
type rowColumn[R any] struct {
	name, typ string
	buffer    func() buffer[R]
}

// buffer gathers one column's values, block by block.
type buffer[R any] interface {
	// add appends r's value and returns its size as ClickHouse receives it.
	add(r *R) int
	// reset empties the buffer, keeping its memory but not the strings it pointed to.
	reset()
	// values are the column's values, to append to an INSERT; importID is the import's ID.
	values(importID string) any
}

func timeColumn[R any](name string, get func(*R) *time.Time) rowColumn[R] {
	return rowColumn[R]{name, "DateTime('UTC')", func() buffer[R] { return &timeBuffer[R]{get: get} }}
}

// dayColumn is a Date column holding the UTC day of the time get returns.
func dayColumn[R any](name string, get func(*R) *time.Time) rowColumn[R] {
	return rowColumn[R]{name, "Date", func() buffer[R] { return &timeBuffer[R]{get: get, day: true} }}
}

func stringColumn[R any](name string, get func(*R) *string) rowColumn[R] {
	return rowColumn[R]{name, "String", func() buffer[R] { return &stringBuffer[R]{get: get} }}
}

func float64Column[R any](name string, get func(*R) *float64) rowColumn[R] {
	return rowColumn[R]{name, "Float64", func() buffer[R] { return &numberBuffer[R, float64]{get: get} }}
}

func uint64Column[R any](name string, get func(*R) *uint64) rowColumn[R] {
	return rowColumn[R]{name, "UInt64", func() buffer[R] { return &numberBuffer[R, uint64]{get: get} }}
}

// boolColumn is a UInt8 column, 1 for true.
func boolColumn[R any](name string, get func(*R) *bool) rowColumn[R] {
	return rowColumn[R]{name, "UInt8", func() buffer[R] { return &boolBuffer[R]{get: get} }}
}

// pairColumns are a key/value map as two parallel Array(String) columns. get returns the
// row's keys and values, which should have the same length: keys without a value (a
// caller's bug) are dropped, so the arrays always have the same length.
func pairColumns[R any](keys, values string, get func(*R) (k, v []string)) []rowColumn[R] {
	return []rowColumn[R]{
		{keys, "Array(String)", func() buffer[R] { return &arrayBuffer[R]{get: get} }},
		{values, "Array(String)", func() buffer[R] { return &arrayBuffer[R]{get: get, vals: true} }},
	}
}

// importIDColumn is the String column holding the ID of the import that wrote the row.
func importIDColumn[R any](name string) rowColumn[R] {
	return rowColumn[R]{name, "String", func() buffer[R] { return &importIDBuffer[R]{} }}
}

// Block is a columnar block of rows (SpendBlock, AllocationBlock) on its way to ClickHouse.
// Append copies a row's values (string contents are shared, not copied), so the caller may
// reuse the row and its slices right away. Reset empties the block and keeps its memory
// for the next one. A Block is not safe for concurrent use.
type Block[R stagedRow[R]] struct {
	bufs  []buffer[R] // one per column of R's table
	rows  int
	bytes int
}

// Append adds one row.
func (b *Block[R]) Append(r *R) {
	if b.bufs == nil {
		var zero R
		for _, c := range zero.table().cols {
			b.bufs = append(b.bufs, c.buffer())
		}
	}
	for _, buf := range b.bufs {
		b.bytes += buf.add(r)
	}
	b.rows++
}

// Len is the number of rows in the block.
func (b *Block[R]) Len() int { return b.rows }

// Bytes estimates the block's size as ClickHouse receives it, to bound blocks in memory.
func (b *Block[R]) Bytes() int { return b.bytes }

// Reset empties the block, keeping its memory but not the strings it pointed to.
func (b *Block[R]) Reset() {
	for _, buf := range b.bufs {
		buf.reset()
	}
	b.rows, b.bytes = 0, 0
}

// columns are the block's columns in the table's order, its rows stamped with importID.
func (b *Block[R]) columns(importID string) []any {
	cols := make([]any, len(b.bufs))
	for i, buf := range b.bufs {
		cols[i] = buf.values(importID)
	}
	return cols
}

type timeBuffer[R any] struct {
	get func(*R) *time.Time
	day bool // store the UTC day (a Date)
	v   []time.Time
}

func (c *timeBuffer[R]) add(r *R) int {
	t := *c.get(r)
	if c.day {
		t = utcDay(t)
	}
	c.v = append(c.v, t)
	return 4
}

func (c *timeBuffer[R]) reset()            { c.v = c.v[:0] }
func (c *timeBuffer[R]) values(string) any { return c.v }

type stringBuffer[R any] struct {
	get func(*R) *string
	v   []string
}

func (c *stringBuffer[R]) add(r *R) int {
	s := *c.get(r)
	c.v = append(c.v, s)
	return len(s)
}

func (c *stringBuffer[R]) reset()            { c.v = clearStrings(c.v) }
func (c *stringBuffer[R]) values(string) any { return c.v }

type numberBuffer[R any, T float64 | uint64] struct {
	get func(*R) *T
	v   []T
}

func (c *numberBuffer[R, T]) add(r *R) int {
	c.v = append(c.v, *c.get(r))
	return 8
}

func (c *numberBuffer[R, T]) reset()            { c.v = c.v[:0] }
func (c *numberBuffer[R, T]) values(string) any { return c.v }

type boolBuffer[R any] struct {
	get func(*R) *bool
	v   []uint8
}

func (c *boolBuffer[R]) add(r *R) int {
	var u uint8
	if *c.get(r) {
		u = 1
	}
	c.v = append(c.v, u)
	return 1
}

func (c *boolBuffer[R]) reset()            { c.v = c.v[:0] }
func (c *boolBuffer[R]) values(string) any { return c.v }

// arrayBuffer is the keys (or the values) of a pair of Array(String) columns. Rows are
// views into one flat backing slice, so a block allocates only when that grows.
type arrayBuffer[R any] struct {
	get  func(*R) (k, v []string)
	vals bool // the values, not the keys
	rows [][]string
	flat []string
}

func (c *arrayBuffer[R]) add(r *R) int {
	keys, vals := c.get(r)
	n := min(len(keys), len(vals))
	src := keys[:n]
	if c.vals {
		src = vals[:n]
	}
	s := len(c.flat)
	c.flat = append(c.flat, src...)
	e := len(c.flat)
	c.rows = append(c.rows, c.flat[s:e:e])
	bytes := 8
	for _, x := range src {
		bytes += len(x) + 1
	}
	return bytes
}

func (c *arrayBuffer[R]) reset() {
	clear(c.rows)
	c.rows, c.flat = c.rows[:0], clearStrings(c.flat)
}

func (c *arrayBuffer[R]) values(string) any { return c.rows }

type importIDBuffer[R any] struct {
	n   int
	ids []string
}

func (c *importIDBuffer[R]) add(*R) int { c.n++; return 0 }
func (c *importIDBuffer[R]) reset()     { c.n, c.ids = 0, clearStrings(c.ids) }

func (c *importIDBuffer[R]) values(importID string) any {
	c.ids = clearStrings(c.ids)
	for range c.n {
		c.ids = append(c.ids, importID)
	}
	return c.ids
}

// clearStrings empties s, zeroing what it held so the strings (and the input lines they
// are part of) can be freed before the slice is filled again.
func clearStrings(s []string) []string {
	clear(s)
	return s[:0]
}
