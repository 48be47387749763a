package opencost

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// result is what Reader made of one allocation, or the error that ended the response.
type result struct {
	alloc *Allocation
	entry string // an EntryError
	end   error  // the error that ended the response; nil for io.EOF
}

// readResults reads a response to its end with Reader. NewReader's error is the only
// result's end.
func readResults(t *testing.T, data []byte) []result {
	rd, err := NewReader(bytes.NewReader(data))
	if err != nil {
		return []result{{end: err}}
	}
	defer rd.Close()
	var out []result
	for {
		a, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		var ee *EntryError
		if errors.As(err, &ee) {
			out = append(out, result{entry: ee.Error()})
			continue
		}
		if err != nil {
			if len(out) > 1<<16 {
				t.Fatal("Next keeps returning after an error")
			}
			return append(out, result{end: err})
		}
		checkAllocation(t, a)
		out = append(out, result{alloc: clone(a)})
	}
}

// clone copies a, with nil for no labels.
func clone(a *Allocation) *Allocation {
	c := *a
	c.LabelKeys, c.LabelValues = nil, nil
	if len(a.LabelKeys) > 0 {
		c.LabelKeys, c.LabelValues = slices.Clone(a.LabelKeys), slices.Clone(a.LabelValues)
	}
	return &c
}

// ended reports whether reading ended in an error.
func ended(rs []result) bool { return len(rs) > 0 && rs[len(rs)-1].end != nil }

// checkAllocation checks what every allocation Reader returns must satisfy.
func checkAllocation(t *testing.T, a *Allocation) {
	t.Helper()
	if a.WindowStart.IsZero() || a.WindowEnd.Before(a.WindowStart) || a.WindowStart.Location().String() != "UTC" ||
		a.WindowEnd.Location().String() != "UTC" || a.WindowStart.Unix() < 0 || a.WindowEnd.Year() > 2105 {
		t.Fatalf("%s: window %v to %v", a.Name, a.WindowStart, a.WindowEnd)
	}
	if len(a.LabelKeys) != len(a.LabelValues) || !slices.IsSorted(a.LabelKeys) || len(slices.Compact(slices.Clone(a.LabelKeys))) != len(a.LabelKeys) {
		t.Fatalf("%s: labels %q %q are not sorted unique keys and their values", a.Name, a.LabelKeys, a.LabelValues)
	}
	if idle := a.Name == IdleName || strings.HasSuffix(a.Name, "/"+IdleName); idle != a.IsIdle {
		t.Fatalf("%s: IsIdle %v", a.Name, a.IsIdle)
	}
}

// reference reads a whole response the simple way: parsed at once into an ordered tree,
// then walked as the package doc describes. Allocations convert as Reader converts them.
// ok is false for malformed JSON.
func reference(data []byte) (_ []result, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var top json.RawMessage
	if err := dec.Decode(&top); err != nil {
		if errors.Is(err, io.EOF) {
			return []result{{end: errors.New("empty")}}, true
		}
		// Reader may return allocations before it reaches the syntax error: only the end
		// is known.
		return nil, false
	}
	// What follows the response is never read.
	var out []result
	fail := func(format string, args ...any) []result {
		return append(out, result{end: fmt.Errorf(format, args...)})
	}
	set := 0
	sets := func(v json.RawMessage, single bool) bool {
		var elems []json.RawMessage
		if single {
			elems = []json.RawMessage{v}
		} else if err := json.Unmarshal(v, &elems); err != nil {
			panic(err) // an array, checked by the caller
		}
		for _, e := range elems {
			switch kind(e) {
			case 'n':
				set++
				continue
			case '{':
			default:
				out = fail("a set in data is not an object")
				return false
			}
			for _, m := range members(e) {
				rd := &Reader{set: set}
				err := json.Unmarshal(m.value, &rd.raw)
				var te *json.UnmarshalTypeError
				switch {
				case errors.As(err, &te):
					out = append(out, result{entry: (&EntryError{Set: set, Name: m.name, Reason: err.Error()}).Error()})
				case err != nil:
					panic(err) // valid JSON
				default:
					if err := rd.convert(m.name); err != nil {
						out = append(out, result{entry: err.Error()})
						continue
					}
					out = append(out, result{alloc: clone(&rd.alloc)})
				}
			}
			set++
		}
		return true
	}
	switch kind(top) {
	case '[':
		sets(top, false)
		return out, true
	case '{':
	default:
		return fail("it does not start with { or ["), true
	}
	code, message, sawData := 200, "", false
	for _, m := range members(top) {
		switch m.name {
		case "code":
			var c int
			if err := json.Unmarshal(m.value, &c); err != nil {
				return fail("code %s", m.value), true
			}
			code = c
		case "message":
			var s string
			if kind(m.value) == '"' && json.Unmarshal(m.value, &s) == nil {
				message = s
			}
		case "data":
			sawData = true
			k := kind(m.value)
			if k == 'n' {
				continue
			}
			if code != 200 {
				return fail("code %d: %s", code, message), true
			}
			switch k {
			case '[':
				if !sets(m.value, false) {
					return out, true
				}
			case '{':
				if !sets(m.value, true) {
					return out, true
				}
			default:
				return fail("data is neither an array nor an object"), true
			}
		}
	}
	if code != 200 {
		return fail("code %d: %s", code, message), true
	}
	if !sawData {
		return fail("no data member"), true
	}
	return out, true
}

// kind is the first byte of a JSON value.
func kind(v json.RawMessage) byte { return bytes.TrimLeft(v, " \t\r\n")[0] }

type member struct {
	name  string
	value json.RawMessage
}

// members are a JSON object's members in order, duplicates included.
func members(obj json.RawMessage) []member {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		panic(err)
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			panic(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			panic(err)
		}
		out = append(out, member{name: tok.(string), value: v})
	}
	return out
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

// FuzzReader reads arbitrary bytes as an OpenCost allocation response. Reader must not panic
// or hang; it must return the allocations and entry errors, in order, that the simple
// reading of the whole response (reference) finds, and end with an error exactly where that
// reading does (a syntax error, a code other than 200, no data); returned allocations have a
// window in range, sorted labels and IsIdle set from the name; a gzip body must read as
// what the standard library's gzip makes of it, and a plain one as its gzip.
func FuzzReader(f *testing.F) {
	fixture, err := os.ReadFile("testdata/allocation_namespace.json")
	if err != nil {
		f.Fatal(err)
	}
	entry := `{"name": "%s", "properties": {"cluster": "c", "namespace": "n", "controller": "web", "controllerKind": "deployment",
		"pod": "web-1", "container": "app", "allocationLabels": {"b": "2", "a": "1"}},
		"window": {"start": "2024-09-01T00:00:00Z", "end": "2024-09-01T01:00:00Z"}, "totalCost": 1.5, "pvs": {"x": {}}}`
	one := func(name string) string { return strings.Replace(entry, "%s", name, 1) }
	seeds := []string{
		string(fixture),
		`{"data": [{"c/n/web-1": ` + one("c/n/web-1") + `}], "code": 200, "status": "success"}`,
		`[null, {"c/n/web-1": ` + one("c/n/web-1") + `}]`,
		`{"code": 200, "data": {"c/n/web-1": ` + one("") + `}}`,
		`{"code":200,"data":[{"cluster-one/__idle__": ` + one("cluster-one/__idle__") + `, "__unallocated__": ` + one("__unallocated__") + `}]}`,
		`{"code": 200, "data": [{"a": ` + one("a") + `, "b": {"name": "b", "window": {"start": "yesterday", "end": null}},
			"c": {"name": "c", "totalCost": "lots"}, "d": {"name": "d", "window": {"start": "2024-09-02T00:00:00Z", "end": "2024-09-01T00:00:00Z"}},
			"e": ` + one("e") + `}]}`,
		`{"code": 400, "message": "window: invalid", "data": null}`,
		`{"code": 200, "data": [{"a": {"name": "a", "window": {"sta`,
		`{"code": 200, "data": "nope"}`,
		`{"code": 200}`,
		`{"data": [[]]} trailing`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	gz := gzipBytes(f, fixture)
	f.Add(gz)
	f.Add(gz[:len(gz)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		got := readResults(t, data)
		if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
			zr, err := stdgzip.NewReader(bytes.NewReader(data))
			if err != nil {
				if !ended(got) {
					t.Fatalf("no gzip header (%v), yet Reader read the response", err)
				}
				return
			}
			plain, err := io.ReadAll(io.LimitReader(zr, 64<<20))
			if err != nil || len(plain) == 64<<20 {
				return // a broken stream's end may lie past the response, which Reader never reads
			}
			if want := readResults(t, plain); !sameResults(got, want, true) {
				t.Fatalf("gzip reads as %s\nits content as %s", show(got), show(want))
			}
			return
		}
		if len(got) == 0 || got[0].end == nil {
			if gz := readResults(t, gzipBytes(t, data)); !sameResults(gz, got, true) {
				t.Fatalf("plain reads as %s\ngzipped as %s", show(got), show(gz))
			}
		}
		want, ok := reference(data)
		if !ok { // malformed JSON: whatever came before, it must end in an error
			if !ended(got) {
				t.Fatalf("malformed JSON read without an error: %s", show(got))
			}
			return
		}
		if !sameResults(got, want, false) {
			t.Fatalf("Reader:    %s\nreference: %s", show(got), show(want))
		}
	})
}

// sameResults compares allocations and entry errors exactly, and the ends by whether there
// is one (or, when exact, by their text).
func sameResults(a, b []result, exact bool) bool {
	return slices.EqualFunc(a, b, func(x, y result) bool {
		if (x.end == nil) != (y.end == nil) || exact && x.end != nil && x.end.Error() != y.end.Error() {
			return false
		}
		return x.entry == y.entry && reflect.DeepEqual(x.alloc, y.alloc)
	})
}

func show(rs []result) string {
	var b strings.Builder
	for _, r := range rs {
		switch {
		case r.alloc != nil:
			fmt.Fprintf(&b, "\n  %+v", *r.alloc)
		case r.entry != "":
			fmt.Fprintf(&b, "\n  entry error: %s", r.entry)
		default:
			fmt.Fprintf(&b, "\n  end: %v", r.end)
		}
	}
	return b.String()
}
