package anyvalue

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/weirhq/weir/internal/model"
)

// HashMap is the series hash of an attribute map (see model.Hasher): the sum of its
// attributes' hashes, each over the key, the value's type and its column text. scratch holds
// the text of values that are not strings; it is returned, grown, for the next call.
func HashMap(h *model.Hasher, m pcommon.Map, scratch []byte) (uint64, []byte) {
	var sum uint64
	m.Range(func(k string, v pcommon.Value) bool {
		if v.Type() == pcommon.ValueTypeStr {
			sum += h.Attr(k, TypeString, v.Str())
			return true
		}
		scratch = Append(scratch[:0], v)
		sum += h.AttrBytesKey(k, TypeOf(v), scratch)
		return true
	})
	return sum, scratch
}
