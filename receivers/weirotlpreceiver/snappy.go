package weirotlpreceiver

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"slices"

	gosnappy "github.com/golang/snappy"
	"github.com/klauspost/compress/snappy"
)

// snappyFramed starts every stream in snappy's framing format ("x-snappy-framed"), which
// some senders label "snappy" too: confighttp tells the two apart by it, and so does this.
var snappyFramed = []byte{0xff, 0x06, 0x00, 0x00, 's', 'N', 'a', 'P', 'p', 'Y'}

// snappyDecoder decodes "Content-Encoding: snappy" bodies with their memory counted against
// max_inflight_mib. A block-format body does not stream: confighttp's decoder reads it whole
// and decodes it before the handler reads a byte, so up to max_request_body_size of every
// such request escaped the in-flight bound (readBody counts only the copy it makes). Here the
// decoded length, which the block's header gives, is taken from the bound first, and a body
// that does not fit is refused with 503, as readBody refuses any other, before the rest of it
// is read. The framing format streams, and readBody counts its output as it reads it.
func (r *otlpReceiver) snappyDecoder(maxBody int64) func(io.ReadCloser) (io.ReadCloser, error) {
	return func(body io.ReadCloser) (io.ReadCloser, error) {
		return &snappyBody{r: r, body: body, max: maxBody}, nil
	}
}

// snappyEnabled says whether confighttp would decode "snappy" with its compression_algorithms
// (nil: its defaults, which include it).
func snappyEnabled(algorithms []string) bool {
	return algorithms == nil || slices.Contains(algorithms, "snappy")
}

// snappyBody is one request's body, decoded on its first Read.
type snappyBody struct {
	r        *otlpReceiver
	body     io.ReadCloser
	max      int64
	out      io.Reader // the decoded body once the first Read has set it up
	err      error
	reserved int64
}

func (b *snappyBody) Read(p []byte) (int, error) {
	if b.out == nil && b.err == nil {
		b.out, b.err = b.open()
	}
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.out.Read(p)
	if err == io.EOF {
		// readBody has its own copy now: the decoded body goes, and its share with it.
		b.out, b.err = nil, io.EOF
		b.r.limits.release(b.reserved)
		b.reserved = 0
	}
	return n, err
}

func (b *snappyBody) open() (io.Reader, error) {
	br := bufio.NewReader(b.body)
	head, err := br.Peek(len(snappyFramed))
	if err != nil && err != io.EOF {
		return nil, err
	}
	if bytes.Equal(head, snappyFramed) {
		return snappy.NewReader(br), nil
	}
	head, err = br.Peek(binary.MaxVarintLen64)
	if err != nil && err != io.EOF {
		return nil, err
	}
	n, err := snappy.DecodedLen(head)
	if err != nil {
		return nil, fmt.Errorf("snappy: %w", err)
	}
	if int64(n) > b.max {
		return nil, &http.MaxBytesError{Limit: b.max}
	}
	// The decoded body and, while it is decoded, the compressed one, within snappy's own
	// bound: golang/snappy's (klauspost's is its encoder's, tighter than what golang/snappy
	// and the C++ library write, a literal header per 64 KiB block of incompressible data).
	encMax := gosnappy.MaxEncodedLen(n)
	if encMax < 0 {
		return nil, fmt.Errorf("snappy: %w", gosnappy.ErrTooLarge)
	}
	if err := b.r.limits.acquire(int64(n+encMax), b.r.tel); err != nil {
		return nil, err
	}
	b.reserved = int64(n + encMax)
	compressed, err := io.ReadAll(io.LimitReader(br, int64(encMax)+1))
	if err != nil {
		return nil, err
	}
	if len(compressed) > encMax {
		return nil, fmt.Errorf("snappy: %w: more bytes than a block of %d decoded bytes takes", snappy.ErrCorrupt, n)
	}
	decoded, err := snappy.Decode(make([]byte, n), compressed)
	if err != nil {
		return nil, fmt.Errorf("snappy: %w", err)
	}
	b.r.limits.release(int64(encMax))
	b.reserved = int64(n)
	return bytes.NewReader(decoded), nil
}

// Close gives back what the body took of the bound.
func (b *snappyBody) Close() error {
	b.r.limits.release(b.reserved)
	b.reserved = 0
	return b.body.Close()
}
