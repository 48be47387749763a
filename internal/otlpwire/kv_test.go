package otlpwire

import (
	"bytes"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"
)

// TestParseKVShort: wherever the one-go reading of a KeyValue takes the bytes, it reads what
// the field-by-field reading does; and it leaves to that reading every form it does not know.
func TestParseKVShort(t *testing.T) {
	field := func(b []byte, num protowire.Number, typ protowire.Type, v []byte) []byte {
		b = protowire.AppendTag(b, num, typ)
		return append(b, v...)
	}
	bytesOf := func(v []byte) []byte { return protowire.AppendBytes(nil, v) }
	varint := func(u uint64) []byte { return protowire.AppendVarint(nil, u) }
	kv := func(key []byte, value []byte) []byte {
		return field(field(nil, fKVKey, protowire.BytesType, bytesOf(key)), fKVValue, protowire.BytesType, bytesOf(value))
	}
	str := func(s []byte) []byte { return field(nil, fAnyString, protowire.BytesType, bytesOf(s)) }
	valueFirst := func(key []byte, value []byte) []byte { // as pdata writes it
		return field(field(nil, fKVValue, protowire.BytesType, bytesOf(value)), fKVKey, protowire.BytesType, bytesOf(key))
	}
	long := bytes.Repeat([]byte("x"), 127)
	short := []struct {
		name string
		b    []byte
	}{
		{"string", kv([]byte("http.method"), str([]byte("GET")))},
		{"empty key and string", kv(nil, str(nil))},
		{"127-byte key and string", kv(long, str(long[:123]))},
		{"int", kv([]byte("n"), field(nil, fAnyInt, protowire.VarintType, varint(42)))},
		{"int zero", kv([]byte("n"), field(nil, fAnyInt, protowire.VarintType, varint(0)))},
		{"int max", kv([]byte("n"), field(nil, fAnyInt, protowire.VarintType, varint(math.MaxUint64)))},
		{"bool", kv([]byte("b"), field(nil, fAnyBool, protowire.VarintType, varint(1)))},
		{"bool 7", kv([]byte("b"), field(nil, fAnyBool, protowire.VarintType, varint(7)))},
		{"bool false", kv([]byte("b"), field(nil, fAnyBool, protowire.VarintType, varint(0)))},
		{"value first, string", valueFirst([]byte("http.method"), str([]byte("GET")))},
		{"value first, int", valueFirst([]byte("n"), field(nil, fAnyInt, protowire.VarintType, varint(300)))},
		{"value first, empty key", valueFirst(nil, str([]byte("x")))},
	}
	for _, c := range short {
		var got, want KV
		require.True(t, parseKVShort(&got, c.b), c.name)
		require.NoError(t, parseKVFields(&want, c.b, 1), c.name)
		require.Equal(t, want, got, c.name)
	}
	other := []struct {
		name string
		b    []byte
	}{
		{"128-byte key", kv(append(long, 'y'), str(nil))},
		{"128-byte value", kv(nil, str(append(long, 'y')))},
		{"double", kv([]byte("d"), field(nil, fAnyDouble, protowire.Fixed64Type, protowire.AppendFixed64(nil, 1)))},
		{"two keys", field(field(nil, fKVKey, protowire.BytesType, bytesOf(nil)), fKVKey, protowire.BytesType, bytesOf(nil))},
		{"two values", field(field(nil, fKVValue, protowire.BytesType, bytesOf(str(nil))), fKVValue, protowire.BytesType, bytesOf(str(nil)))},
		{"value first, double", valueFirst(nil, field(nil, fAnyDouble, protowire.Fixed64Type, protowire.AppendFixed64(nil, 1)))},
		{"two strings", kv(nil, append(str([]byte("a")), str([]byte("b"))...))},
		{"trailing field", append(kv(nil, str(nil)), field(nil, fKVKeyStrindex, protowire.VarintType, varint(1))...)},
		{"int varint too long", kv(nil, field(nil, fAnyInt, protowire.VarintType, bytes.Repeat([]byte{0xff}, 11)))},
		{"int varint overflow", kv(nil, field(nil, fAnyInt, protowire.VarintType, append(bytes.Repeat([]byte{0xff}, 9), 0x02)))},
		{"int then a byte", kv(nil, append(field(nil, fAnyInt, protowire.VarintType, varint(1)), 0))},
		{"empty value", kv(nil, nil)},
		{"value past the end", []byte{0x0a, 0x00, 0x12, 0x05, 0x0a, 0x01}},
		{"key past the end", []byte{0x0a, 0x09, 0x12, 0x00}},
	}
	for _, c := range other {
		var got KV
		require.False(t, parseKVShort(&got, c.b), c.name)
		require.Equal(t, KV{}, got, c.name)
	}
}

// BenchmarkParseKV: a span's typical attributes (short strings, ints, a bool) read in one go
// (parseKV) against field by field (parseKVFields).
func BenchmarkParseKV(b *testing.B) {
	attrs := pcommon.NewMap()
	attrs.PutStr("http.request.method", "GET")
	attrs.PutStr("url.path", "/api/v1/orders/12345")
	attrs.PutInt("http.response.status_code", 200)
	attrs.PutStr("server.address", "orders.internal")
	attrs.PutInt("server.port", 8080)
	attrs.PutBool("error", false)
	var kvs [][]byte
	attrs.Range(func(k string, v pcommon.Value) bool {
		m := pcommon.NewMap()
		v.CopyTo(m.PutEmpty(k))
		td := ptrace.NewTraces()
		m.CopyTo(td.ResourceSpans().AppendEmpty().Resource().Attributes())
		raw, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		require.NoError(b, err)
		// ResourceSpans → Resource → KeyValue: three nested messages.
		for range 3 {
			_, _, n := protowire.ConsumeTag(raw)
			raw, _ = protowire.ConsumeBytes(raw[n:])
		}
		kvs = append(kvs, raw)
		return true
	})
	for _, c := range []struct {
		name  string
		parse func(*KV, []byte, int) error
	}{{"one-go", parseKV}, {"fields", parseKVFields}} {
		b.Run(c.name, func(b *testing.B) {
			var kv KV
			for b.Loop() {
				for _, raw := range kvs {
					if err := c.parse(&kv, raw, 1); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(kvs)), "ns/attr")
		})
	}
}
