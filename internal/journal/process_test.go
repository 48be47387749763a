//go:build linux

package journal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The subprocess tests re-run this test binary with one of these set; in the subprocess the
// test does the part that needs its own process.
const (
	fsizeEnv   = "JOURNAL_TEST_FSIZE_DIR"
	killDirEnv = "JOURNAL_TEST_KILL_DIR"
	killSeqEnv = "JOURNAL_TEST_KILL_SEQ"
)

func subprocess(t *testing.T, test string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// TestAppend_FileSizeLimit makes a real write fail half-way: a subprocess lowers its
// RLIMIT_FSIZE (which binds root too, and needs no privilege) below what the next record
// needs, so the kernel writes part of it and returns EFBIG. (Go ignores SIGXFSZ.)
func TestAppend_FileSizeLimit(t *testing.T) {
	dir := os.Getenv(fsizeEnv)
	if dir == "" {
		dir = t.TempDir()
		out, err := subprocess(t, "TestAppend_FileSizeLimit", fsizeEnv+"="+dir).CombinedOutput()
		require.NoError(t, err, "subprocess:\n%s", out)
		// The subprocess's records, read back here.
		l := openT(t, dir, Options{})
		assert.Zero(t, l.Recovery().Cut)
		recs := readAll(t, l, 0)
		require.Len(t, recs, 5)
		for i, size := range []int{10000, 10000, 10000, 5000, 20000} {
			assert.Equal(t, payload(i, size), recs[i].Payload)
		}
		return
	}

	var old syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old))
	l, err := Open(dir, Options{})
	require.NoError(t, err)
	for i := range 3 {
		_, err := l.Append(1, payload(i, 10000))
		require.NoError(t, err)
	}
	end := l.End() // 30027
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 40000, Max: old.Max}))
	_, err = l.Append(1, payload(99, 20000))
	require.ErrorIs(t, err, syscall.EFBIG)
	seg := segFile(dir, 0)
	assert.EqualError(t, err, "journal: append to "+seg+" at offset 30027: file too large")
	assert.Equal(t, end, l.End())
	assert.Equal(t, int64(end), fileSize(t, seg), "the kernel wrote part of the record; it was cut")

	_, err = l.Append(1, payload(3, 5000)) // fits below the limit
	require.NoError(t, err)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old))
	_, err = l.Append(1, payload(4, 20000))
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

// TestProcessKill appends in a subprocess that reports each acknowledged record through a
// pipe and is killed with SIGKILL at a random moment, three times over the same log: every
// acknowledged record is found after each restart, in order, and nothing torn.
func TestProcessKill(t *testing.T) {
	if dir := os.Getenv(killDirEnv); dir != "" {
		seq, err := strconv.Atoi(os.Getenv(killSeqEnv))
		require.NoError(t, err)
		killHelper(t, dir, seq)
		return
	}

	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	var found []Record
	cuts := 0
	for round := range 3 {
		acked := killRound(t, dir, len(found), 20+rng.IntN(200), time.Duration(rng.IntN(2000))*time.Microsecond)

		l, err := Open(dir, Options{})
		require.NoError(t, err)
		found = readAll(t, l, 0)
		require.NoError(t, l.Close())
		t.Logf("round %d: %d records acknowledged, %d found; recovery %+v", round, acked[len(acked)-1].seq+1, len(found), l.Recovery())
		if l.Recovery().Cut > 0 {
			cuts++
		}

		require.GreaterOrEqual(t, len(found), acked[len(acked)-1].seq+1, "every acknowledged record survives")
		for i, rec := range found {
			require.True(t, sameRecord(t, killRecord(i, rec.Pos), rec), "record %d", i)
		}
		for _, a := range acked {
			require.Equal(t, a.pos, found[a.seq].Pos, "record %d where Append said", a.seq)
		}
	}
	t.Logf("%d of 3 kills left a torn record", cuts)
}

type ack struct {
	seq int
	pos Pos
}

// killRound starts the helper appending from record seq, kills it `wait` after `after` of them
// are acknowledged, and returns the acknowledgements.
func killRound(t *testing.T, dir string, seq, after int, wait time.Duration) []ack {
	t.Helper()
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	cmd := subprocess(t, "TestProcessKill", killDirEnv+"="+dir, killSeqEnv+"="+strconv.Itoa(seq))
	cmd.ExtraFiles = []*os.File{pw} // fd 3 in the helper
	stderr, err := os.CreateTemp(t.TempDir(), "stderr")
	require.NoError(t, err)
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stderr, stderr
	require.NoError(t, cmd.Start())
	require.NoError(t, pw.Close())

	var acked []ack
	br := bufio.NewReader(pr)
	var b [16]byte
	killed := false
	for {
		if _, err := io.ReadFull(br, b[:]); err != nil {
			require.ErrorIs(t, err, io.EOF, "the helper's pipe")
			break
		}
		acked = append(acked, ack{int(binary.LittleEndian.Uint64(b[:])), Pos(binary.LittleEndian.Uint64(b[8:]))})
		if len(acked) == after && !killed {
			go func() {
				time.Sleep(wait)
				_ = cmd.Process.Signal(syscall.SIGKILL)
			}()
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		out, _ := os.ReadFile(stderr.Name())
		require.FailNow(t, "the helper stopped by itself", "%v\n%s", err, out)
	}
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, syscall.SIGKILL, ee.Sys().(syscall.WaitStatus).Signal())
	require.NotEmpty(t, acked)
	return acked
}

// killBlock is what the kill test's payloads are cut from, so that the helper spends its time
// in write(2) rather than making payloads, and a kill lands in the middle of a write often.
var killBlock = payload(0, 1<<20)

// killPieces are the payload of the kill test's record number seq: seq, then up to 256 KiB of
// killBlock, so that segments roll often.
func killPieces(seq int) [2][]byte {
	off, n := seq%(512<<10), (seq*7919)%(256<<10)
	return [2][]byte{binary.LittleEndian.AppendUint64(nil, uint64(seq)), killBlock[off : off+n]}
}

func killRecord(seq int, pos Pos) Record {
	pieces := killPieces(seq)
	p := append(append([]byte(nil), pieces[0]...), pieces[1]...)
	return Record{Pos: pos, Type: byte(seq), Payload: p, Next: pos + headerSize + Pos(len(p))}
}

func killHelper(t *testing.T, dir string, seq int) {
	ackw := os.NewFile(3, "ack")
	l, err := Open(dir, Options{SegmentBytes: 256 << 10})
	require.NoError(t, err)
	var b [16]byte
	deadline := time.Now().Add(20 * time.Second) // in case nobody kills us
	for ; time.Now().Before(deadline); seq++ {
		pieces := killPieces(seq)
		pos, err := l.Append(byte(seq), pieces[:]...)
		require.NoError(t, err)
		binary.LittleEndian.PutUint64(b[:], uint64(seq))
		binary.LittleEndian.PutUint64(b[8:], uint64(pos))
		if _, err := ackw.Write(b[:]); err != nil {
			require.True(t, errors.Is(err, syscall.EPIPE), "ack: %v", err)
			break
		}
	}
	require.NoError(t, l.Close())
}
