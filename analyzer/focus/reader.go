package focus

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
)

// ErrNotFOCUS is returned by NewReader for input whose header lacks a column every FOCUS
// export has.
var ErrNotFOCUS = errors.New("not a FOCUS cost and usage export")

// ErrRecordTooLong ends the input at a CSV record (the header, or a row with its quoted line
// breaks) longer than 16 MiB or with more than 100,000 fields.
var ErrRecordTooLong = errors.New("a CSV record is longer than 16 MiB or has more than 100,000 fields")

// maxRecordBytes bounds one CSV record. encoding/csv holds a whole record in memory, several
// times over, so without a bound one endless line would take all of it: a gzip body of half
// a MiB inflates to a 512 MiB line, which took 2 GiB. No real FOCUS row comes near it.
const maxRecordBytes = 16 << 20

// maxRecordFields bounds the fields of one record (counted as the commas in it, quoted ones
// too). encoding/csv keeps about 40 bytes of bookkeeping per field, twice over while it
// grows: a header of 16 MiB of commas, which a 16 KiB gzip body inflates to, took 1.3 GiB.
// FOCUS has about 50 columns; a Tags value of a thousand tags has a few thousand commas.
const maxRecordFields = 100_000

// RowError is a row that was skipped: Reader.Read returns it and goes on with the next row.
type RowError struct {
	Line   int64  // the line the row starts on; the header is line 1
	Reason string // what is wrong, naming the column
}

func (e *RowError) Error() string { return "line " + strconv.FormatInt(e.Line, 10) + ": " + e.Reason }

// Reader reads FOCUS rows from a CSV stream, plain or gzip. Its memory does not grow with
// the input: records, the Row and its slices are reused from row to row. A Reader is not
// safe for concurrent use.
type Reader struct {
	csv     *csv.Reader
	limit   *recordLimit
	gz      *gzip.Reader
	header  []string
	fields  []int // per column of columns: its header index, or -1
	extras  []int // header indexes kept as extra columns
	version string
	row     Row
	tags    tagParser
	times   timeParser
}

// NewReader reads the header of r (gzip-compressed or not) and maps its columns. It fails
// with ErrNotFOCUS when a mandatory column is missing. Close releases the decompressor;
// it does not close r.
func NewReader(r io.Reader) (*Reader, error) {
	in, gz, err := uncompress(r)
	if err != nil {
		return nil, err
	}
	limit := &recordLimit{r: in}
	cr := csv.NewReader(limit)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1 // a wrong count is a bad row, checked in Read
	header, err := cr.Read()
	if err != nil {
		if gz != nil {
			_ = gz.Close()
		}
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the input is empty", ErrNotFOCUS)
		}
		return nil, fmt.Errorf("read header: %w", err)
	}
	rd := &Reader{csv: cr, limit: limit, gz: gz, header: make([]string, len(header))}
	index := map[string]int{} // lower-case column ID -> header index of its first occurrence
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		h = strings.TrimSpace(h)
		rd.header[i] = h // copied: the record is reused
		if _, dup := index[strings.ToLower(h)]; !dup {
			index[strings.ToLower(h)] = i
		}
	}
	var missing []string
	for _, c := range headerRequired {
		if _, ok := index[strings.ToLower(c)]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		rd.Close()
		return nil, fmt.Errorf("%w: the header lacks %s", ErrNotFOCUS, strings.Join(missing, ", "))
	}
	used := make([]bool, len(header))
	rd.fields = make([]int, len(columns))
	for ci, c := range columns {
		rd.fields[ci] = -1
		for _, name := range c.names {
			if hi, ok := index[strings.ToLower(name)]; ok {
				rd.fields[ci], used[hi] = hi, true
				break
			}
		}
	}
	for i := range header {
		if !used[i] {
			rd.extras = append(rd.extras, i)
		}
	}
	rd.version = detectVersion(index)
	return rd, nil
}

// Header is the header's column names, trimmed.
func (r *Reader) Header() []string { return r.header }

// Version is the newest FOCUS version (1.0 to 1.3) whose new columns the header has, or
// 0.5 when it has none. It is a lower bound: providers may leave out columns a version
// made conditional.
func (r *Reader) Version() string { return r.version }

// Read returns the next row. The Row and its slices belong to the Reader and are
// overwritten by the next Read; strings stay valid. A row that cannot be read yields a
// *RowError, after which Read can be called again; io.EOF ends the input; any other error
// (an I/O or decompression failure, ErrRecordTooLong) ends it too.
func (r *Reader) Read() (*Row, error) {
	r.limit.start = r.csv.InputOffset()
	rec, err := r.csv.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) && isCSVSyntax(pe.Err) {
			return nil, &RowError{Line: int64(pe.StartLine), Reason: "malformed CSV: " + pe.Err.Error()}
		}
		return nil, err
	}
	line, _ := r.csv.FieldPos(0)
	if len(rec) != len(r.header) {
		return nil, &RowError{Line: int64(line), Reason: fmt.Sprintf("has %d columns, the header has %d", len(rec), len(r.header))}
	}
	row := &r.row
	// Start from a zero Row, keeping the slices' memory.
	*row = Row{LineNumber: uint64(line), TagKeys: row.TagKeys[:0], TagValues: row.TagValues[:0],
		ExtraKeys: row.ExtraKeys[:0], ExtraValues: row.ExtraValues[:0]}
	for ci, hi := range r.fields {
		if hi < 0 {
			continue
		}
		c := &columns[ci]
		v := value(rec[hi])
		if v == "" {
			if c.required {
				return nil, &RowError{Line: int64(line), Reason: r.header[hi] + " is empty"}
			}
			continue
		}
		switch c.kind {
		case kindString:
			*c.str(row) = v
		case kindNumber:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, &RowError{Line: int64(line), Reason: fmt.Sprintf("%s %q is not a number", r.header[hi], clip(v))}
			}
			*c.num(row) = f
		case kindTime:
			t, ok := r.times.parse(v)
			if !ok {
				return nil, &RowError{Line: int64(line), Reason: fmt.Sprintf("%s %q is not a date-time between 1970 and 2105", r.header[hi], clip(v))}
			}
			*c.tim(row) = t
		case kindTags:
			keys, vals, err := r.tags.parse(row.TagKeys, row.TagValues, v)
			if err != nil {
				return nil, &RowError{Line: int64(line), Reason: fmt.Sprintf("%s %q is not a JSON object: %v", r.header[hi], clip(v), err)}
			}
			row.TagKeys, row.TagValues = keys, vals
		}
	}
	for _, hi := range r.extras {
		if v := value(rec[hi]); v != "" {
			row.ExtraKeys = append(row.ExtraKeys, r.header[hi])
			row.ExtraValues = append(row.ExtraValues, v)
		}
	}
	return row, nil
}

// Close releases the gzip decompressor, if any. It does not close the underlying reader.
func (r *Reader) Close() error {
	if r.gz != nil {
		return r.gz.Close()
	}
	return nil
}

// isCSVSyntax reports whether err is a malformed record, after which the CSV reader can go
// on with the next one.
func isCSVSyntax(err error) bool {
	return errors.Is(err, csv.ErrBareQuote) || errors.Is(err, csv.ErrQuote) || errors.Is(err, csv.ErrFieldCount)
}

// value maps FOCUS's null spellings to the empty string.
func value(s string) string {
	if s == "NULL" || s == "null" {
		return ""
	}
	return s
}

// clip shortens a value quoted in an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// timeLayouts are the date-time spellings FOCUS exports use, with a zone first.
var timeLayouts = []string{
	time.RFC3339,                // 2024-09-01T00:00:00Z, with fractional seconds too
	"2006-01-02 15:04:05Z07:00", // 2024-09-01 00:00:00+00:00
	"2006-01-02T15:04:05Z0700",  // 2024-09-01T00:00:00+0000
	"2006-01-02 15:04:05Z0700",
	"2006-01-02 15:04:05 Z07:00",
	"2006-01-02 15:04:05 UTC", // the literal UTC; other abbreviations are ambiguous
	"2006-01-02 15:04:05",     // no zone: UTC
	"2006-01-02T15:04:05",     // no zone: UTC
	"2006-01-02 15:04",        // no zone: UTC
	"2006-01-02T15:04Z07:00",  // minutes only
	"2006-01-02",              // a date: its midnight UTC
	"2006-01-02Z07:00",        // a date with a zone
}

// timeParser parses FOCUS date-times, trying first the layout that worked last: a file
// spells all its times alike, and a failed time.Parse costs an allocation.
type timeParser struct{ last int }

// parse parses v into UTC. Times without a zone are UTC. ok is false when v is no
// date-time or lies outside DateTime's range.
func (p *timeParser) parse(v string) (time.Time, bool) {
	if t, err := time.Parse(timeLayouts[p.last], v); err == nil {
		return inRange(t)
	}
	for i, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			p.last = i
			return inRange(t)
		}
	}
	return time.Time{}, false
}

func inRange(t time.Time) (time.Time, bool) {
	t = t.UTC()
	if t.Unix() < 0 || t.Year() > 2105 {
		return time.Time{}, false
	}
	return t, true
}

// parseTime parses one date-time, as Reader does.
func parseTime(v string) (time.Time, bool) {
	var p timeParser
	return p.parse(v)
}

// recordLimit fails reads once the CSV reader has taken more than maxRecordBytes past start,
// the offset at which its current record began (Reader sets it before each record). The
// CSV reader's own buffer reads at most 4 KiB ahead.
type recordLimit struct {
	r     io.Reader
	read  int64 // bytes handed to the CSV reader so far
	start int64
	// commas handed over since commasFrom: the current record's, give or take the CSV
	// reader's read-ahead, which is far below maxRecordFields.
	commas, commasFrom int64
}

func (l *recordLimit) Read(p []byte) (int, error) {
	if l.start != l.commasFrom {
		l.commas, l.commasFrom = 0, l.start
	}
	if l.read-l.start > maxRecordBytes || l.commas > maxRecordFields {
		return 0, ErrRecordTooLong
	}
	n, err := l.r.Read(p)
	l.read += int64(n)
	l.commas += int64(bytes.Count(p[:n], comma))
	return n, err
}

var comma = []byte{','}

// uncompress returns r's content, gunzipped when it starts with gzip's magic bytes.
func uncompress(r io.Reader) (io.Reader, *gzip.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("read: %w", err)
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return bufio.NewReaderSize(gz, 64<<10), gz, nil
	}
	return br, nil, nil
}
