package focus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// tagParser splits a Tags JSON object into its members without building a map, so their
// order is kept and plain string values are substrings of the input (no copy). Only
// escaped strings and nested objects or arrays allocate.
type tagParser struct {
	buf bytes.Buffer
}

// parse appends the members of the JSON object s to keys and vals.
func (p *tagParser) parse(keys, vals []string, s string) ([]string, []string, error) {
	k0, v0 := len(keys), len(vals)
	fail := func(err error) ([]string, []string, error) { return keys[:k0], vals[:v0], err }
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return fail(errors.New("want {"))
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == '}' {
		return keys, vals, trailing(s, i+1)
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return fail(fmt.Errorf("want a member name at offset %d", i))
		}
		k, n, err := jsonString(s, i)
		if err != nil {
			return fail(err)
		}
		i = skipSpace(s, n)
		if i >= len(s) || s[i] != ':' {
			return fail(fmt.Errorf("want : at offset %d", i))
		}
		v, n, err := p.value(s, skipSpace(s, i+1))
		if err != nil {
			return fail(err)
		}
		keys, vals = append(keys, k), append(vals, v)
		i = skipSpace(s, n)
		switch {
		case i < len(s) && s[i] == ',':
			i = skipSpace(s, i+1)
		case i < len(s) && s[i] == '}':
			if err := trailing(s, i+1); err != nil {
				return fail(err)
			}
			return keys, vals, nil
		default:
			return fail(fmt.Errorf("want , or } at offset %d", i))
		}
	}
}

// value reads the JSON value at s[i:] as tag text and returns the offset after it.
func (p *tagParser) value(s string, i int) (string, int, error) {
	if i >= len(s) {
		return "", i, errors.New("want a value")
	}
	switch s[i] {
	case '"':
		return jsonString(s, i)
	case '{', '[':
		end, err := nestedEnd(s, i)
		if err != nil {
			return "", i, err
		}
		p.buf.Reset()
		if err := json.Compact(&p.buf, []byte(s[i:end])); err != nil {
			return "", i, err
		}
		return p.buf.String(), end, nil
	}
	j := i
	for j < len(s) && s[j] != ',' && s[j] != '}' && !isSpace(s[j]) {
		j++
	}
	lit := s[i:j]
	if lit == "" {
		return "", i, errors.New("want a value")
	}
	switch lit {
	case "null":
		return "", j, nil
	case "true", "false":
		return lit, j, nil
	}
	// JSON's number grammar, not strconv.ParseFloat's: that takes Inf, 0x1p3 and 01, and
	// refuses 1e400, which JSON allows.
	if !json.Valid([]byte(lit)) {
		return "", i, fmt.Errorf("invalid value %q", clip(lit))
	}
	return lit, j, nil // a number, as written
}

// jsonString reads the JSON string starting at s[i] == '"'.
func jsonString(s string, i int) (string, int, error) {
	escaped := false
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			if !escaped {
				return s[i+1 : j], j + 1, nil
			}
			var out string
			if err := json.Unmarshal([]byte(s[i:j+1]), &out); err != nil {
				return "", i, err
			}
			return out, j + 1, nil
		}
	}
	return "", i, errors.New("unterminated string")
}

// nestedEnd is the offset just after the object or array starting at s[i].
func nestedEnd(s string, i int) (int, error) {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '"':
			_, n, err := jsonString(s, j)
			if err != nil {
				return 0, err
			}
			j = n - 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, errors.New("unterminated object or array")
}

func trailing(s string, i int) error {
	if i = skipSpace(s, i); i != len(s) {
		return fmt.Errorf("unexpected %q after the object", clip(s[i:]))
	}
	return nil
}

func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
