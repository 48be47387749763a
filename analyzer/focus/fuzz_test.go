package focus

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
)

// fuzzHeader is a small header with every mandatory column, Tags and an extra column, so
// mutations reach the rows rather than the header check.
const fuzzHeader = "BilledCost,BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,BillingAccountId,Tags,x_Team\n"

// fuzzSeeds are FOCUS inputs for FuzzReader: the header and first rows of the real sample
// bill, and small files with each kind of bad row. The fuzzer also gets their gzip.
func fuzzSeeds(f *testing.F) [][]byte {
	data, err := os.ReadFile(fixture)
	if err != nil {
		f.Fatal(err)
	}
	// The header and the first three rows (the second has Tags); no field of these spans
	// lines.
	n := 0
	for i := 0; i < 4; i++ {
		n += bytes.IndexByte(data[n:], '\n') + 1
	}
	seeds := [][]byte{
		data[:n],
		[]byte(fuzzHeader +
			"1.5,2024-09-01,2024-10-01,2024-09-18 22:00:00,2024-09-18 23:00:00,acct,\"{\"\"app\"\": \"\"shop\"\", \"\"n\"\": 3}\",data\n" +
			"NaN,2024-09-01,2024-10-01,2024-09-18T22:00:00Z,2024-09-18T23:00:00Z,acct,NULL,\n" +
			"2,2024-09-01,2024-10-01,1969-12-31,2024-09-18 23:00:00+02:00,acct,{},\n" +
			"3,2024-09-01,2024-10-01,2024-09-18 22:00,2024-09-18 23:00,acct,\"{\"\"a\"\":}\",x\n" +
			"4,2024-09-01,2024-10-01,2024-09-18,2024-09-19,acct\n" +
			"5,2024-09-01,2024-10-01,2024-09-18,2024-09-19,acct,\"{}\",\"multi\nline\"\n" +
			"6,2024-09-01,2024-10-01,2024-09-18,2024-09-19,acct,{},bare \"quote\n" +
			",2024-09-01,2024-10-01,2024-09-18,2024-09-19,acct,{},\n" +
			"7,2024-09-01,2024-10-01,2024-09-18,2024-09-19,acct,{},\"unterminated\n"),
		[]byte("\ufeff" + strings.ReplaceAll(fuzzHeader, "\n", "\r\n") +
			"-2.5e-3,2024-09-01 00:00:00 UTC,2024-10-01T00:00:00+0000,2024-09-18 22:00:00Z,2024-09-18 23:00:00-07:00,,\"{\"\"k\\\"\"q\"\": [1, {\"\"y\"\": \"\"}\"\"}], \"\"e\"\": \"\"\\u00e9\"\"}\",NULL\r\n"),
		// 0.5 column IDs, no Tags.
		[]byte("BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,BilledCost,AmortizedCost,BillingAccountId,ChargeType,UsageQuantity,Region\n" +
			"2023-06-01 00:00:00,2023-07-01 00:00:00,2023-06-02 00:00:00,2023-06-03 00:00:00,3,2.5,a,Usage,7,eu-west-1\n"),
	}
	for _, s := range seeds[:len(seeds):len(seeds)] {
		gz := gzipBytes(f, s)
		seeds = append(seeds, gz, gz[:len(gz)/2])
	}
	return seeds
}

func gzipBytes(tb testing.TB, data []byte) []byte {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// outcome is what Reader made of one CSV record.
type outcome struct {
	line   int64
	bad    string // the RowError's reason; "" for a row
	cost   float64
	extras []string // key=value
	tags   []string // key=value
}

// readOutcomes reads data to its end with Reader: the outcome of every record, and the
// error that ended the input (nil for io.EOF).
func readOutcomes(t *testing.T, data []byte) (header []string, out []outcome, end error) {
	rd, err := NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	defer rd.Close()
	for {
		r, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return rd.Header(), out, nil
		}
		var re *RowError
		if errors.As(err, &re) {
			if re.Reason == "" {
				t.Fatalf("line %d: a row error without a reason", re.Line)
			}
			out = append(out, outcome{line: re.Line, bad: re.Reason})
			continue
		}
		if err != nil {
			return rd.Header(), out, err
		}
		checkRow(t, r)
		o := outcome{line: int64(r.LineNumber), cost: r.BilledCost}
		for i, k := range r.ExtraKeys {
			o.extras = append(o.extras, k+"="+r.ExtraValues[i])
		}
		for i, k := range r.TagKeys {
			o.tags = append(o.tags, k+"="+r.TagValues[i])
		}
		out = append(out, o)
	}
}

// checkRow checks what every row Reader returns must satisfy.
func checkRow(t *testing.T, r *Row) {
	t.Helper()
	if len(r.TagKeys) != len(r.TagValues) || len(r.ExtraKeys) != len(r.ExtraValues) {
		t.Fatalf("line %d: %d tag keys for %d values, %d extra keys for %d values", r.LineNumber,
			len(r.TagKeys), len(r.TagValues), len(r.ExtraKeys), len(r.ExtraValues))
	}
	for _, tm := range []time.Time{r.BillingPeriodStart, r.BillingPeriodEnd, r.ChargePeriodStart, r.ChargePeriodEnd} {
		if tm.IsZero() || tm.Location() != time.UTC || tm.Unix() < 0 || tm.Year() > 2105 {
			t.Fatalf("line %d: time %v of a required column is not a UTC time in 1970 to 2105", r.LineNumber, tm)
		}
	}
	for _, x := range []float64{r.BilledCost, r.EffectiveCost, r.ListCost, r.ContractedCost, r.ConsumedQuantity, r.PricingQuantity} {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			t.Fatalf("line %d: a number is not finite: %v", r.LineNumber, x)
		}
	}
	for _, v := range r.ExtraValues {
		if v == "" || v == "NULL" || v == "null" {
			t.Fatalf("line %d: empty extra value %q kept", r.LineNumber, v)
		}
	}
}

// record is one record of encoding/csv's own reading of the input.
type record struct {
	line   int64
	fields []string // nil for a malformed record
}

// csvRecords reads data with encoding/csv alone, as the reference for which records there
// are and where they start; longest is the length in bytes of the longest.
func csvRecords(data []byte) (out []record, longest int64) {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	for {
		start := cr.InputOffset()
		rec, err := cr.Read()
		longest = max(longest, cr.InputOffset()-start)
		if errors.Is(err, io.EOF) {
			return out, longest
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			out = append(out, record{line: int64(pe.StartLine)})
			continue
		}
		if err != nil {
			panic(err) // reading a bytes.Reader
		}
		line, _ := cr.FieldPos(0)
		out = append(out, record{line: int64(line), fields: rec})
	}
}

// gunzip decompresses data with the standard library's gzip, a second implementation; ok
// is false when data is larger than max once decompressed.
func gunzip(data []byte, max int64) (plain []byte, err error, ok bool) {
	zr, err := stdgzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err, true
	}
	plain, err = io.ReadAll(io.LimitReader(zr, max+1))
	if int64(len(plain)) > max {
		return nil, nil, false
	}
	return plain, err, true
}

func isGzip(data []byte) bool { return len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b }

// FuzzReader reads arbitrary bytes as a FOCUS export, plain or gzip. Reader must not panic
// or hang; every CSV record after the header must come back, in order, either as a row or
// as a RowError with the line it starts on, as encoding/csv reads the same bytes; rows hold
// finite numbers and UTC times in range, the BilledCost the record has and its non-empty
// extra columns; a gzip body that does not decompress must end in an error, never io.EOF;
// a plain input must read the same once gzipped; and only a record past 16 MiB (a gzip
// bomb) ends the input early, with ErrRecordTooLong.
func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		header, got, end := readOutcomes(t, data)

		plain := data
		if isGzip(data) {
			p, gzErr, ok := gunzip(data, 64<<20)
			if !ok {
				return // a bomb: the reference would not fit
			}
			if gzErr != nil {
				if end == nil {
					t.Fatalf("the gzip body is broken (%v) but Reader read it to the end", gzErr)
				}
				return
			}
			plain = p
		} else if header != nil || len(got) > 0 {
			// The gzip path reads exactly what the plain one does.
			gh, gg, ge := readOutcomes(t, gzipBytes(t, data))
			if !slices.Equal(gh, header) || !equalOutcomes(gg, got) || (ge == nil) != (end == nil) {
				t.Fatalf("gzipped, the input reads differently:\nplain: %v %v %v\ngzip:  %v %v %v", header, got, end, gh, gg, ge)
			}
		}

		if errors.Is(end, ErrRecordTooLong) {
			if len(plain) <= maxRecordBytes && bytes.Count(plain, []byte{','}) <= maxRecordFields {
				t.Fatalf("%d bytes and %d commas in all, yet a record is too long", len(plain), bytes.Count(plain, []byte{','}))
			}
			return
		}
		want, longest := csvRecords(plain)
		if longest > maxRecordBytes+4<<10 {
			t.Fatalf("a record of %d bytes was read whole: %v", longest, end)
		}
		if header == nil {
			// NewReader failed: the input must have no well-formed header with the
			// mandatory columns.
			if end == nil {
				t.Fatal("NewReader failed without an error")
			}
			if len(want) > 0 && want[0].fields != nil && hasMandatory(want[0].fields) {
				t.Fatalf("NewReader refused a header with every mandatory column: %v", end)
			}
			return
		}
		if end != nil {
			t.Fatalf("reading a well-formed input ended with %v", end)
		}
		if len(want) == 0 || want[0].fields == nil || !hasMandatory(want[0].fields) {
			t.Fatalf("NewReader accepted a header encoding/csv reads as %v", want)
		}
		rows := want[1:]
		if len(got) != len(rows) {
			t.Fatalf("%d records after the header, Reader returned %d rows and row errors:\n%v\n%v", len(rows), len(got), rows, got)
		}
		costAt := columnIndex(header, "BilledCost")
		for i, o := range got {
			w := rows[i]
			if o.line != w.line {
				t.Fatalf("record %d starts on line %d, Reader says %d", i+1, w.line, o.line)
			}
			switch {
			case w.fields == nil:
				if !strings.HasPrefix(o.bad, "malformed CSV") {
					t.Fatalf("line %d: a malformed record came back as %+v", o.line, o)
				}
			case len(w.fields) != len(header):
				if o.bad == "" {
					t.Fatalf("line %d: a record of %d columns for a header of %d came back as a row", o.line, len(w.fields), len(header))
				}
			case o.bad == "":
				v := w.fields[costAt]
				if c, err := strconv.ParseFloat(v, 64); err != nil || c != o.cost {
					t.Fatalf("line %d: BilledCost %q read as %v", o.line, v, o.cost)
				}
				checkExtras(t, o, header, w.fields)
			}
		}
	})
}

func equalOutcomes(a, b []outcome) bool {
	return slices.EqualFunc(a, b, func(x, y outcome) bool {
		return x.line == y.line && x.bad == y.bad && x.cost == y.cost && slices.Equal(x.extras, y.extras) && slices.Equal(x.tags, y.tags)
	})
}

// hasMandatory reports whether a header record names every mandatory column, the way the
// package doc says: case-insensitive, trimmed, after a byte order mark.
func hasMandatory(header []string) bool {
	for _, c := range headerRequired {
		if columnIndex(header, c) < 0 {
			return false
		}
	}
	return true
}

func columnIndex(header []string, name string) int {
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		if strings.EqualFold(strings.TrimSpace(h), name) {
			return i
		}
	}
	return -1
}

// checkExtras checks that a row's extra columns are, in header order, non-null fields of its
// record under their header names.
func checkExtras(t *testing.T, o outcome, header, fields []string) {
	t.Helper()
	j := 0
	for _, kv := range o.extras {
		for ; j < len(header); j++ {
			if header[j]+"="+fields[j] == kv {
				break
			}
		}
		if j == len(header) {
			t.Fatalf("line %d: extra %q is no column of the record %q", o.line, kv, fields)
		}
		j++
	}
}

// jsonMembers is the reference for tagParser: encoding/json's reading of a JSON object as
// tag members, in order.
func jsonMembers(s string) (keys, vals []string, err error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, errors.New("not an object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, err
		}
		var v string
		switch raw[0] {
		case '"':
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, nil, err
			}
		case 'n':
		case '{', '[':
			var b bytes.Buffer
			if err := json.Compact(&b, raw); err != nil {
				return nil, nil, err
			}
			v = b.String()
		default: // a number or a boolean, as written
			v = string(raw)
		}
		keys, vals = append(keys, tok.(string)), append(vals, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, errors.New("trailing data")
	}
	return keys, vals, nil
}

// FuzzTagParser compares the Tags parser with encoding/json: an object encoding/json reads
// must give the same members, in order, values as tag text; what encoding/json refuses, the
// parser refuses too, except strings with raw control characters or invalid UTF-8, which it
// keeps as they are. On error it leaves the caller's slices as they were.
func FuzzTagParser(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { "a" : "b" } `, `{"k\"q": "line\nbreak \u00e9", "x": -1.5e3}`,
		`{"a": false, "b": null, "c": [ "x", {"y": "}"} ]}`,
		`{"application": "BrightLensMatrix", "environment": "dev", "business_unit": "ViennaAI"}`,
		`{"a": 1e400}`, `{"a": Inf}`, `{"a": 01}`, `{"a": "b"} x`, `{"a": [1}`, `{"a":"\ud800"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var p tagParser
		keys, vals, err := p.parse([]string{"keep"}, []string{"me"}, s)
		if len(keys) != len(vals) || len(keys) == 0 || keys[0] != "keep" || vals[0] != "me" {
			t.Fatalf("the caller's members were lost: %q %q", keys, vals)
		}
		if err != nil && len(keys) != 1 {
			t.Fatalf("an error, yet members were added: %q", keys)
		}
		wk, wv, werr := jsonMembers(s)
		lenient := !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 })
		switch {
		case werr == nil && err != nil:
			t.Fatalf("encoding/json reads %q, the parser refuses it: %v", s, err)
		case werr == nil:
			if len(keys[1:]) != len(wk) || !lenient && (!slices.Equal(keys[1:], wk) || !slices.Equal(vals[1:], wv)) {
				t.Fatalf("%q: parser %q %q, encoding/json %q %q", s, keys[1:], vals[1:], wk, wv)
			}
		case werr != nil && err == nil && !lenient:
			t.Fatalf("encoding/json refuses %q (%v), the parser reads it as %q %q", s, werr, keys[1:], vals[1:])
		}
	})
}
