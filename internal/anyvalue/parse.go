package anyvalue

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Parse decodes the column text s of type typ into dst. It is the inverse of Append and is
// meant for readers (trace views, tests), not for the ingest path.
func Parse(typ Type, s string, dst pcommon.Value) error {
	switch typ {
	case TypeEmpty:
		return nil
	case TypeString:
		dst.SetStr(s)
	case TypeInt:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("int value %q: %w", s, err)
		}
		dst.SetInt(n)
	case TypeDouble:
		f, err := ParseDouble(s)
		if err != nil {
			return err
		}
		dst.SetDouble(f)
	case TypeBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("bool value %q: %w", s, err)
		}
		dst.SetBool(b)
	case TypeBytes:
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return fmt.Errorf("bytes value: %w", err)
		}
		dst.SetEmptyBytes().FromRaw(b)
	case TypeArray:
		return parseNested([]byte(`{"arrayValue":{"values":`+s+`}}`), dst)
	case TypeMap:
		kv, err := objectToKVList(s)
		if err != nil {
			return err
		}
		return parseNested([]byte(`{"kvlistValue":{"values":`+kv+`}}`), dst)
	default:
		return fmt.Errorf("unknown value type %d", typ)
	}
	return nil
}

// ParseDouble is the inverse of AppendDouble.
func ParseDouble(s string) (float64, error) {
	switch s {
	case "NaN":
		return math.NaN(), nil
	case "+Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("double value %q: %w", s, err)
	}
	return f, nil
}

// parseNested lets pdata's own OTLP/JSON decoder read one AnyValue, wrapped in the smallest
// document it accepts, so nested values follow the OTLP/JSON rules exactly.
func parseNested(anyValue []byte, dst pcommon.Value) error {
	var doc bytes.Buffer
	doc.WriteString(`{"resourceSpans":[{"resource":{"attributes":[{"key":"v","value":`)
	doc.Write(anyValue)
	doc.WriteString(`}]}}]}`)
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(doc.Bytes())
	if err != nil {
		return fmt.Errorf("nested value: %w", err)
	}
	attrs := td.ResourceSpans().At(0).Resource().Attributes()
	v, ok := attrs.Get("v")
	if !ok {
		return errors.New("nested value: missing after decode")
	}
	v.CopyTo(dst)
	return nil
}

// objectToKVList turns {"k":<AnyValue>,...} into [{"key":"k","value":<AnyValue>},...],
// keeping the key order.
func objectToKVList(s string) (string, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", fmt.Errorf("map value %q: want a JSON object", s)
	}
	var out bytes.Buffer
	out.WriteByte('[')
	for i := 0; dec.More(); i++ {
		tok, err := dec.Token()
		if err != nil {
			return "", fmt.Errorf("map value: %w", err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", fmt.Errorf("map value %q: %w", key, err)
		}
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteString(`{"key":`)
		out.Write(appendJSONString(nil, key))
		out.WriteString(`,"value":`)
		out.Write(raw)
		out.WriteByte('}')
	}
	out.WriteByte(']')
	return out.String(), nil
}
