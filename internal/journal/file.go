package journal

import "os"

// file is the active segment as the writer uses it. Tests substitute one that fails.
type file interface {
	WriteAt(b []byte, off int64) (int, error)
	Truncate(size int64) error
	Datasync() error
	Close() error
}

// osFile is a segment file on disk.
type osFile struct{ *os.File }

func (f osFile) Datasync() error { return datasync(f.File) }
