package chinsert

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCompress_RoundTrip(t *testing.T) {
	// 2.5 frames of compressible but not trivial bytes.
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"GET /api/orders ", "service-a ", "span ", "db.query ", "200 ", "us-east-1 "}
	var src []byte
	for len(src) < FrameSize*5/2 {
		src = append(src, words[rng.IntN(len(words))]...)
	}
	src = src[:FrameSize*5/2]
	var c Compressor
	for _, m := range []Compression{LZ4, ZSTD} {
		t.Run(m.String(), func(t *testing.T) {
			prefix := []byte("keep")
			out := c.Compress(append([]byte(nil), prefix...), src, m)
			require.True(t, bytes.HasPrefix(out, prefix), "Compress must append to dst")
			frames := out[len(prefix):]
			assert.Less(t, len(frames), len(src)/2, "compressed %d of %d bytes", len(frames), len(src))

			got := make([]byte, len(src))
			_, err := io.ReadFull(compress.NewReader(bytes.NewReader(frames)), got)
			require.NoError(t, err)
			require.True(t, bytes.Equal(src, got), "round trip differs")
			n := countFrames(t, frames)
			assert.Equal(t, 3, n, "frames of at most FrameSize bytes")

			// The package function makes the same bytes with fresh encoders.
			assert.True(t, bytes.Equal(frames, Compress(nil, src, m)))
		})
	}
	t.Run("none", func(t *testing.T) {
		out := Compress([]byte("x"), []byte("abc"), None)
		assert.Equal(t, "xabc", string(out))
	})
	t.Run("unknown method panics", func(t *testing.T) {
		assert.Panics(t, func() { Compress(nil, src[:10], Compression(7)) })
	})
}

// countFrames walks ClickHouse's frame headers: 16 bytes checksum, 1 method, 4 compressed
// size (with the 9 header bytes), 4 raw size.
func countFrames(t *testing.T, b []byte) int {
	n := 0
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), 25)
		size := int(b[17]) | int(b[18])<<8 | int(b[19])<<16 | int(b[20])<<24
		raw := int(b[21]) | int(b[22])<<8 | int(b[23])<<16 | int(b[24])<<24
		require.LessOrEqual(t, raw, FrameSize)
		b = b[16+size:]
		n++
	}
	return n
}

func BenchmarkCompress_LZ4(b *testing.B) {
	rows := testSpans(100_000)
	block := encodeSpans(b, nil, rows)
	var c Compressor
	var dst []byte
	b.SetBytes(int64(len(block)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		dst = c.Compress(dst[:0], block, LZ4)
	}
}
