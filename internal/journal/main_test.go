package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// payload returns size bytes that depend on seq, with seq in the first 8 when they fit, so
// that a record read back can be checked against what was appended.
func payload(seq, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(seq*31 + i*7)
	}
	if size >= 8 {
		binary.LittleEndian.PutUint64(b, uint64(seq))
	}
	return b
}

func openT(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// readAll reads every record from from to the end, copying the payloads.
func readAll(t testing.TB, l *Log, from Pos) []Record {
	t.Helper()
	r := l.NewReader(from)
	defer r.Close()
	var recs []Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return recs
		}
		require.NoError(t, err)
		rec.Payload = append([]byte(nil), rec.Payload...)
		recs = append(recs, rec)
	}
}

// segFiles returns the log's segment files, oldest first.
func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	require.NoError(t, err)
	return m
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}

// sameRecord reports whether two records are equal, payloads compared by content (nil and
// empty alike), without printing megabytes of payload when they differ.
func sameRecord(t testing.TB, want, got Record) bool {
	t.Helper()
	if want.Pos != got.Pos || want.Type != got.Type || want.Next != got.Next || !bytes.Equal(want.Payload, got.Payload) {
		return assert.Fail(t, "records differ",
			"want pos %d type %d next %d len %d, got pos %d type %d next %d len %d (payloads equal: %v)",
			want.Pos, want.Type, want.Next, len(want.Payload), got.Pos, got.Type, got.Next, len(got.Payload),
			bytes.Equal(want.Payload, got.Payload))
	}
	return true
}

func sameRecords(t testing.TB, want, got []Record) {
	t.Helper()
	if !assert.Len(t, got, len(want)) {
		return
	}
	for i := range want {
		if !sameRecord(t, want[i], got[i]) {
			return
		}
	}
}
