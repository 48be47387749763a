package tailsample

import (
	"encoding/binary"
	"errors"
	"slices"

	"github.com/klauspost/compress/s2"
)

// appendFrame appends src to dst as one frame: its s2-compressed length, then the block. The
// block is compressed into scratch first, so dst grows by the compressed size only: held
// memory is counted by capacity.
func appendFrame(dst, src []byte, scratch *[]byte) []byte {
	if need := s2.MaxEncodedLen(len(src)); cap(*scratch) < need {
		*scratch = make([]byte, need)
	}
	enc := s2.Encode((*scratch)[:cap(*scratch)], src)
	dst = binary.AppendUvarint(dst, uint64(len(enc)))
	return append(dst, enc...)
}

// appendDecoded appends the decompressed contents of frames to dst.
func appendDecoded(dst, frames []byte) ([]byte, error) {
	for len(frames) > 0 {
		size, n := binary.Uvarint(frames)
		if n <= 0 || uint64(len(frames)-n) < size {
			return dst, errors.New("tail sampler: corrupt frame in a held trace")
		}
		block := frames[n : n+int(size)]
		frames = frames[n+int(size):]
		dl, err := s2.DecodedLen(block)
		if err != nil {
			return dst, err
		}
		start := len(dst)
		dst = slices.Grow(dst, dl)[:start+dl]
		if _, err := s2.Decode(dst[start:], block); err != nil {
			return dst[:start], err
		}
	}
	return dst, nil
}
