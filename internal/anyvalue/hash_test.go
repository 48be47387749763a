package anyvalue

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/weirhq/weir/internal/model"
)

// The pdata form of the attributes pinned in model's TestHasher_Pinned hashes the same, in
// any order of keys.
func TestHashMap_Pinned(t *testing.T) {
	var h model.Hasher
	res := pcommon.NewMap()
	res.PutStr("service.name", "checkout")
	res.PutInt("pid", 42)
	got, scratch := HashMap(&h, res, nil)
	assert.Equal(t, uint64(8543044408867185694), got)

	pt := pcommon.NewMap()
	pt.PutBool("ok", true)
	pt.PutDouble("ratio", 0.25)
	pt.PutStr("route", "/cart")
	got, _ = HashMap(&h, pt, scratch)
	assert.Equal(t, uint64(18395381847357651597), got)

	empty, _ := HashMap(&h, pcommon.NewMap(), nil)
	assert.Zero(t, empty)
}
