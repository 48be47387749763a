package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSegName(t *testing.T) {
	f := func(base Pos, want string) {
		t.Helper()
		assert.Equal(t, want, segName(base))
		got, ok := parseSegName(want)
		assert.True(t, ok)
		assert.Equal(t, base, got)
	}
	f(0, "00000000000000000000.seg")
	f(67108873, "00000000000067108873.seg")
	f(^Pos(0), "18446744073709551615.seg")

	for _, bad := range []string{"LOCK", "0000000000000000000.seg", "0000000000000000000x.seg",
		"00000000000000000000.log", "99999999999999999999.seg", "00000000000000000000.seg.tmp"} {
		_, ok := parseSegName(bad)
		assert.False(t, ok, bad)
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name string
		in   Options
		want Options // checked when wantErr is empty
		err  string
	}{
		{name: "zero", in: Options{},
			want: Options{SegmentBytes: 64 << 20, MaxRecord: 64 << 20, SyncEvery: defaultSyncEvery}},
		{name: "bound scales the defaults", in: Options{MaxBytes: 1 << 20},
			want: Options{SegmentBytes: 256 << 10, MaxBytes: 1 << 20, MaxRecord: 1<<20 - headerSize, SyncEvery: defaultSyncEvery}},
		{name: "negative", in: Options{SegmentBytes: -1, MaxBytes: -1, MaxRecord: -1, SyncEvery: -1},
			err: "SegmentBytes -1 is negative\nMaxBytes -1 is negative\nMaxRecord -1 is not between 0 and 1073741824\nSyncEvery -1ns is negative"},
		{name: "record above the format's limit", in: Options{MaxRecord: 2 << 30}, err: "MaxRecord 2147483648 is not between"},
		{name: "policy", in: Options{Sync: 7}, err: "unknown sync policy SyncPolicy(7)"},
		{name: "bound below one record", in: Options{MaxBytes: 1000, MaxRecord: 1000},
			err: "MaxBytes 1000 cannot hold one record of MaxRecord 1000 bytes"},
		{name: "segment above the bound", in: Options{MaxBytes: 1000, SegmentBytes: 2000},
			err: "SegmentBytes 2000 is larger than MaxBytes 1000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.withDefaults()
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				_, err := Open(t.TempDir(), tc.in)
				assert.ErrorContains(t, err, tc.err, "Open reports it too")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestAppendRead appends records of every size class, across segment rolls, and reads them
// back with ReadAt, with a Reader, and again after reopening.
func TestAppendRead(t *testing.T) {
	const segBytes = 4096
	dir := t.TempDir()
	opts := Options{SegmentBytes: segBytes}
	l := openT(t, dir, opts)
	assert.Equal(t, Pos(0), l.Start())
	assert.Equal(t, Pos(0), l.End())

	sizes := []int{0, 1, 8, 100, 1000, segBytes - headerSize, segBytes, 3 * segBytes, 0, 7, 2000, 2000, 2000, 50, maxBuffered + 10}
	var want []Record
	for i, size := range sizes {
		p := payload(i, size)
		typ := byte(i % 5)
		end := l.End()
		pos, err := l.Append(typ, p)
		require.NoError(t, err)
		assert.Equal(t, end, pos, "a record goes at the end")
		want = append(want, Record{Pos: pos, Type: typ, Payload: p, Next: pos + Pos(headerSize+size)})
		assert.Equal(t, want[i].Next, l.End())
	}

	check := func(l *Log) {
		t.Helper()
		for _, w := range want {
			got, err := l.ReadAt(w.Pos, nil)
			require.NoError(t, err)
			sameRecord(t, w, got)
		}
		sameRecords(t, want, readAll(t, l, 0))
		_, err := l.ReadAt(l.End(), nil)
		assert.ErrorIs(t, err, io.EOF)
		_, err = l.ReadAt(l.End()+1, nil)
		assert.ErrorContains(t, err, "past the end")

		var total int64
		for _, f := range segFiles(t, dir) {
			total += fileSize(t, f)
		}
		assert.Equal(t, total, l.Size())
		assert.Equal(t, int64(l.End()), l.Size(), "nothing truncated yet")
	}
	check(l)

	// Segments: a record never spans two, and one larger than SegmentBytes is alone in its own.
	files := segFiles(t, dir)
	assert.Greater(t, len(files), 5)
	for _, f := range files {
		base, ok := parseSegName(filepath.Base(f))
		require.True(t, ok)
		recs := 0
		for _, w := range want {
			if w.Pos >= base && w.Pos < base+Pos(fileSize(t, f)) {
				recs++
				assert.LessOrEqual(t, w.Next, base+Pos(fileSize(t, f)), "record at %d spans a segment end", w.Pos)
			}
		}
		if fileSize(t, f) > segBytes {
			assert.Equal(t, 1, recs, "%s is larger than SegmentBytes, so holds one record", f)
		}
	}

	require.NoError(t, l.Close())
	l = openT(t, dir, opts)
	assert.Equal(t, Recovery{Segments: len(files)}, l.Recovery())
	check(l)
}

func TestAppend_Pieces(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	for _, tc := range []struct {
		name   string
		pieces [][]byte
	}{
		{"none", nil},
		{"empty pieces", [][]byte{{}, nil, {}}},
		{"small", [][]byte{[]byte("ab"), nil, []byte("cde")}},
		{"large, written piece by piece", [][]byte{payload(1, maxBuffered/2), payload(2, maxBuffered/2), payload(3, 100)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pos, err := l.Append(9, tc.pieces...)
			require.NoError(t, err)
			var want []byte
			for _, p := range tc.pieces {
				want = append(want, p...)
			}
			buf := make([]byte, 0, 16)
			rec, err := l.ReadAt(pos, buf)
			require.NoError(t, err)
			assert.Equal(t, byte(9), rec.Type)
			assert.Equal(t, len(want), len(rec.Payload))
			assert.True(t, string(want) == string(rec.Payload))
			if len(want) <= cap(buf) {
				assert.Same(t, &buf[:1][0], &rec.Payload[:1][0], "ReadAt reuses a buffer that is large enough")
			}
		})
	}
}

// TestAppend_Concurrent has several goroutines append while a reader follows: every record is
// read exactly once, in Pos order, and each writer's records in the order it appended them.
func TestAppend_Concurrent(t *testing.T) {
	const writers, perWriter = 4, 400
	l := openT(t, t.TempDir(), Options{SegmentBytes: 32 << 10})

	var wg sync.WaitGroup
	done := make(chan struct{})
	defer func() { <-done }()
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				p := make([]byte, 16+(i*37)%500)
				binary.LittleEndian.PutUint64(p, uint64(w))
				binary.LittleEndian.PutUint64(p[8:], uint64(i))
				if _, err := l.Append(byte(w), p[:8], p[8:]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	r := l.NewReader(l.Start())
	defer r.Close()
	next := make([]uint64, writers)
	var last Pos
	for n := 0; n < writers*perWriter; {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			select {
			case <-done:
				if l.End() == r.Pos() {
					require.FailNow(t, "the writers stopped early", "read %d records", n)
				}
			default:
				runtime.Gosched() // the writers are still going
			}
			continue
		}
		require.NoError(t, err)
		if n > 0 {
			require.Greater(t, rec.Pos, last)
		}
		last = rec.Pos
		w, i := binary.LittleEndian.Uint64(rec.Payload), binary.LittleEndian.Uint64(rec.Payload[8:])
		require.Equal(t, byte(w), rec.Type)
		require.Equal(t, next[w], i, "writer %d's records in order, once each", w)
		next[w]++
		n++
	}
	<-done
	_, err := r.Next()
	assert.ErrorIs(t, err, io.EOF)
	assert.Greater(t, len(segFiles(t, l.Dir())), 10)
}

// TestReader_Follows reads to the end, then past it as records are appended, across rolls.
func TestReader_Follows(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentBytes: 100})
	r := l.NewReader(0)
	defer r.Close()
	_, err := r.Next()
	require.ErrorIs(t, err, io.EOF)
	for i := range 20 {
		pos, err := l.Append(1, payload(i, 40)) // 49 bytes: two records a segment
		require.NoError(t, err)
		rec, err := r.Next()
		require.NoError(t, err)
		assert.Equal(t, pos, rec.Pos)
		assert.True(t, bytes.Equal(payload(i, 40), rec.Payload))
		assert.Equal(t, l.End(), r.Pos())
		_, err = r.Next()
		require.ErrorIs(t, err, io.EOF)
	}
	assert.Len(t, segFiles(t, l.Dir()), 10)
}

// TestTruncateBefore deletes only whole segments that end at or before the position, never
// the active one; a reader with a deleted segment open goes on; one before Start fails.
func TestTruncateBefore(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentBytes: 100})
	var pos []Pos
	for i := range 10 {
		p, err := l.Append(1, payload(i, 41)) // 50 bytes: two records a segment
		require.NoError(t, err)
		pos = append(pos, p)
	}
	require.Len(t, segFiles(t, dir), 5)

	early := l.NewReader(0)
	defer early.Close()
	_, err := early.Next() // holds segment 0 open
	require.NoError(t, err)

	require.NoError(t, l.TruncateBefore(pos[3]), "segment 1 ends after record 3's start")
	assert.Len(t, segFiles(t, dir), 4)
	assert.Equal(t, Pos(100), l.Start())
	assert.Equal(t, int64(400), l.Size())

	require.NoError(t, l.TruncateBefore(pos[4]), "segment 1 ends at record 4's start")
	assert.Len(t, segFiles(t, dir), 3)
	assert.Equal(t, pos[4], l.Start())
	assert.Equal(t, int64(300), l.Size())

	// The early reader finishes the deleted segment 0 from its open file, then finds 1 gone.
	rec, err := early.Next()
	require.NoError(t, err)
	assert.Equal(t, pos[1], rec.Pos)
	_, err = early.Next()
	require.ErrorIs(t, err, ErrTruncated)
	assert.ErrorContains(t, err, "at position 100: position truncated away (the oldest record is at 200)")

	_, err = l.ReadAt(pos[0], nil)
	assert.ErrorIs(t, err, ErrTruncated)
	assert.Equal(t, pos[4:], positions(readAll(t, l, l.Start())))

	require.NoError(t, l.TruncateBefore(l.End()+1000), "never the active segment")
	assert.Len(t, segFiles(t, dir), 1)
	assert.Equal(t, pos[8], l.Start())
	assert.Equal(t, pos[8:], positions(readAll(t, l, l.Start())))

	// Reopening keeps the positions.
	require.NoError(t, l.Close())
	l = openT(t, dir, Options{SegmentBytes: 100})
	assert.Equal(t, pos[8], l.Start())
	assert.Equal(t, Pos(500), l.End())
	p, err := l.Append(1, nil)
	require.NoError(t, err)
	assert.Equal(t, Pos(500), p)
}

// Ordinary records stop short of Reserve; AppendReserved may fill the log to MaxBytes.
func TestReserve(t *testing.T) {
	const rec = 100 + headerSize
	l := openT(t, t.TempDir(), Options{SegmentBytes: 2 * rec, MaxBytes: 6 * rec, Reserve: 2 * rec})
	for range 4 {
		_, err := l.Append(1, payload(0, 100))
		require.NoError(t, err)
	}
	_, err := l.Append(1, payload(0, 100))
	require.ErrorIs(t, err, ErrFull)
	assert.ErrorContains(t, err, fmt.Sprintf("(%d of %d bytes in use)", 4*rec, 4*rec))
	for range 2 {
		_, err = l.AppendReserved(2, payload(0, 100))
		require.NoError(t, err, "the reserve takes what ordinary records may not")
	}
	_, err = l.AppendReserved(2, payload(0, 100))
	require.ErrorIs(t, err, ErrFull, "not past MaxBytes")
	assert.Equal(t, int64(6*rec), l.Size())

	_, err = Open(t.TempDir(), Options{MaxBytes: 100, Reserve: 100})
	require.ErrorContains(t, err, "Reserve 100 is not between 0 and MaxBytes 100")
}

func positions(recs []Record) []Pos {
	var ps []Pos
	for _, r := range recs {
		ps = append(ps, r.Pos)
	}
	return ps
}

func TestMaxBytes(t *testing.T) {
	const rec = 100 + headerSize
	t.Run("sealed segments", func(t *testing.T) {
		l := openT(t, t.TempDir(), Options{SegmentBytes: 2 * rec, MaxBytes: 7*rec + headerSize})
		for range 7 {
			_, err := l.Append(1, payload(0, 100))
			require.NoError(t, err)
		}
		_, err := l.Append(1, payload(0, 100))
		require.ErrorIs(t, err, ErrFull)
		assert.ErrorContains(t, err, "journal: append 109 bytes to "+l.Dir()+": journal is full (763 of 772 bytes in use)")
		assert.Equal(t, int64(7*rec), l.Size())
		_, err = l.Append(1, nil)
		require.NoError(t, err, "a smaller record still fits")

		require.NoError(t, l.TruncateBefore(2*rec))
		assert.Equal(t, int64(5*rec+headerSize), l.Size())
		for range 2 {
			_, err = l.Append(1, payload(0, 100))
			require.NoError(t, err)
		}
		assert.Equal(t, int64(7*rec+headerSize), l.Size())
	})
	t.Run("the active segment alone", func(t *testing.T) {
		// The bound is taken by the active segment: ErrFull seals it, so that TruncateBefore can
		// free it once consumed.
		l := openT(t, t.TempDir(), Options{SegmentBytes: 3 * rec, MaxBytes: 3 * rec})
		for range 3 {
			_, err := l.Append(1, payload(0, 100))
			require.NoError(t, err)
		}
		for range 2 {
			_, err := l.Append(1, payload(0, 100))
			require.ErrorIs(t, err, ErrFull)
		}
		assert.Len(t, segFiles(t, l.Dir()), 2, "sealed once, not once per refusal")
		require.NoError(t, l.TruncateBefore(l.End()))
		assert.Equal(t, int64(0), l.Size())
		_, err := l.Append(1, payload(0, 100))
		require.NoError(t, err)
		assert.Equal(t, Pos(3*rec), l.Start())
	})
}

func TestAppend_TooLarge(t *testing.T) {
	l := openT(t, t.TempDir(), Options{MaxRecord: 10})
	_, err := l.Append(1, make([]byte, 6), make([]byte, 5))
	require.ErrorIs(t, err, ErrTooLarge)
	assert.EqualError(t, err, "journal: append 11 bytes: record too large (MaxRecord 10)")
	_, err = l.Append(1, make([]byte, 10))
	require.NoError(t, err)
}

func TestOpen_Errors(t *testing.T) {
	t.Run("not a directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(path, nil, 0o600))
		_, err := Open(path, Options{})
		assert.ErrorContains(t, err, "journal: create "+path)
	})
	t.Run("created", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "b")
		l := openT(t, dir, Options{})
		assert.Equal(t, []string{filepath.Join(dir, "00000000000000000000.seg")}, segFiles(t, dir))
		require.NoError(t, l.Close())
	})
	t.Run("in use", func(t *testing.T) {
		dir := t.TempDir()
		l := openT(t, dir, Options{})
		_, err := Open(dir, Options{})
		assert.ErrorContains(t, err, "is in use by another Log")
		require.NoError(t, l.Close())
		l = openT(t, dir, Options{})
		require.NoError(t, l.Close())
	})
	t.Run("unreadable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			// Root reads any directory: run this subtest again as nobody.
			asNobody(t, "^TestOpen_Errors$/^unreadable$")
			return
		}
		dir := t.TempDir()
		require.NoError(t, os.Chmod(dir, 0o300))
		t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
		_, err := Open(dir, Options{})
		assert.ErrorContains(t, err, "journal: list "+dir)
	})
}

func TestClose(t *testing.T) {
	l, err := Open(t.TempDir(), Options{Sync: SyncInterval, SyncEvery: time.Millisecond})
	require.NoError(t, err)
	pos, err := l.Append(1, []byte("x"))
	require.NoError(t, err)
	r := l.NewReader(pos)
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "twice")

	_, err = l.Append(1, nil)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, l.Sync(), ErrClosed)
	assert.ErrorIs(t, l.TruncateBefore(1), ErrClosed)
	rec, err := r.Next()
	require.NoError(t, err, "readers stay usable")
	assert.Equal(t, []byte("x"), rec.Payload)
	require.NoError(t, r.Close())
}

func TestSyncPolicies(t *testing.T) {
	for _, p := range []SyncPolicy{SyncNone, SyncInterval, SyncAlways} {
		t.Run(p.String(), func(t *testing.T) {
			dir := t.TempDir()
			l := openT(t, dir, Options{Sync: p, SyncEvery: 1e6, SegmentBytes: 200,
				OnSyncError: func(err error) { t.Error(err) }})
			for i := range 10 {
				_, err := l.Append(1, payload(i, 60))
				require.NoError(t, err)
				require.NoError(t, l.Sync())
			}
			require.NoError(t, l.TruncateBefore(l.End()))
			require.NoError(t, l.Close())
			l = openT(t, dir, Options{Sync: p})
			assert.Equal(t, Pos(690), l.End())
		})
	}
}

// asNobody runs the test binary's tests matching run as user nobody (65534) and fails t
// unless they ran and passed. The binary is copied where nobody may execute it.
func asNobody(t *testing.T, run string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "journal-nobody") // t.TempDir's parent is root's alone
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "journal.test")
	b, err := os.ReadFile(os.Args[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, b, 0o755))
	cmd := exec.Command(bin, "-test.run", run, "-test.v", "-test.count", "1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TMPDIR="+os.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "as nobody:\n%s", out)
	require.Contains(t, string(out), "--- PASS", "as nobody:\n%s", out)
	require.NotContains(t, string(out), "--- SKIP", "as nobody:\n%s", out)
}

// TestReadAt_KeepsSegmentsOpen: ReadAt opens each segment once and keeps it open; deleting a
// segment closes it, and closing the log closes them all (no file left open), after which
// ReadAt fails with ErrClosed. Concurrent reads, appends and truncations run under -race.
func TestReadAt_KeepsSegmentsOpen(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{SegmentBytes: 100})
	require.NoError(t, err)
	openFiles := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		n := 0
		for _, e := range ents {
			if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(target, dir) {
				n++
			}
		}
		return n
	}
	base := openFiles() // the active segment and the lock
	var pos []Pos
	for i := range 10 {
		p, err := l.Append(1, payload(i, 41)) // two records a segment
		require.NoError(t, err)
		pos = append(pos, p)
	}
	for range 3 {
		for i, p := range pos {
			rec, err := l.ReadAt(p, nil)
			require.NoError(t, err)
			require.True(t, bytes.Equal(payload(i, 41), rec.Payload))
		}
	}
	assert.Equal(t, base+5, openFiles(), "each of the 5 segments opened once for reading")
	require.NoError(t, l.TruncateBefore(pos[4]))
	assert.Equal(t, base+3, openFiles(), "the 2 deleted segments' files closed")

	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := l.Start()
				rec, err := l.ReadAt(start, nil)
				if err != nil {
					assert.ErrorIs(t, err, ErrTruncated, "only a truncation may come between Start and the read")
					continue
				}
				assert.Len(t, rec.Payload, 41)
			}
		}()
	}
	for i := 10; i < 200; i++ {
		_, err := l.Append(1, payload(i, 41))
		require.NoError(t, err)
		require.NoError(t, l.TruncateBefore(l.End()))
	}
	close(stop)
	wg.Wait()

	require.NoError(t, l.Close())
	assert.Zero(t, openFiles(), "Close closes every file, the readers' too")
	_, err = l.ReadAt(pos[9], nil)
	assert.ErrorIs(t, err, ErrClosed)
}
