package otlpwire

import (
	"encoding/base64"
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weirhq/weir/internal/anyvalue"
	"github.com/weirhq/weir/internal/model"
)

// Value is an AnyValue. Type is an internal/anyvalue type code. Bytes holds a string's or a
// bytes value's contents, or the ArrayValue / KeyValueList message of an array or a map; Num
// holds an int (two's complement), a double's bits or a bool (0 or 1).
type Value struct {
	Type  uint8
	Bytes []byte
	Num   uint64
}

// Int is the value of an int Value.
func (v Value) Int() int64 { return int64(v.Num) }

// Double is the value of a double Value.
func (v Value) Double() float64 { return math.Float64frombits(v.Num) }

// Bool is the value of a bool Value.
func (v Value) Bool() bool { return v.Num != 0 }

// KV is a KeyValue.
type KV struct {
	Key   []byte
	Value Value
}

// AnyValue and KeyValue field numbers (opentelemetry.proto.common.v1).
const (
	fAnyString     = 1
	fAnyBool       = 2
	fAnyInt        = 3
	fAnyDouble     = 4
	fAnyArray      = 5
	fAnyKVList     = 6
	fAnyBytes      = 7
	fAnyStrindex   = 8 // a profiles string-table index: pdata's Value reads it as empty
	fKVKey         = 1
	fKVValue       = 2
	fKVKeyStrindex = 3 // profiles' string-table index of the key: checked, not used
	fListValues    = 1 // ArrayValue.values, KeyValueList.values
)

// appendKV parses a KeyValue message and appends it to dst. depth counts the messages around
// it, as pdata counts them for its recursion limit.
func appendKV(dst []KV, b []byte, depth int) ([]KV, error) {
	var kv KV
	if err := parseKV(&kv, b, depth); err != nil {
		return dst, err
	}
	return append(dst, kv), nil
}

func parseKV(kv *KV, b []byte, depth int) error {
	if depth >= maxDepth {
		return &Error{Msg: "KeyValue", Err: errDepth}
	}
	depth++
	if parseKVShort(kv, b) {
		return nil
	}
	return parseKVFields(kv, b, depth)
}

// parseKVFields is parseKV field by field.
func parseKVFields(kv *KV, b []byte, depth int) error {
	it := iterFields(b, "KeyValue")
	for it.next() {
		switch it.f.num {
		case fKVKey:
			if it.want(protowire.BytesType) {
				kv.Key = it.f.b
			}
		case fKVValue:
			// A value given twice merges: its last oneof field wins.
			if it.want(protowire.BytesType) {
				if err := parseAnyValue(&kv.Value, it.f.b, depth); err != nil {
					it.fail(err)
				}
			}
		case fKVKeyStrindex:
			it.want(protowire.VarintType)
		}
	}
	return it.err
}

// parseKVShort reads the KeyValue nearly every SDK writes, in one go: a key under 128 bytes
// and a value holding one string under 128 bytes, one int or one bool, in either order
// (protobuf's own marshalers write the key first, pdata's the value first), nothing else. It
// reads what the general path reads from such bytes, and returns false, leaving kv as it
// was, for anything else. Attributes were nearly half of a span's reading in a shipped-config
// profile, and BenchmarkParseKV has this 3 times as fast as the field iterator's three steps.
func parseKVShort(kv *KV, b []byte) bool {
	if len(b) < 4 || b[1] >= 0x80 {
		return false
	}
	l1 := int(b[1])
	if len(b) < 4+l1 || b[3+l1] >= 0x80 || int(b[3+l1]) != len(b)-4-l1 {
		return false
	}
	first, second := b[2:2+l1], b[4+l1:]
	var key, v []byte
	switch {
	case b[0] == fKVKey<<3|2 && b[2+l1] == fKVValue<<3|2:
		key, v = first, second
	case b[0] == fKVValue<<3|2 && b[2+l1] == fKVKey<<3|2:
		key, v = second, first
	default:
		return false
	}
	if len(v) < 2 {
		return false
	}
	switch v[0] {
	case fAnyString<<3 | 2:
		if v[1] >= 0x80 || int(v[1]) != len(v)-2 {
			return false
		}
		kv.Key, kv.Value = key, Value{Type: anyvalue.TypeString, Bytes: v[2:]}
	case fAnyInt<<3 | 0, fAnyBool<<3 | 0:
		u, n := protowire.ConsumeVarint(v[1:]) // a varint ending the value
		if n != len(v)-1 {
			return false
		}
		if v[0] == fAnyBool<<3 {
			kv.Key, kv.Value = key, Value{Type: anyvalue.TypeBool}
			if u != 0 {
				kv.Value.Num = 1
			}
			return true
		}
		kv.Key, kv.Value = key, Value{Type: anyvalue.TypeInt, Num: u}
	default:
		return false
	}
	return true
}

// parseAnyValue reads an AnyValue into v, over what v holds: the last oneof field wins. Arrays
// and maps are checked through (as pdata decodes them) but kept as their message bytes.
func parseAnyValue(v *Value, b []byte, depth int) error {
	if depth >= maxDepth {
		return &Error{Msg: "AnyValue", Err: errDepth}
	}
	depth++
	it := iterFields(b, "AnyValue")
	for it.next() {
		f := &it.f
		switch f.num {
		case fAnyString:
			if it.want(protowire.BytesType) {
				*v = Value{Type: anyvalue.TypeString, Bytes: f.b}
			}
		case fAnyBool:
			if it.want(protowire.VarintType) {
				*v = Value{Type: anyvalue.TypeBool}
				if f.u != 0 {
					v.Num = 1
				}
			}
		case fAnyInt:
			if it.want(protowire.VarintType) {
				*v = Value{Type: anyvalue.TypeInt, Num: f.u}
			}
		case fAnyDouble:
			if it.want(protowire.Fixed64Type) {
				*v = Value{Type: anyvalue.TypeDouble, Num: f.u}
			}
		case fAnyArray:
			if it.want(protowire.BytesType) {
				if err := checkList(f.b, depth, false); err != nil {
					it.fail(err)
					break
				}
				*v = Value{Type: anyvalue.TypeArray, Bytes: f.b}
			}
		case fAnyKVList:
			if it.want(protowire.BytesType) {
				if err := checkList(f.b, depth, true); err != nil {
					it.fail(err)
					break
				}
				*v = Value{Type: anyvalue.TypeMap, Bytes: f.b}
			}
		case fAnyBytes:
			if it.want(protowire.BytesType) {
				*v = Value{Type: anyvalue.TypeBytes, Bytes: f.b}
			}
		case fAnyStrindex:
			if it.want(protowire.VarintType) {
				*v = Value{Type: anyvalue.TypeEmpty}
			}
		}
	}
	return it.err
}

// checkList checks an ArrayValue (or, with kvs, a KeyValueList) through.
func checkList(b []byte, depth int, kvs bool) error {
	msg := "ArrayValue"
	if kvs {
		msg = "KeyValueList"
	}
	if depth >= maxDepth {
		return &Error{Msg: msg, Err: errDepth}
	}
	depth++
	it := iterFields(b, msg)
	for it.next() {
		if it.f.num != fListValues || !it.want(protowire.BytesType) {
			continue
		}
		var err error
		if kvs {
			var kv KV
			err = parseKV(&kv, it.f.b, depth)
		} else {
			var v Value
			err = parseAnyValue(&v, it.f.b, depth)
		}
		if err != nil {
			it.fail(err)
		}
	}
	return it.err
}

// AppendText appends v in weir's column form (internal/anyvalue.Append): strings as they are,
// ints in decimal, doubles in their shortest form, bools as true/false, bytes in base64, arrays
// and maps as JSON of OTLP/JSON AnyValues. v must come from a reader (it was checked).
func AppendText(dst []byte, v Value) []byte {
	switch v.Type {
	case anyvalue.TypeString:
		return append(dst, v.Bytes...)
	case anyvalue.TypeInt:
		return strconv.AppendInt(dst, v.Int(), 10)
	case anyvalue.TypeDouble:
		return anyvalue.AppendDouble(dst, v.Double())
	case anyvalue.TypeBool:
		return strconv.AppendBool(dst, v.Bool())
	case anyvalue.TypeBytes:
		return base64.StdEncoding.AppendEncode(dst, v.Bytes)
	case anyvalue.TypeArray:
		return appendListJSON(dst, v.Bytes, false)
	case anyvalue.TypeMap:
		return appendListJSON(dst, v.Bytes, true)
	}
	return dst
}

// appendListJSON writes an ArrayValue as [<AnyValue>,...] or a KeyValueList as
// {"key":<AnyValue>,...}, in the order of the message.
func appendListJSON(dst []byte, b []byte, kvs bool) []byte {
	open, closing := byte('['), byte(']')
	if kvs {
		open, closing = '{', '}'
	}
	dst = append(dst, open)
	first := true
	it := iterFields(b, "")
	for it.next() {
		if it.f.num != fListValues || it.f.typ != protowire.BytesType {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		if kvs {
			var kv KV
			_ = parseKV(&kv, it.f.b, 0) // checked when the value was read
			dst = anyvalue.AppendJSONBytes(dst, kv.Key)
			dst = append(dst, ':')
			dst = appendAnyJSON(dst, kv.Value)
		} else {
			var v Value
			_ = parseAnyValue(&v, it.f.b, 0)
			dst = appendAnyJSON(dst, v)
		}
	}
	return append(dst, closing)
}

// appendAnyJSON writes v the way OTLP/JSON writes an AnyValue.
func appendAnyJSON(dst []byte, v Value) []byte {
	switch v.Type {
	case anyvalue.TypeString:
		dst = append(dst, `{"stringValue":`...)
		dst = anyvalue.AppendJSONBytes(dst, v.Bytes)
	case anyvalue.TypeInt:
		// OTLP/JSON writes int64 as a string so JavaScript readers keep every digit.
		dst = append(dst, `{"intValue":"`...)
		dst = strconv.AppendInt(dst, v.Int(), 10)
		dst = append(dst, '"')
	case anyvalue.TypeDouble:
		dst = append(dst, `{"doubleValue":`...)
		f := v.Double()
		switch {
		case math.IsNaN(f):
			dst = append(dst, `"NaN"`...)
		case math.IsInf(f, 1):
			dst = append(dst, `"Infinity"`...)
		case math.IsInf(f, -1):
			dst = append(dst, `"-Infinity"`...)
		default:
			dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
		}
	case anyvalue.TypeBool:
		dst = append(dst, `{"boolValue":`...)
		dst = strconv.AppendBool(dst, v.Bool())
	case anyvalue.TypeBytes:
		dst = append(dst, `{"bytesValue":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, v.Bytes)
		dst = append(dst, '"')
	case anyvalue.TypeArray:
		dst = append(dst, `{"arrayValue":{"values":`...)
		dst = appendListJSON(dst, v.Bytes, false)
		dst = append(dst, '}')
	case anyvalue.TypeMap:
		dst = append(dst, `{"kvlistValue":{"values":[`...)
		first := true
		it := iterFields(v.Bytes, "")
		for it.next() {
			if it.f.num != fListValues || it.f.typ != protowire.BytesType {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			var kv KV
			_ = parseKV(&kv, it.f.b, 0)
			dst = append(dst, `{"key":`...)
			dst = anyvalue.AppendJSONBytes(dst, kv.Key)
			dst = append(dst, `,"value":`...)
			dst = appendAnyJSON(dst, kv.Value)
			dst = append(dst, '}')
		}
		dst = append(dst, "]}"...)
	default:
		return append(dst, "{}"...)
	}
	return append(dst, '}')
}

// HashKVs is the series hash of an attribute set (model.Hasher): the sum of its attributes'
// hashes, as anyvalue.HashMap computes it for a pdata map. scratch holds each attribute's
// hashed bytes (model.AppendAttr); it is returned, grown, for the next call.
func HashKVs(kvs []KV, scratch []byte) (uint64, []byte) {
	var sum uint64
	for i := range kvs {
		kv := &kvs[i]
		scratch = AppendText(model.AppendAttr(scratch[:0], kv.Key, kv.Value.Type), kv.Value)
		sum += model.AttrSum(scratch)
	}
	return sum, scratch
}
