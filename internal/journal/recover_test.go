package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Twelve records of 59 bytes in segments of 300: five in each of the segments at 0 and 295,
// records 10 and 11 in the last one, at 590.
const (
	fixtureRecords = 12
	fixtureSize    = 50
	fixtureRec     = headerSize + fixtureSize
)

var fixtureOpts = Options{SegmentBytes: 300}

func fixture(t *testing.T) (dir string, want []Record) {
	t.Helper()
	dir = t.TempDir()
	l, err := Open(dir, fixtureOpts)
	require.NoError(t, err)
	for i := range fixtureRecords {
		p := payload(i, fixtureSize)
		pos, err := l.Append(byte(i), p)
		require.NoError(t, err)
		want = append(want, Record{Pos: pos, Type: byte(i), Payload: p, Next: pos + fixtureRec})
	}
	require.NoError(t, l.Close())
	require.Len(t, segFiles(t, dir), 3)
	return dir, want
}

func segFile(dir string, base Pos) string { return filepath.Join(dir, segName(base)) }

// damage rewrites a segment file with edit applied to its bytes.
func damage(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, edit(b), 0o600))
}

// TestRecover damages the last segment the ways a killed process or a power loss can, and
// checks that Open keeps every good record before the damage, cuts the rest, and that
// appends continue from there.
func TestRecover(t *testing.T) {
	const last = 590 // the last segment's base; records 10 and 11 are at offsets 0 and 59
	tests := []struct {
		name   string
		edit   func([]byte) []byte
		keep   int    // records that survive
		cut    int64  // bytes cut
		reason string // why
	}{
		{name: "intact", edit: func(b []byte) []byte { return b }, keep: 12},
		{name: "cut in the last header", edit: func(b []byte) []byte { return b[:fixtureRec+4] },
			keep: 11, cut: 4, reason: "4 bytes left before the segment's end, fewer than a 9-byte header"},
		{name: "cut in the last payload", edit: func(b []byte) []byte { return b[:fixtureRec+headerSize+20] },
			keep: 11, cut: 29, reason: "length 50 runs past the segment's end at offset 88"},
		{name: "last payload byte flipped", edit: func(b []byte) []byte { b[fixtureRec+headerSize+10] ^= 1; return b },
			keep: 11, cut: fixtureRec, reason: "checksum"},
		{name: "last type byte flipped", edit: func(b []byte) []byte { b[fixtureRec+8] ^= 0x80; return b },
			keep: 11, cut: fixtureRec, reason: "checksum"},
		{name: "last length shortened", edit: func(b []byte) []byte { b[fixtureRec] = 40; return b },
			keep: 11, cut: fixtureRec, reason: "checksum"},
		{name: "garbage appended", edit: func(b []byte) []byte { return append(b, "\x07\x00\x00\x00garbage!"...) },
			keep: 12, cut: 12, reason: "length 7 runs past"},
		{name: "zeros appended", edit: func(b []byte) []byte { return append(b, make([]byte, 4096)...) },
			keep: 12, cut: 4096, reason: "checksum 527d5351, want 00000000"},
		{name: "first record of the segment torn", edit: func(b []byte) []byte { return b[:5] },
			keep: 10, cut: 5, reason: "fewer than a 9-byte header"},
		{name: "first record of the segment bad, second good", edit: func(b []byte) []byte { b[20] ^= 1; return b },
			keep: 10, cut: 2 * fixtureRec, reason: "checksum"},
		{name: "empty", edit: func(b []byte) []byte { return nil }, keep: 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, want := fixture(t)
			damage(t, segFile(dir, last), tc.edit)

			l := openT(t, dir, fixtureOpts)
			rec := l.Recovery()
			assert.Equal(t, 3, rec.Segments)
			assert.Equal(t, tc.cut, rec.Cut)
			assert.Contains(t, rec.Reason, tc.reason)
			end := want[tc.keep-1].Next
			assert.Equal(t, end, l.End())
			if tc.cut > 0 {
				assert.Equal(t, end, rec.CutAt)
			}
			assert.Equal(t, int64(end-last), fileSize(t, segFile(dir, last)), "the file is cut after the last good record")
			assert.Equal(t, int64(end), l.Size())
			sameRecords(t, want[:tc.keep], readAll(t, l, 0))

			pos, err := l.Append(99, []byte("after"))
			require.NoError(t, err)
			assert.Equal(t, end, pos)
			require.NoError(t, l.Close())

			l = openT(t, dir, fixtureOpts)
			assert.Zero(t, l.Recovery().Cut)
			got := readAll(t, l, 0)
			require.Len(t, got, tc.keep+1)
			sameRecord(t, Record{Pos: end, Type: 99, Payload: []byte("after"), Next: end + headerSize + 5}, got[tc.keep])
		})
	}
}

// TestCorrupt damages an older segment, which Open trusts: reading it reports the file and
// offset, never panics, and the error's Resume skips the damage.
func TestCorrupt(t *testing.T) {
	const bad = 2 * fixtureRec // record 2, in the first segment
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		at     Pos // the bad record
		path   Pos // base of the file named
		resume Pos
		reason string
	}{
		{name: "payload byte flipped", at: bad, resume: 295, reason: "checksum",
			damage: func(t *testing.T, dir string) {
				damage(t, segFile(dir, 0), func(b []byte) []byte { b[bad+30] ^= 0xff; return b })
			}},
		{name: "huge length", at: bad, resume: 295, reason: "length 4294967295 runs past the segment's end at offset 295",
			damage: func(t *testing.T, dir string) {
				damage(t, segFile(dir, 0), func(b []byte) []byte { binary.LittleEndian.PutUint32(b[bad:], ^uint32(0)); return b })
			}},
		{name: "length past the segment", at: bad, resume: 295, reason: "length 200 runs past",
			damage: func(t *testing.T, dir string) {
				damage(t, segFile(dir, 0), func(b []byte) []byte { binary.LittleEndian.PutUint32(b[bad:], 200); return b })
			}},
		{name: "file shorter than the segment", at: bad, resume: 295, reason: "the file ends at offset 150, before the segment's end at 295",
			damage: func(t *testing.T, dir string) {
				damage(t, segFile(dir, 0), func(b []byte) []byte { return b[:150] })
			}},
		{name: "file ends in a header", at: 4 * fixtureRec, resume: 295, reason: "the file ends at offset 240",
			damage: func(t *testing.T, dir string) {
				damage(t, segFile(dir, 0), func(b []byte) []byte { return b[:4*fixtureRec+4] })
			}},
		{name: "segment missing", at: 295, resume: 590, reason: "the file ends at offset 295, before the segment's end at 590",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.Remove(segFile(dir, 295)))
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, want := fixture(t)
			tc.damage(t, dir)
			l := openT(t, dir, fixtureOpts)
			assert.Zero(t, l.Recovery().Cut, "older segments are not checked at Open")

			r := l.NewReader(0)
			defer r.Close()
			var got []Record
			var err error
			for {
				var rec Record
				if rec, err = r.Next(); err != nil {
					break
				}
				rec.Payload = append([]byte(nil), rec.Payload...)
				got = append(got, rec)
			}
			n := int(tc.at / fixtureRec)
			sameRecords(t, want[:n], got)
			check := func(err error) {
				t.Helper()
				require.ErrorIs(t, err, ErrCorrupt)
				var ce *CorruptError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, segFile(dir, 0), ce.Path)
				assert.Equal(t, int64(tc.at), ce.Offset)
				assert.Equal(t, tc.at, ce.Pos)
				assert.Equal(t, tc.resume, ce.Resume)
				assert.Contains(t, ce.Reason, tc.reason)
				assert.Contains(t, err.Error(), "journal: corrupt record in "+segFile(dir, 0))
			}
			check(err)
			_, err = r.Next()
			check(err) // the reader stays at the bad record
			_, err = l.ReadAt(tc.at, nil)
			check(err)

			var ce *CorruptError
			require.ErrorAs(t, err, &ce)
			rest := readAll(t, l, ce.Resume)
			sameRecords(t, want[int(ce.Resume/fixtureRec):], rest)
		})
	}
}

// FuzzOpen writes arbitrary bytes as an older and as the last segment: Open, reading and
// appending must never panic, and whatever Open keeps of the last segment must read back.
func FuzzOpen(f *testing.F) {
	rec := func(typ byte, p string) []byte {
		b := make([]byte, headerSize+len(p))
		putHeader(b, typ, len(p), typeCRCOf(typ, []byte(p)))
		copy(b[headerSize:], p)
		return b
	}
	f.Add([]byte{})
	f.Add(rec(1, "hello"))
	f.Add(append(rec(1, "hello"), rec(2, "")...))
	f.Add(append(rec(1, "hello"), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0))
	f.Add(make([]byte, 100))
	f.Add(bytes.Repeat([]byte{0xff}, 20))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(segFile(dir, 0), data, 0o600))
		last := Pos(len(data)) + 1 // a gap of one byte after the older segment, for good measure
		require.NoError(t, os.WriteFile(segFile(dir, last), data, 0o600))

		l, err := Open(dir, Options{})
		require.NoError(t, err)
		defer l.Close()
		assert.LessOrEqual(t, l.End(), last+Pos(len(data)))

		for p, n := Pos(0), 0; n < 1000; n++ {
			r := l.NewReader(p)
			for {
				_, err = r.Next()
				if err != nil {
					break
				}
			}
			require.NoError(t, r.Close())
			if errors.Is(err, io.EOF) {
				break
			}
			var ce *CorruptError
			require.ErrorAs(t, err, &ce)
			require.Less(t, ce.Pos, l.End(), "no corruption past what Open kept")
			require.Greater(t, ce.Resume, p)
			p = ce.Resume
		}
		rs := readAll(t, l, last) // what Open kept of the last segment is all good
		pos, err := l.Append(1, []byte("x"))
		require.NoError(t, err)
		got, err := l.ReadAt(pos, nil)
		require.NoError(t, err)
		assert.Equal(t, []byte("x"), got.Payload)
		assert.Len(t, readAll(t, l, last), len(rs)+1)
	})
}

func typeCRCOf(typ byte, p []byte) uint32 {
	return crc32.Update(typeCRC[typ], castagnoli, p)
}
