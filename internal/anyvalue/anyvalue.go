// Package anyvalue encodes OTLP attribute values into weir's column form (a value string and
// a type code) and decodes them back, so every value round-trips with its type.
//
// Scalars are stored as text a person can read in SQL: strings as they are, ints in decimal,
// doubles in the shortest form that parses back to the same bits, bools as true/false, bytes
// in standard base64. Arrays and maps are JSON in which every element is an OTLP/JSON
// AnyValue ({"intValue":"1"}, {"stringValue":"a"}, ...), so nested types survive too: an
// array is [<AnyValue>,...] and a map is {"key":<AnyValue>,...} in the map's own key order.
package anyvalue

import (
	"encoding/base64"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Type is the type code stored next to each value. The numbers are part of the schema.
type Type = uint8

// Type codes.
const (
	TypeEmpty  Type = 0
	TypeString Type = 1
	TypeInt    Type = 2
	TypeDouble Type = 3
	TypeBool   Type = 4
	TypeMap    Type = 5
	TypeArray  Type = 6
	TypeBytes  Type = 7
)

// TypeOf returns the type code of v.
func TypeOf(v pcommon.Value) Type {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return TypeString
	case pcommon.ValueTypeInt:
		return TypeInt
	case pcommon.ValueTypeDouble:
		return TypeDouble
	case pcommon.ValueTypeBool:
		return TypeBool
	case pcommon.ValueTypeMap:
		return TypeMap
	case pcommon.ValueTypeSlice:
		return TypeArray
	case pcommon.ValueTypeBytes:
		return TypeBytes
	default:
		return TypeEmpty
	}
}

// Append appends the column text of v to dst and returns the extended buffer. Strings are
// not copied through here: callers store v.Str() directly and use Append for the rest.
func Append(dst []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return append(dst, v.Str()...)
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(dst, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		return AppendDouble(dst, v.Double())
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(dst, v.Bool())
	case pcommon.ValueTypeBytes:
		return base64.StdEncoding.AppendEncode(dst, v.Bytes().AsRaw())
	case pcommon.ValueTypeSlice:
		return appendSliceJSON(dst, v.Slice())
	case pcommon.ValueTypeMap:
		return appendMapJSON(dst, v.Map())
	default:
		return dst
	}
}

// AppendDouble appends f in the shortest text that parses back to the same float64;
// NaN and infinities as NaN, +Inf and -Inf.
func AppendDouble(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "+Inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-Inf"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

func appendSliceJSON(dst []byte, s pcommon.Slice) []byte {
	dst = append(dst, '[')
	for i := 0; i < s.Len(); i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendAnyValueJSON(dst, s.At(i))
	}
	return append(dst, ']')
}

func appendMapJSON(dst []byte, m pcommon.Map) []byte {
	dst = append(dst, '{')
	first := true
	m.Range(func(k string, v pcommon.Value) bool {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendAnyValueJSON(dst, v)
		return true
	})
	return append(dst, '}')
}

// AppendJSONBytes is AppendJSONString for bytes; b is only read.
func AppendJSONBytes(dst []byte, b []byte) []byte {
	return AppendJSONString(dst, unsafe.String(unsafe.SliceData(b), len(b)))
}

// appendAnyValueJSON writes v the way OTLP/JSON writes an AnyValue.
func appendAnyValueJSON(dst []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		dst = append(dst, `{"stringValue":`...)
		dst = appendJSONString(dst, v.Str())
	case pcommon.ValueTypeInt:
		// OTLP/JSON writes int64 as a string so JavaScript readers keep every digit.
		dst = append(dst, `{"intValue":"`...)
		dst = strconv.AppendInt(dst, v.Int(), 10)
		dst = append(dst, '"')
	case pcommon.ValueTypeDouble:
		dst = append(dst, `{"doubleValue":`...)
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			dst = append(dst, '"')
			dst = AppendDouble(dst, f)
			if math.IsInf(f, 1) {
				dst = append(dst[:len(dst)-4], "Infinity"...)
			} else if math.IsInf(f, -1) {
				dst = append(dst[:len(dst)-4], "-Infinity"...)
			}
			dst = append(dst, '"')
		} else {
			dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
		}
	case pcommon.ValueTypeBool:
		dst = append(dst, `{"boolValue":`...)
		dst = strconv.AppendBool(dst, v.Bool())
	case pcommon.ValueTypeBytes:
		dst = append(dst, `{"bytesValue":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, v.Bytes().AsRaw())
		dst = append(dst, '"')
	case pcommon.ValueTypeSlice:
		dst = append(dst, `{"arrayValue":{"values":`...)
		dst = appendSliceJSON(dst, v.Slice())
		dst = append(dst, '}')
	case pcommon.ValueTypeMap:
		dst = append(dst, `{"kvlistValue":{"values":[`...)
		first := true
		v.Map().Range(func(k string, mv pcommon.Value) bool {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, `{"key":`...)
			dst = appendJSONString(dst, k)
			dst = append(dst, `,"value":`...)
			dst = appendAnyValueJSON(dst, mv)
			dst = append(dst, '}')
			return true
		})
		dst = append(dst, "]}"...)
	default:
		return append(dst, "{}"...)
	}
	return append(dst, '}')
}

const hex = "0123456789abcdef"

func appendJSONString(dst []byte, s string) []byte { return AppendJSONString(dst, s) }

// AppendJSONString quotes s as a JSON string. Invalid UTF-8 becomes U+FFFD, as encoding/json
// does.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
