package tailsample

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/klauspost/compress/s2"
)

// A held trace's spans are frames, one per batch its spans came in: a uvarint header (the
// payload's size << 1 | its kind), then the payload. Frames of either kind mix in one trace.
const (
	// frameS2: the spans as an s2-compressed TracesData message.
	frameS2 = 0
	// frameRef: the spans left where they are, in a request of the caller's log (Source): the
	// request's position, then the spans' ordinals in it (the order otlpwire reads them, every
	// span counted), the first as is and the rest as the difference to the one before, all
	// uvarints.
	frameRef = 1
)

// appendFrame appends src to dst as one s2 frame. The block is compressed into scratch
// first, so dst grows by the compressed size only: held memory is counted by capacity.
func appendFrame(dst, src []byte, scratch *[]byte) []byte {
	if need := s2.MaxEncodedLen(len(src)); cap(*scratch) < need {
		*scratch = make([]byte, need)
	}
	enc := s2.Encode((*scratch)[:cap(*scratch)], src)
	dst = binary.AppendUvarint(dst, uint64(len(enc))<<1|frameS2)
	return append(dst, enc...)
}

// appendRefFrame appends a frame referring to gr's spans, in the request at pos of the
// caller's log; its body is built in scratch.
func (g *groups) appendRefFrame(dst []byte, gr *group, pos uint64, scratch *[]byte) []byte {
	body := binary.AppendUvarint((*scratch)[:0], pos)
	prev := 0
	for i := gr.head; i >= 0; i = g.refs[i].next {
		body = binary.AppendUvarint(body, uint64(i-prev))
		prev = i
	}
	*scratch = body
	dst = binary.AppendUvarint(dst, uint64(len(body))<<1|frameRef)
	return append(dst, body...)
}

var errFrame = errors.New("tail sampler: corrupt frame in a held trace")

// nextFrame splits the first frame off frames.
func nextFrame(frames []byte) (kind int, payload, rest []byte, err error) {
	h, n := binary.Uvarint(frames)
	size := h >> 1
	if n <= 0 || uint64(len(frames)-n) < size {
		return 0, nil, nil, errFrame
	}
	return int(h & 1), frames[n : n+int(size)], frames[n+int(size):], nil
}

// appendDecoded appends the decompressed contents of an s2 frame's payload to dst.
func appendDecoded(dst, block []byte) ([]byte, error) {
	dl, err := s2.DecodedLen(block)
	if err != nil {
		return dst, err
	}
	start := len(dst)
	dst = slices.Grow(dst, dl)[:start+dl]
	if _, err := s2.Decode(dst[start:], block); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// readRef reads a reference frame's payload: the request's position and the ordinals,
// appended to ords.
func readRef(payload []byte, ords []int) (pos uint64, _ []int, err error) {
	pos, n := binary.Uvarint(payload)
	if n <= 0 {
		return 0, ords, errFrame
	}
	payload = payload[n:]
	prev := 0
	for len(payload) > 0 {
		d, n := binary.Uvarint(payload)
		if n <= 0 || d > 1<<31 {
			return 0, ords, errFrame
		}
		payload = payload[n:]
		prev += int(d)
		ords = append(ords, prev)
	}
	if len(ords) == 0 {
		return 0, ords, fmt.Errorf("%w: a reference to no span", errFrame)
	}
	return pos, ords, nil
}
