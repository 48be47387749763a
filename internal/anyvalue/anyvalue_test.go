package anyvalue

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func TestRoundTrip(t *testing.T) {
	f := func(name string, set func(v pcommon.Value), wantText string) {
		t.Run(name, func(t *testing.T) {
			v := pcommon.NewValueEmpty()
			set(v)
			text := string(Append(nil, v))
			if wantText != "" {
				assert.Equal(t, wantText, text)
			}
			got := pcommon.NewValueEmpty()
			require.NoError(t, Parse(TypeOf(v), text, got))
			assert.Equal(t, v.Type(), got.Type())
			if v.Type() == pcommon.ValueTypeDouble && math.IsNaN(v.Double()) {
				assert.True(t, math.IsNaN(got.Double()))
				return
			}
			assert.True(t, v.Equal(got), "want %s, got %s", v.AsString(), got.AsString())
		})
	}
	f("string", func(v pcommon.Value) { v.SetStr("héllo \"x\"") }, "héllo \"x\"")
	f("empty string", func(v pcommon.Value) { v.SetStr("") }, "")
	f("int", func(v pcommon.Value) { v.SetInt(-9223372036854775808) }, "-9223372036854775808")
	f("double", func(v pcommon.Value) { v.SetDouble(0.1) }, "0.1")
	f("double whole", func(v pcommon.Value) { v.SetDouble(3) }, "3")
	f("double tiny", func(v pcommon.Value) { v.SetDouble(5e-324) }, "5e-324")
	f("double nan", func(v pcommon.Value) { v.SetDouble(math.NaN()) }, "NaN")
	f("double inf", func(v pcommon.Value) { v.SetDouble(math.Inf(-1)) }, "-Inf")
	f("bool", func(v pcommon.Value) { v.SetBool(true) }, "true")
	f("bytes", func(v pcommon.Value) { v.SetEmptyBytes().FromRaw([]byte{0, 1, 0xff}) }, "AAH/")
	f("array", func(v pcommon.Value) {
		s := v.SetEmptySlice()
		s.AppendEmpty().SetInt(1)
		s.AppendEmpty().SetDouble(1)
		s.AppendEmpty().SetStr("a\nb")
		s.AppendEmpty().SetBool(false)
		s.AppendEmpty().SetEmptyBytes().FromRaw([]byte("hi"))
		s.AppendEmpty().SetDouble(math.Inf(1))
		s.AppendEmpty().SetEmptySlice().AppendEmpty().SetInt(7)
	}, `[{"intValue":"1"},{"doubleValue":1},{"stringValue":"a\nb"},{"boolValue":false},{"bytesValue":"aGk="},{"doubleValue":"Infinity"},{"arrayValue":{"values":[{"intValue":"7"}]}}]`)
	f("map", func(v pcommon.Value) {
		m := v.SetEmptyMap()
		m.PutStr("z", "last key first")
		m.PutInt("a", 2)
		inner := m.PutEmptyMap("m")
		inner.PutDouble("d", 2.5)
		inner.PutEmptySlice("s").AppendEmpty().SetStr("x")
	}, `{"z":{"stringValue":"last key first"},"a":{"intValue":"2"},"m":{"kvlistValue":{"values":[{"key":"d","value":{"doubleValue":2.5}},{"key":"s","value":{"arrayValue":{"values":[{"stringValue":"x"}]}}}]}}}`)
	f("empty map", func(v pcommon.Value) { v.SetEmptyMap() }, "{}")
	f("empty array", func(v pcommon.Value) { v.SetEmptySlice() }, "[]")
}

func TestParse_Errors(t *testing.T) {
	v := pcommon.NewValueEmpty()
	assert.Error(t, Parse(TypeInt, "1.5", v))
	assert.Error(t, Parse(TypeBool, "yes", v))
	assert.Error(t, Parse(TypeMap, "[1]", v))
	assert.Error(t, Parse(TypeArray, "{", v))
	assert.Error(t, Parse(99, "", v))
}

func BenchmarkAppend_Scalars(b *testing.B) {
	vals := []pcommon.Value{pcommon.NewValueInt(123456), pcommon.NewValueDouble(0.25), pcommon.NewValueBool(true)}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, v := range vals {
			buf = Append(buf[:0], v)
		}
	}
}
