package otlpwire

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Error is a request that does not decode. It says which message and field, so a sender can
// find the bug in its encoder.
type Error struct {
	Msg   string // the message being read, e.g. "Span"
	Field int32  // its field number; 0 when the tag itself was bad
	Err   error
}

func (e *Error) Error() string {
	if e.Field == 0 {
		return fmt.Sprintf("otlp: %s: %v", e.Msg, e.Err)
	}
	return fmt.Sprintf("otlp: %s field %d: %v", e.Msg, e.Field, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

var (
	errTruncated = errors.New("truncated or malformed value")
	errWireType  = errors.New("wrong wire type")
	errDepth     = errors.New("AnyValue nested deeper than 100")
	errFieldZero = errors.New("field number 0 or a malformed tag")
)

// maxDepth is how deep AnyValues may nest (pdata's proto.RecursionLimit).
const maxDepth = 100

// field is one field of a message: its number and wire type, its value as an integer (varint,
// fixed32, fixed64) or as bytes (length-delimited).
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64
	b   []byte
}

// fields iterates the fields of one message.
type fields struct {
	buf []byte
	msg string
	f   field
	err error
}

func iterFields(b []byte, msg string) fields { return fields{buf: b, msg: msg} }

// next reads the next field into it.f; false at the end or on error (it.err). One-byte tags
// and lengths, nearly all of them in OTLP, take a short path.
func (it *fields) next() bool {
	b := it.buf
	if len(b) == 0 || it.err != nil {
		return false
	}
	var num protowire.Number
	var typ protowire.Type
	n := 1
	if c := b[0]; c < 0x80 {
		num, typ = protowire.Number(c>>3), protowire.Type(c&7)
		if num == 0 {
			n = -1
		}
	} else {
		num, typ, n = consumeTag(b)
	}
	if n < 0 {
		it.err = &Error{Msg: it.msg, Err: errFieldZero}
		return false
	}
	b = b[n:]
	f := &it.f
	f.num, f.typ = num, typ
	switch typ {
	case protowire.BytesType:
		var l uint64
		if len(b) > 0 && b[0] < 0x80 {
			l, n = uint64(b[0]), 1
		} else {
			l, n = consumeVarint(b)
		}
		if n < 0 || l > uint64(len(b)-n) {
			n = -1
			break
		}
		f.b = b[n : n+int(l)]
		n += int(l)
	case protowire.VarintType:
		if len(b) > 0 && b[0] < 0x80 {
			f.u, n = uint64(b[0]), 1
		} else {
			f.u, n = consumeVarint(b)
		}
	case protowire.Fixed64Type:
		f.u, n = protowire.ConsumeFixed64(b)
	case protowire.Fixed32Type:
		var v uint32
		v, n = protowire.ConsumeFixed32(b)
		f.u = uint64(v)
	default:
		n = skipGroup(b, typ)
	}
	if n < 0 {
		it.err = &Error{Msg: it.msg, Field: int32(num), Err: errTruncated}
		return false
	}
	it.buf = b[n:]
	return true
}

// consumeTag reads a field's tag. Its field number is the tag's upper bits truncated to 32,
// as pdata reads it: a number that comes out 0 or negative is an error, a larger one that
// comes out positive is some unknown field.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	tag, n := consumeVarint(b)
	if n < 0 {
		return 0, 0, -1
	}
	num := int32(tag >> 3)
	if num <= 0 {
		return 0, 0, -1
	}
	return protowire.Number(num), protowire.Type(tag & 7), n
}

// consumeVarint is protowire.ConsumeVarint, but for a ten-byte varint whose last byte
// overflows 64 bits: pdata takes it (keeping the low 64 bits) where protowire refuses it, and
// the readers decode what pdata decodes.
func consumeVarint(b []byte) (uint64, int) {
	v, n := protowire.ConsumeVarint(b)
	if n >= 0 || len(b) < 10 || b[9] >= 0x80 {
		return v, n
	}
	for _, c := range b[:9] {
		if c < 0x80 {
			return v, n
		}
	}
	v = 0
	for i, c := range b[:10] {
		v |= uint64(c&0x7f) << (7 * i)
	}
	return v, 10
}

// skipGroup skips an unknown field of a group wire type as pdata's unmarshalers do, for the
// readers to accept and refuse the same requests: no OTLP field is a group, and pdata ends a
// group at the first field inside it that is not a group tag, or at a matching end tag.
func skipGroup(b []byte, typ protowire.Type) int {
	pos, depth := 0, 0
	for pos < len(b) {
		switch typ {
		case protowire.VarintType:
			_, n := consumeVarint(b[pos:])
			return advance(pos, n)
		case protowire.Fixed64Type:
			if len(b)-pos < 8 {
				return -1
			}
			return pos + 8
		case protowire.BytesType:
			l, n := consumeVarint(b[pos:])
			if n < 0 || l > uint64(len(b)-pos-n) {
				return -1
			}
			return pos + n + int(l)
		case protowire.StartGroupType:
			depth++
		case protowire.EndGroupType:
			if depth == 0 {
				return -1
			}
			depth--
		case protowire.Fixed32Type:
			if len(b)-pos < 4 {
				return -1
			}
			return pos + 4
		default:
			return -1
		}
		if depth == 0 {
			return pos
		}
		var n int
		if _, typ, n = consumeTag(b[pos:]); n < 0 {
			return -1
		}
		pos += n
	}
	return -1
}

func advance(pos, n int) int {
	if n < 0 {
		return -1
	}
	return pos + n
}

// want checks that the current field has wire type t; it records the error when it has not.
func (it *fields) want(t protowire.Type) bool {
	if it.f.typ != t {
		it.err = &Error{Msg: it.msg, Field: int32(it.f.num), Err: errWireType}
		return false
	}
	return true
}

// fail records err for the current field.
func (it *fields) fail(err error) {
	var e *Error
	if errors.As(err, &e) {
		it.err = err
		return
	}
	it.err = &Error{Msg: it.msg, Field: int32(it.f.num), Err: err}
}

// ConsumeField reads the field at the start of b as the readers read fields, pdata's leniency
// included: its number and wire type, for a length-delimited field its contents, and the
// whole field's length n. n is negative when b does not start with a field the readers take.
// Code that re-frames requests the readers checked walks them with it, so both agree on
// where every field is.
func ConsumeField(b []byte) (num protowire.Number, typ protowire.Type, contents []byte, n int) {
	it := fields{buf: b}
	if !it.next() {
		return 0, 0, nil, -1
	}
	if it.f.typ == protowire.BytesType {
		contents = it.f.b
	}
	return it.f.num, it.f.typ, contents, len(b) - len(it.buf)
}
