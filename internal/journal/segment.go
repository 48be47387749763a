package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
)

const (
	headerSize = 9
	segSuffix  = ".seg"
	segDigits  = 20 // decimal digits of a uint64
	// readAhead is how much a sequential reader reads at once, so that small records do not
	// cost a system call each.
	readAhead = 64 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// typeCRC[t] is the CRC-32C of the single byte t: Append starts each record's checksum from it
// rather than pass a one-byte slice through crc32's function pointer, which would allocate.
var typeCRC = func() (t [256]uint32) {
	for i := range t {
		t[i] = crc32.Update(0, castagnoli, []byte{byte(i)})
	}
	return t
}()

// putHeader writes a record's header into h[:headerSize].
func putHeader(h []byte, typ byte, n int, sum uint32) {
	binary.LittleEndian.PutUint32(h[0:4], uint32(n))
	binary.LittleEndian.PutUint32(h[4:8], sum)
	h[8] = typ
}

// segName is the file name of the segment with the given base.
func segName(base Pos) string {
	s := strconv.FormatUint(uint64(base), 10)
	b := make([]byte, 0, segDigits+len(segSuffix))
	for range segDigits - len(s) {
		b = append(b, '0')
	}
	return string(append(append(b, s...), segSuffix...))
}

// parseSegName returns the base of a segment file name, or false for any other file.
func parseSegName(name string) (Pos, bool) {
	if len(name) != segDigits+len(segSuffix) || name[segDigits:] != segSuffix {
		return 0, false
	}
	for _, c := range name[:segDigits] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(name[:segDigits], 10, 64)
	if err != nil {
		return 0, false
	}
	return Pos(v), true
}

// segment is one segment file. base and path never change; the writer updates size under the
// log's mutex, and end once, when it seals the segment, under segMu.
type segment struct {
	base Pos
	path string
	size atomic.Int64  // bytes in the file
	end  atomic.Uint64 // logical end (the next segment's base) once sealed; 0 while active
	// rd is the file opened for Log.ReadAt, on its first read of the segment, and kept open:
	// opening and closing it per read was 40 % of reading a kept trace back (a shipped-config
	// profile at 50k spans/s, 2026-12-07). It is closed, under segMu held for writing, when
	// the segment is deleted or the log closed; ReadAt reads under segMu held for reading, so
	// no read is under way then.
	rd atomic.Pointer[os.File]
}

// reader returns s's file opened for ReadAt, opening it if it is not yet. The caller holds
// segMu for reading.
func (s *segment) reader() (*os.File, error) {
	if f := s.rd.Load(); f != nil {
		return f, nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", s.path, pathErr(err))
	}
	if !s.rd.CompareAndSwap(nil, f) {
		_ = f.Close() // another ReadAt opened it meanwhile
		return s.rd.Load(), nil
	}
	return f, nil
}

// closeReader closes the file ReadAt kept open, if any. The caller holds segMu for writing.
func (s *segment) closeReader() error {
	if f := s.rd.Swap(nil); f != nil {
		return f.Close()
	}
	return nil
}

// limit returns where reading s must stop: its logical end if sealed, else the log's end,
// which the caller loaded before calling (see Reader.Next for why the order matters).
func (s *segment) limit(logEnd Pos) (limit Pos, sealed bool) {
	if e := Pos(s.end.Load()); e != 0 {
		return e, true
	}
	return logEnd, false
}

// CorruptError reports a record that cannot be read: a bad length, a checksum mismatch, or a
// segment file shorter than the log says it is. errors.Is(err, ErrCorrupt) is true.
type CorruptError struct {
	Path   string // the segment file
	Offset int64  // the record's offset in the file
	Pos    Pos    // the record's position
	Reason string
	// Resume is the first position after the damage that can be read: the end of the damaged
	// segment, which is the next segment's base (or the log's end at the time of the error, if
	// the damage is in the active segment). Records between Pos and Resume are lost.
	Resume Pos
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("journal: corrupt record in %s at offset %d (position %d): %s", e.Path, e.Offset, e.Pos, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// segReader reads the records of one segment file through a read-ahead buffer. Offsets are in
// the file; limit is the file offset where the readable part of the segment ends.
type segReader struct {
	seg *segment
	f   *os.File
	buf []byte // file bytes [off, off+len(buf))
	off int64
}

func (r *segReader) reset(seg *segment, f *os.File) {
	r.seg, r.f, r.buf, r.off = seg, f, r.buf[:0], 0
}

func (r *segReader) corrupt(off int64, limit int64, format string, args ...any) *CorruptError {
	return &CorruptError{
		Path:   r.seg.path,
		Offset: off,
		Pos:    r.seg.base + Pos(off),
		Reason: fmt.Sprintf(format, args...),
		Resume: r.seg.base + Pos(limit),
	}
}

// bytes returns the file bytes [off, off+n), valid until the next call. It reads ahead up to
// limit; it never reads at or past limit, where the writer may be writing.
func (r *segReader) bytes(off int64, n int, limit int64) ([]byte, error) {
	if off >= r.off && off+int64(n) <= r.off+int64(len(r.buf)) {
		return r.buf[off-r.off : off-r.off+int64(n)], nil
	}
	want := int(min(max(int64(n), readAhead), limit-off))
	if cap(r.buf) < want {
		r.buf = make([]byte, want)
	}
	r.buf = r.buf[:want]
	m, err := r.f.ReadAt(r.buf, off)
	r.buf, r.off = r.buf[:m], off
	if m < n {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, r.corrupt(off, limit, "the file ends at offset %d, before the segment's end at %d", off+int64(m), limit)
		}
		return nil, fmt.Errorf("journal: read %s at offset %d: %w", r.seg.path, off, pathErr(err))
	}
	return r.buf[:n], nil
}

// record reads the record at file offset off. The payload points into the reader's buffer.
func (r *segReader) record(off int64, limit int64) (typ byte, payload []byte, next int64, err error) {
	if limit-off < headerSize {
		return 0, nil, 0, r.corrupt(off, limit, "%d bytes left before the segment's end, fewer than a %d-byte header", limit-off, headerSize)
	}
	h, err := r.bytes(off, headerSize, limit)
	if err != nil {
		return 0, nil, 0, err
	}
	n := int64(binary.LittleEndian.Uint32(h[0:4]))
	sum := binary.LittleEndian.Uint32(h[4:8])
	if n > maxRecordLimit || off+headerSize+n > limit {
		return 0, nil, 0, r.corrupt(off, limit, "length %d runs past the segment's end at offset %d", n, limit)
	}
	b, err := r.bytes(off, headerSize+int(n), limit)
	if err != nil {
		return 0, nil, 0, err
	}
	if got := crc32.Update(0, castagnoli, b[8:]); got != sum {
		return 0, nil, 0, r.corrupt(off, limit, "checksum %08x, want %08x", got, sum)
	}
	return b[8], b[headerSize:], off + headerSize + n, nil
}

// pathErr drops the *os.PathError around err, for messages that name the file themselves.
func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// syncDir makes a file's creation or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

func segPath(dir string, base Pos) string { return filepath.Join(dir, segName(base)) }
