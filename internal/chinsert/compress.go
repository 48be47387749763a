package chinsert

import (
	"fmt"

	"github.com/ClickHouse/ch-go/compress"
)

// Compression is how an Insert body is encoded on the wire.
type Compression uint8

const (
	// None sends the Native bytes as they are.
	None Compression = iota
	// LZ4 is ClickHouse's own framing (checksum, method, sizes) around LZ4 blocks, sent
	// with decompress=1. About 37 % of the plain size for span-like rows; cheapest to make.
	LZ4
	// ZSTD is the same framing around zstd blocks: about 25 % of plain, more client CPU.
	ZSTD
)

func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case LZ4:
		return "lz4"
	case ZSTD:
		return "zstd"
	}
	return fmt.Sprintf("Compression(%d)", uint8(c))
}

// FrameSize is how many uncompressed bytes go into one compressed frame: ClickHouse's own
// max_compress_block_size, so the server decompresses into a buffer of the size it expects.
const FrameSize = 1 << 20

// Compressor frames encoded Native blocks for an Insert with decompress=1, keeping its
// encoders from call to call. It reuses ch-go's compress.Writer, whose frames the server
// checks (CityHash128 checksum) before decoding. A Compressor is not safe for concurrent use;
// the zero value is ready.
type Compressor struct {
	lz4, zstd *compress.Writer
}

// Compress appends src, framed and compressed with m, to dst and returns the extended
// slice. With None it appends src unchanged. src is split into frames of FrameSize bytes.
// dst and src must not overlap. It panics on an unknown m (a bug in the caller).
func (c *Compressor) Compress(dst, src []byte, m Compression) []byte {
	var w *compress.Writer
	switch m {
	case None:
		return append(dst, src...)
	case LZ4:
		if c.lz4 == nil {
			c.lz4 = compress.NewWriter(compress.LevelZero, compress.LZ4)
		}
		w = c.lz4
	case ZSTD:
		if c.zstd == nil {
			c.zstd = compress.NewWriter(compress.LevelZero, compress.ZSTD)
		}
		w = c.zstd
	default:
		panic(fmt.Sprintf("chinsert: compress with unknown %v", m))
	}
	for len(src) > 0 {
		n := min(len(src), FrameSize)
		// Writer.Compress fails only on a frame over 4 GiB, which FrameSize rules out.
		if err := w.Compress(src[:n]); err != nil {
			panic(fmt.Sprintf("chinsert: compress %d bytes with %v: %v", n, m, err))
		}
		dst = append(dst, w.Data...)
		src = src[n:]
	}
	return dst
}

// Compress appends src, framed and compressed with m, to dst, as Compressor.Compress does,
// with encoders made for this call only. Code that compresses block after block keeps a
// Compressor instead: a zstd encoder costs more to set up than a small block to compress.
func Compress(dst, src []byte, m Compression) []byte {
	var c Compressor
	return c.Compress(dst, src, m)
}
