package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestHasher_Pinned pins the series hash: stored SeriesHash values and series_1m keys depend
// on it, so a change here splits every stored series in two. The figures were produced by
// the exporter's hash before it moved here.
func TestHasher_Pinned(t *testing.T) {
	var h Hasher
	res := h.Attr("service.name", 1, "checkout") + h.Attr("pid", 2, "42")
	assert.Equal(t, uint64(8543044408867185694), res)
	seed := h.Seed("scope", "http.requests", res)
	assert.Equal(t, uint64(17398089619014065982), seed)
	pt := h.Attr("route", 1, "/cart") + h.Attr("ratio", 3, "0.25") + h.Attr("ok", 4, "true")
	assert.Equal(t, uint64(18395381847357651597), pt)
	assert.Equal(t, uint64(10710761089663944528), Mix(seed, pt))
	assert.Equal(t, uint64(15653401174902319169), Mix(seed, 0), "a point without attributes")
}

func TestHasher_BytesAgree(t *testing.T) {
	var h Hasher
	f := func(k string, typ uint8, v string) {
		t.Helper()
		assert.Equal(t, h.Attr(k, typ, v), AttrSum(append(AppendAttr(nil, []byte(k), typ), v...)))
	}
	f("k", 1, "v")
	f("", 0, "")
	f("a\x00b", 6, `[{"intValue":"1"}]`)
	assert.Equal(t, h.Seed("s", "m", 7), h.SeedBytes([]byte("s"), []byte("m"), 7))
}

func TestHasher_TypeAndOrder(t *testing.T) {
	var h Hasher
	assert.NotEqual(t, h.Attr("k", 1, "1"), h.Attr("k", 2, "1"), "the string 1 and the int 1 differ")
	ab := h.Attr("a", 1, "x") + h.Attr("b", 1, "y")
	ba := h.Attr("b", 1, "y") + h.Attr("a", 1, "x")
	assert.Equal(t, ab, ba, "attribute order does not matter")
	assert.NotEqual(t, h.Attr("ab", 1, "c"), h.Attr("a", 1, "bc"), "the key ends where the tag starts")
}

// BenchmarkAttrHash compares the streaming digest (Attr, as the pdata path hashes) with
// one pass over a kept buffer (AppendAttr, as the wire path does).
func BenchmarkAttrHash(b *testing.B) {
	key, value := []byte("http.route"), []byte("/api/v1/cart/items")
	b.Run("digest", func(b *testing.B) {
		var h Hasher
		for b.Loop() {
			_ = h.AttrBytesKey("http.route", 1, value)
		}
	})
	b.Run("one-pass", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf = append(AppendAttr(buf[:0], key, 1), value...)
			_ = AttrSum(buf)
		}
	})
}

func BenchmarkHasher_Attr(b *testing.B) {
	var h Hasher
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Attr("http.route", 1, "/api/v1/cart/items")
	}
}
