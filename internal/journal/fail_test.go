package journal

import (
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faults makes the active segment fail like a full or broken disk.
type faults struct {
	mu       sync.Mutex
	budget   int64 // bytes writes may still add before failing with ENOSPC; < 0 is no limit
	truncErr error
	syncErr  error
}

type faultyFile struct {
	file
	f *faults
}

func (ff faultyFile) WriteAt(b []byte, off int64) (int, error) {
	ff.f.mu.Lock()
	defer ff.f.mu.Unlock()
	if ff.f.budget < 0 || int64(len(b)) <= ff.f.budget {
		if ff.f.budget >= 0 {
			ff.f.budget -= int64(len(b))
		}
		return ff.file.WriteAt(b, off)
	}
	n, err := ff.file.WriteAt(b[:ff.f.budget], off) // a short write, as a disk filling up gives
	ff.f.budget = 0
	if err != nil {
		return n, err
	}
	return n, syscall.ENOSPC
}

func (ff faultyFile) Truncate(size int64) error {
	ff.f.mu.Lock()
	defer ff.f.mu.Unlock()
	if ff.f.truncErr != nil {
		return ff.f.truncErr
	}
	return ff.file.Truncate(size)
}

func (ff faultyFile) Datasync() error {
	ff.f.mu.Lock()
	defer ff.f.mu.Unlock()
	if ff.f.syncErr != nil {
		return ff.f.syncErr
	}
	return ff.file.Datasync()
}

func (f *faults) set(budget int64, truncErr, syncErr error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.budget, f.truncErr, f.syncErr = budget, truncErr, syncErr
}

// TestAppend_WriteFailure fails the write (or the sync) of a record: Append returns an error
// naming the file and offset, no part of the record is visible or left in front of later
// records, and appends work again once the fault is gone.
func TestAppend_WriteFailure(t *testing.T) {
	const good = 3 // records appended before the fault, of 100 bytes each
	tests := []struct {
		name     string
		sync     SyncPolicy
		size     int   // of the record that fails
		budget   int64 // bytes the disk takes of it
		truncErr error
		syncErr  error
		errIs    error
		err      string
	}{
		{name: "disk full in the payload", size: 100, budget: 30, errIs: syscall.ENOSPC, err: "no space left on device"},
		{name: "disk full at the header", size: 100, budget: 0, errIs: syscall.ENOSPC, err: "no space left on device"},
		{name: "disk full in a later piece of a large record", size: maxBuffered + 1000, budget: maxBuffered / 2,
			errIs: syscall.ENOSPC, err: "no space left on device"},
		{name: "sync fails", sync: SyncAlways, size: 100, budget: -1, syncErr: syscall.EIO,
			errIs: syscall.EIO, err: "fdatasync: input/output error"},
		{name: "disk full and the cut fails", size: 100, budget: 30, truncErr: syscall.EIO,
			errIs: syscall.ENOSPC, err: "no space left on device\njournal: cut "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := &faults{budget: -1}
			opts := Options{Sync: tc.sync}
			l, err := open(dir, opts, func(fl file) file { return faultyFile{fl, f} })
			require.NoError(t, err)
			defer l.Close()
			var want []Record
			for i := range good {
				pos, err := l.Append(1, payload(i, 100))
				require.NoError(t, err)
				want = append(want, Record{Pos: pos, Type: 1, Payload: payload(i, 100), Next: l.End()})
			}
			end := l.End()
			seg := segFile(dir, 0)

			f.set(tc.budget, tc.truncErr, tc.syncErr)
			_, err = l.Append(2, payload(100, tc.size/2), payload(101, tc.size-tc.size/2))
			require.ErrorIs(t, err, tc.errIs)
			assert.ErrorContains(t, err, "journal: append to "+seg+" at offset 327: "+tc.err)
			assert.Equal(t, end, l.End())
			assert.Equal(t, int64(end), l.Size())
			sameRecords(t, want, readAll(t, l, 0))

			if tc.truncErr != nil {
				// Part of the record stays in the file, after End: appends refuse to follow it
				// until it can be cut.
				assert.Equal(t, int64(end)+tc.budget, fileSize(t, seg))
				f.set(-1, tc.truncErr, nil)
				_, err = l.Append(3, payload(3, 10))
				require.ErrorIs(t, err, syscall.EIO)
				assert.ErrorContains(t, err, "journal: append to "+seg+": part of a failed write at offset 327 cannot be cut: input/output error")
				assert.Equal(t, int64(end)+tc.budget, fileSize(t, seg))
			} else {
				assert.Equal(t, int64(end), fileSize(t, seg), "no partial record left")
			}

			f.set(-1, nil, nil)
			pos, err := l.Append(3, payload(3, 10))
			require.NoError(t, err)
			assert.Equal(t, end, pos)
			want = append(want, Record{Pos: pos, Type: 3, Payload: payload(3, 10), Next: l.End()})
			sameRecords(t, want, readAll(t, l, 0))

			require.NoError(t, l.Close())
			l = openT(t, dir, opts)
			assert.Zero(t, l.Recovery().Cut)
			sameRecords(t, want, readAll(t, l, 0))
		})
	}
}

// TestAppend_WriteFailureThenRestart fails a write and its cut, and the log is closed before
// the cut succeeds (as a process killed then would leave it): Open finds the partial record at
// the tail and cuts it.
func TestAppend_WriteFailureThenRestart(t *testing.T) {
	dir := t.TempDir()
	f := &faults{budget: -1}
	l, err := open(dir, Options{}, func(fl file) file { return faultyFile{fl, f} })
	require.NoError(t, err)
	_, err = l.Append(1, payload(1, 100))
	require.NoError(t, err)
	f.set(50, syscall.EIO, nil)
	_, err = l.Append(1, payload(2, 100))
	require.Error(t, err)
	require.NoError(t, l.Close())

	l = openT(t, dir, Options{})
	assert.Equal(t, Recovery{Segments: 1, Cut: 50, CutAt: 109, Reason: "length 100 runs past the segment's end at offset 159"}, l.Recovery())
	recs := readAll(t, l, 0)
	require.Len(t, recs, 1)
	assert.Equal(t, payload(1, 100), recs[0].Payload)
}
