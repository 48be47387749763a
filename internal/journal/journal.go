package journal

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Pos is the global byte offset of a record's start. It increases forever across segments:
// the first record of a new log is at 0, and each record's Pos is the previous one's plus the
// previous one's 9-byte header and payload. It is kept across restarts by the name of the
// active segment, which TruncateBefore never deletes; only a log whose directory is emptied
// starts again at 0.
type Pos uint64

var (
	// ErrFull is returned (wrapped, with the size and the bound) by Append when the record
	// would take the log past Options.MaxBytes. The caller refuses new data until a consumer
	// has caught up and TruncateBefore has freed space.
	ErrFull = errors.New("journal is full")
	// ErrTooLarge is returned by Append for a payload larger than Options.MaxRecord.
	ErrTooLarge = errors.New("record too large")
	// ErrTruncated is returned when reading a position before Start: TruncateBefore has deleted
	// the segment that held it.
	ErrTruncated = errors.New("position truncated away")
	// ErrCorrupt is wrapped by every *CorruptError.
	ErrCorrupt = errors.New("corrupt journal")
	// ErrClosed is returned by the methods of a closed Log that need it open.
	ErrClosed = errors.New("journal closed")
)

// maxBuffered is the largest record Append assembles in its buffer to write with one call.
// Larger records are written piece by piece (one call per piece), which saves a copy that
// would cost more than the calls, and keeps the buffer small.
const maxBuffered = 1 << 20

// Log is a durable append-only log in a directory. It is safe for concurrent use: appends are
// serialized by one mutex, while reads, Size, Start and End take no lock that appends hold.
type Log struct {
	dir  string
	opts Options

	end   atomic.Uint64 // Pos of the next record; published after the record is written
	start atomic.Uint64 // base of the oldest segment
	size  atomic.Int64  // bytes in all segment files

	// mu serializes appends and the writer's state below; held before syncMu and segMu.
	mu     sync.Mutex
	f      file     // the active segment, open for writing
	active *segment // the last of segs
	buf    []byte   // assembles header and payload for one write call
	hdr    [headerSize]byte
	// dirty is set when a failed write could not be cut back: the active file may hold part
	// of a record past End, and no append may follow it until the truncation succeeds.
	dirty  bool
	closed atomic.Bool

	// syncMu is held across an fdatasync of the active file outside mu, so that a roll does not
	// close the file under it.
	syncMu sync.Mutex
	synced Pos // End at the last successful sync of the active file; under syncMu

	// segMu guards segs and start against a roll (appending a segment) and TruncateBefore
	// (removing some); readers take it to find the segment holding a position.
	segMu sync.RWMutex
	segs  []*segment // oldest first; never empty

	lock     *os.File
	recovery Recovery
	stop     chan struct{}
	done     chan struct{}
	wrap     func(file) file // tests inject failures through it
}

// Recovery describes what Open found, for the caller to log.
type Recovery struct {
	Segments int   // segment files found
	Cut      int64 // bytes cut from the end of the last segment: a torn or corrupt tail
	CutAt    Pos   // where the cut bytes began (End after Open) if Cut > 0
	Reason   string
}

// Open opens the log in dir, creating dir if needed. If the last segment ends in a torn or
// corrupt record (a process killed mid-write, a power loss), the file is cut after the last
// good record; Recovery says what was cut. Only one Log may have dir open at a time.
func Open(dir string, opts Options) (*Log, error) {
	return open(dir, opts, nil)
}

func open(dir string, opts Options, wrap func(file) file) (*Log, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("journal: create %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l := &Log{dir: dir, opts: opts, lock: lock, wrap: wrap}
	if err := l.load(); err != nil {
		return nil, errors.Join(err, lock.Close())
	}
	if opts.Sync == SyncInterval {
		l.stop, l.done = make(chan struct{}), make(chan struct{})
		go l.syncLoop()
	}
	return l, nil
}

// load lists the segments, recovers the last one and opens it for appending.
func (l *Log) load() error {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("journal: list %s: %w", l.dir, err)
	}
	for _, e := range entries { // sorted by name, and so by base
		base, ok := parseSegName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		s := &segment{base: base, path: segPath(l.dir, base)}
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("journal: stat %s: %w", s.path, err)
		}
		s.size.Store(info.Size())
		l.size.Add(info.Size())
		if n := len(l.segs); n > 0 {
			l.segs[n-1].end.Store(uint64(base))
		}
		l.segs = append(l.segs, s)
	}
	l.recovery.Segments = len(l.segs)
	if len(l.segs) == 0 {
		f, err := l.create(0)
		if err != nil {
			return err
		}
		l.f = f
		return nil
	}

	last := l.segs[len(l.segs)-1]
	f, err := os.OpenFile(last.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("journal: open %s: %w", last.path, pathErr(err))
	}
	good, cut, err := recoverTail(last, f)
	if err == nil && cut != nil {
		l.recovery.Cut, l.recovery.CutAt, l.recovery.Reason = last.size.Load()-good, last.base+Pos(good), cut.Reason
		if err = f.Truncate(good); err != nil {
			err = fmt.Errorf("journal: cut torn tail of %s at offset %d: %w", last.path, good, pathErr(err))
		} else if l.opts.Sync != SyncNone {
			if err = datasync(f); err != nil {
				err = fmt.Errorf("journal: sync %s after cutting its tail: %w", last.path, pathErr(err))
			}
		}
		l.size.Add(good - last.size.Load())
		last.size.Store(good)
	}
	if err != nil {
		return errors.Join(err, f.Close())
	}
	l.active, l.f = last, l.wrapFile(f)
	l.start.Store(uint64(l.segs[0].base))
	l.end.Store(uint64(last.base) + uint64(good))
	l.synced = l.End()
	return nil
}

// recoverTail checks the records of the last segment and returns the offset after the last
// good one and, if anything follows it, why that is not a record.
func recoverTail(s *segment, f *os.File) (good int64, cut *CorruptError, err error) {
	r := segReader{seg: s, f: f}
	size := s.size.Load()
	for good < size {
		_, _, next, err := r.record(good, size)
		if errors.As(err, &cut) {
			return good, cut, nil
		}
		if err != nil {
			return 0, nil, err
		}
		good = next
	}
	return good, nil, nil
}

func (l *Log) wrapFile(f *os.File) file {
	if l.wrap != nil {
		return l.wrap(osFile{f})
	}
	return osFile{f}
}

// create creates the segment file with the given base and makes it the active segment.
// The caller holds mu, and seals the previous active segment in the same segMu section.
func (l *Log) create(base Pos) (file, error) {
	s := &segment{base: base, path: segPath(l.dir, base)}
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("journal: create segment %s: %w", s.path, pathErr(err))
	}
	preallocate(f, l.opts.SegmentBytes)
	if l.opts.Sync != SyncNone {
		if err := syncDir(l.dir); err != nil {
			return nil, errors.Join(fmt.Errorf("journal: sync %s: %w", l.dir, err), f.Close(), os.Remove(s.path))
		}
	}
	l.segMu.Lock()
	if l.active != nil {
		l.active.end.Store(uint64(base))
	}
	l.segs = append(l.segs, s)
	if len(l.segs) == 1 {
		l.start.Store(uint64(base))
	}
	l.segMu.Unlock()
	l.active = s
	return l.wrapFile(f), nil
}

// roll seals the active segment and starts a new one at End. The caller holds mu.
func (l *Log) roll() error {
	old := l.f
	// Under SyncInterval the background syncer only ever flushes the active segment, so the
	// sealed one is flushed here; under SyncAlways it already is.
	if l.opts.Sync == SyncInterval {
		if err := old.Datasync(); err != nil {
			return fmt.Errorf("journal: sync %s before starting a new segment: %w", l.active.path, pathErr(err))
		}
	}
	f, err := l.create(l.End())
	if err != nil {
		return err
	}
	l.f = f
	l.syncMu.Lock() // a background sync may still be using the old file
	err = old.Close()
	l.synced = l.End()
	l.syncMu.Unlock()
	if err != nil {
		return fmt.Errorf("journal: close sealed segment: %w", err)
	}
	return nil
}

// Append writes one record, of type typ and the payload pieces concatenated, and returns its
// Pos. It does not keep the pieces. When Append returns nil the record is in the page cache
// (and on disk under SyncAlways) and readers can see it. It returns an error wrapping ErrFull
// at Options.MaxBytes, ErrTooLarge beyond Options.MaxRecord, ErrClosed after Close, or a write
// error naming the file and offset; after an error no part of the record is visible and the
// log can be appended to again.
func (l *Log) Append(typ byte, payload ...[]byte) (Pos, error) {
	return l.append(typ, false, payload)
}

// AppendReserved is Append that may use Options.Reserve: for a record that lets the log be
// freed, which must go in when ordinary records fill the log.
func (l *Log) AppendReserved(typ byte, payload ...[]byte) (Pos, error) {
	return l.append(typ, true, payload)
}

func (l *Log) append(typ byte, reserved bool, payload [][]byte) (Pos, error) {
	n := 0
	for _, p := range payload {
		n += len(p)
	}
	if n > l.opts.MaxRecord {
		return 0, fmt.Errorf("journal: append %d bytes: %w (MaxRecord %d)", n, ErrTooLarge, l.opts.MaxRecord)
	}
	// The checksum does not depend on where the record goes, so it is computed outside the lock.
	sum := typeCRC[typ]
	for _, p := range payload {
		sum = crc32.Update(sum, castagnoli, p)
	}
	rec := int64(headerSize + n)

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return 0, ErrClosed
	}
	pos := l.End()
	off := int64(pos - l.active.base)
	if l.dirty {
		if err := l.f.Truncate(off); err != nil {
			return 0, fmt.Errorf("journal: append to %s: part of a failed write at offset %d cannot be cut: %w", l.active.path, off, pathErr(err))
		}
		l.dirty = false
	}
	if l.opts.MaxBytes > 0 {
		limit := l.opts.MaxBytes
		if !reserved {
			limit -= l.opts.Reserve
		}
		if size := l.size.Load(); size+rec > limit {
			return 0, l.full(rec, size, limit)
		}
	}
	if off > 0 && off+rec > l.opts.SegmentBytes {
		if err := l.roll(); err != nil {
			return 0, err
		}
		off = 0
	}

	var err error
	if rec <= maxBuffered {
		if int64(cap(l.buf)) < rec {
			l.buf = make([]byte, rec, max(rec, min(2*int64(cap(l.buf)), maxBuffered)))
		}
		b := l.buf[:rec]
		putHeader(b, typ, n, sum)
		w := headerSize
		for _, p := range payload {
			w += copy(b[w:], p)
		}
		_, err = l.f.WriteAt(b, off)
	} else {
		putHeader(l.hdr[:], typ, n, sum)
		_, err = l.f.WriteAt(l.hdr[:], off)
		w := off + headerSize
		for _, p := range payload {
			if err != nil {
				break
			}
			_, err = l.f.WriteAt(p, w)
			w += int64(len(p))
		}
	}
	if err == nil && l.opts.Sync == SyncAlways {
		if serr := l.f.Datasync(); serr != nil {
			err = fmt.Errorf("fdatasync: %w", pathErr(serr))
		}
	}
	if err != nil {
		return 0, l.undo(off, err)
	}
	l.active.size.Add(rec)
	l.size.Add(rec)
	l.end.Store(uint64(pos) + uint64(rec))
	return pos, nil
}

// undo cuts the active file back to off after a failed write or sync, so that no partial
// record stays in front of later ones. The caller holds mu.
func (l *Log) undo(off int64, cause error) error {
	err := fmt.Errorf("journal: append to %s at offset %d: %w", l.active.path, off, pathErr(cause))
	if terr := l.f.Truncate(off); terr != nil {
		l.dirty = true
		return errors.Join(err, fmt.Errorf("journal: cut %s back to offset %d: %w", l.active.path, off, pathErr(terr)))
	}
	return err
}

// full returns the ErrFull error. If the active segment holds records, it is sealed first, so
// that once they are consumed TruncateBefore can free them: otherwise a log whose bound is
// taken by the active segment alone could never accept a record again. The caller holds mu.
func (l *Log) full(rec, size, limit int64) error {
	err := fmt.Errorf("journal: append %d bytes to %s: %w (%d of %d bytes in use)", rec, l.dir, ErrFull, size, limit)
	if l.End() > l.active.base {
		if rerr := l.roll(); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	return err
}

// End returns the Pos the next record will get: the end of the last record.
func (l *Log) End() Pos { return Pos(l.end.Load()) }

// Start returns the Pos of the oldest record on disk (End if the log is empty).
func (l *Log) Start() Pos { return Pos(l.start.Load()) }

// Size returns the bytes of all segment files, the quantity Options.MaxBytes bounds.
func (l *Log) Size() int64 { return l.size.Load() }

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// Recovery returns what Open found and cut.
func (l *Log) Recovery() Recovery { return l.recovery }

// TruncateBefore deletes the segments that end at or before p, oldest first, never the active
// one: it frees what the caller has consumed, a whole segment at a time. Start moves to the
// base of the oldest remaining segment. Readers that have a deleted segment open keep reading
// it; a read of a position before Start fails with ErrTruncated.
func (l *Log) TruncateBefore(p Pos) error {
	if l.closed.Load() {
		return ErrClosed
	}
	l.segMu.Lock()
	defer l.segMu.Unlock()
	i := 0
	var err error
	for ; i < len(l.segs)-1 && l.segs[i+1].base <= p; i++ {
		s := l.segs[i]
		if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = fmt.Errorf("journal: delete segment %s: %w", s.path, pathErr(rerr))
			break
		}
		if cerr := s.closeReader(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("journal: close segment %s: %w", s.path, cerr))
		}
		l.size.Add(-s.size.Load())
	}
	if i == 0 {
		return err
	}
	clear(l.segs[:i]) // the deleted segments' memory is not kept by the slice's array
	l.segs = l.segs[i:]
	l.start.Store(uint64(l.segs[0].base))
	if l.opts.Sync != SyncNone {
		if serr := syncDir(l.dir); serr != nil {
			err = errors.Join(err, fmt.Errorf("journal: sync %s: %w", l.dir, serr))
		}
	}
	return err
}

// Sync flushes the active segment to the disk with fdatasync, whatever the policy.
func (l *Log) Sync() error {
	l.mu.Lock()
	if l.closed.Load() {
		l.mu.Unlock()
		return ErrClosed
	}
	f, end, path := l.f, l.End(), l.active.path
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Unlock() // appends go on while the disk flushes
	if end == l.synced {
		return nil
	}
	if err := f.Datasync(); err != nil {
		return fmt.Errorf("journal: sync %s: %w", path, pathErr(err))
	}
	l.synced = end
	return nil
}

func (l *Log) syncLoop() {
	defer close(l.done)
	t := time.NewTicker(l.opts.SyncEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			if err := l.Sync(); err != nil && !errors.Is(err, ErrClosed) && l.opts.OnSyncError != nil {
				l.opts.OnSyncError(err)
			}
		}
	}
}

// Close stops the background syncer, flushes the active segment unless the policy is
// SyncNone, and closes the files. Readers stay usable until their own Close.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed.Swap(true) {
		l.mu.Unlock()
		return nil
	}
	l.mu.Unlock()
	if l.stop != nil {
		close(l.stop)
		<-l.done
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	var err error
	l.segMu.Lock() // ReadAt reads under way finish first; later ones see closed
	for _, s := range l.segs {
		if cerr := s.closeReader(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("journal: close segment %s: %w", s.path, cerr))
		}
	}
	l.segMu.Unlock()
	if l.opts.Sync != SyncNone && !l.dirty {
		if serr := l.f.Datasync(); serr != nil {
			err = errors.Join(err, fmt.Errorf("journal: sync %s: %w", l.active.path, pathErr(serr)))
		}
	}
	return errors.Join(err, l.f.Close(), l.lock.Close())
}

// locate returns the segment holding p, opened for reading. Holding segMu while opening keeps
// TruncateBefore from deleting the file in between.
func (l *Log) locate(p Pos) (*segment, *os.File, error) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	s, err := l.locateLocked(p)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, nil, fmt.Errorf("journal: open %s: %w", s.path, pathErr(err))
	}
	return s, f, nil
}

// locateLocked returns the segment holding p; the caller holds segMu.
func (l *Log) locateLocked(p Pos) (*segment, error) {
	if start := l.Start(); p < start {
		return nil, fmt.Errorf("journal: read %s at position %d: %w (the oldest record is at %d)", l.dir, p, ErrTruncated, start)
	}
	if end := l.End(); p > end {
		return nil, fmt.Errorf("journal: read %s at position %d: past the end at %d", l.dir, p, end)
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > p }) - 1
	return l.segs[i], nil // i >= 0: p >= Start, the first base
}
