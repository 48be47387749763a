package journal

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// A new segment's blocks are reserved up front, and its size stays what was written: Size,
// recovery and readers see only records.
func TestSegment_Preallocated(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{SegmentBytes: 8 << 20})
	require.NoError(t, err)
	defer l.Close()
	_, err = l.Append(1, make([]byte, 1000))
	require.NoError(t, err)
	info, err := os.Stat(segPath(dir, 0))
	require.NoError(t, err)
	require.Equal(t, int64(headerSize+1000), info.Size())
	require.Equal(t, int64(headerSize+1000), l.Size())
	st := info.Sys().(*syscall.Stat_t)
	if st.Blocks*512 < 8<<20 {
		// tmpfs and some others reserve nothing: nothing to check there.
		var fs syscall.Statfs_t
		require.NoError(t, syscall.Statfs(dir, &fs))
		require.NotEqual(t, int64(0xEF53), fs.Type, "ext4 holds %d bytes for the segment, want its 8 MiB", st.Blocks*512)
	}
}
