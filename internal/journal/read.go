package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Record is one record read from the log.
type Record struct {
	Pos     Pos  // where the record starts
	Type    byte // as given to Append
	Payload []byte
	Next    Pos // where the next record starts
}

// ReadAt reads the record at p, which must be a record boundary (a Pos returned by Append,
// a Record's Next, Start or End). The payload is read into buf if it is large enough, else
// into a new slice; the caller owns it. ReadAt keeps each segment it read open until the
// segment is deleted or the log closed; for reading many records in order, use a Reader. It
// returns io.EOF at End, an error wrapping ErrTruncated before Start, ErrClosed once the log
// is closed, and a *CorruptError for a record that fails its checks. Reads may run
// concurrently; TruncateBefore and a new segment wait for those under way.
func (l *Log) ReadAt(p Pos, buf []byte) (Record, error) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if l.closed.Load() {
		return Record{}, ErrClosed
	}
	seg, err := l.locateLocked(p)
	if err != nil {
		return Record{}, err
	}
	f, err := seg.reader()
	if err != nil {
		return Record{}, err
	}
	limit, _ := seg.limit(l.End())
	if p >= limit {
		return Record{}, io.EOF // p == End: locate found the active segment
	}
	// A segReader with no buffer of its own reads exactly the header, then the payload.
	r := segReader{seg: seg, f: f}
	off, lim := int64(p-seg.base), int64(limit-seg.base)
	if lim-off < headerSize {
		return Record{}, r.corrupt(off, lim, "%d bytes left before the segment's end, fewer than a %d-byte header", lim-off, headerSize)
	}
	var h [headerSize]byte
	if err := readFull(&r, h[:], off, off, lim); err != nil {
		return Record{}, err
	}
	n := int64(binary.LittleEndian.Uint32(h[0:4]))
	sum := binary.LittleEndian.Uint32(h[4:8])
	if n > maxRecordLimit || off+headerSize+n > lim {
		return Record{}, r.corrupt(off, lim, "length %d runs past the segment's end at offset %d", n, lim)
	}
	if int64(cap(buf)) >= n {
		buf = buf[:n]
	} else {
		buf = make([]byte, n)
	}
	if err := readFull(&r, buf, off+headerSize, off, lim); err != nil {
		return Record{}, err
	}
	if got := crc32.Update(typeCRC[h[8]], castagnoli, buf); got != sum {
		return Record{}, r.corrupt(off, lim, "checksum %08x, want %08x", got, sum)
	}
	return Record{Pos: p, Type: h[8], Payload: buf, Next: p + headerSize + Pos(n)}, nil
}

// readFull reads len(b) bytes at offset at of r's file, part of the record at offset rec,
// reporting a file that ends early as a corrupt record.
func readFull(r *segReader, b []byte, at, rec, limit int64) error {
	m, err := r.f.ReadAt(b, at)
	if m == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return r.corrupt(rec, limit, "the file ends at offset %d, before the segment's end at %d", at+int64(m), limit)
	}
	return fmt.Errorf("journal: read %s at offset %d: %w", r.seg.path, at, pathErr(err))
}

// Reader reads records in order, following the log across segments and past its end as more
// records are appended. It is not safe for concurrent use. It keeps one segment file open
// (which lets it finish a segment TruncateBefore deletes underneath it), and a read-ahead
// buffer of 64 KiB or the largest record it has read: Close it when done.
type Reader struct {
	l   *Log
	pos Pos
	r   segReader // r.f == nil until the segment holding pos is open
}

// NewReader returns a Reader whose first record is the one at from, a record boundary
// (a Pos returned by Append, a Record's Next, Start or End).
func (l *Log) NewReader(from Pos) *Reader {
	return &Reader{l: l, pos: from}
}

// Pos returns where the next record will be read from.
func (r *Reader) Pos() Pos { return r.pos }

// Next returns the next record. Its payload is valid until the next call to Next. At the end
// of the log it returns io.EOF, and a later call returns the records appended since. It
// returns an error wrapping ErrTruncated if the reader's position has been deleted by
// TruncateBefore, and a *CorruptError for a record that fails its checks (the reader stays
// where it is; use the error's Resume with a new Reader to skip the damage).
func (r *Reader) Next() (Record, error) {
	for {
		if r.r.f == nil {
			seg, f, err := r.l.locate(r.pos)
			if err != nil {
				return Record{}, err
			}
			r.r.reset(seg, f)
		}
		// The log's end is loaded before the segment's: a writer seals a segment before it
		// writes past it, so a segment seen as active here ends at or after end.
		end := r.l.End()
		seg := r.r.seg
		limit, sealed := seg.limit(end)
		if r.pos < limit {
			typ, payload, next, err := r.r.record(int64(r.pos-seg.base), int64(limit-seg.base))
			if err != nil {
				return Record{}, err
			}
			rec := Record{Pos: r.pos, Type: typ, Payload: payload, Next: seg.base + Pos(next)}
			r.pos = rec.Next
			return rec, nil
		}
		if !sealed {
			return Record{}, io.EOF
		}
		// The segment is read to its end: go on in the next one.
		if err := r.closeFile(); err != nil {
			return Record{}, err
		}
	}
}

func (r *Reader) closeFile() error {
	f := r.r.f
	r.r.f = nil
	if f == nil {
		return nil
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("journal: close %s: %w", r.r.seg.path, pathErr(err))
	}
	return nil
}

// Close releases the reader's open segment file.
func (r *Reader) Close() error { return r.closeFile() }
