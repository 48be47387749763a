//go:build !linux

package journal

import "os"

// datasync flushes f to the disk; outside Linux it is a full fsync.
func datasync(f *os.File) error { return f.Sync() }

// preallocate is a no-op outside Linux.
func preallocate(*os.File, int64) {}
