package journal

import (
	"errors"
	"fmt"
	"time"
)

// SyncPolicy says when the log calls fdatasync; see the package documentation for what each
// policy survives.
type SyncPolicy uint8

const (
	// SyncNone leaves writing back to the kernel: survives a process kill, not a power loss.
	SyncNone SyncPolicy = iota
	// SyncInterval calls fdatasync in the background every Options.SyncEvery.
	SyncInterval
	// SyncAlways calls fdatasync before Append returns.
	SyncAlways
)

func (p SyncPolicy) String() string {
	switch p {
	case SyncNone:
		return "none"
	case SyncInterval:
		return "interval"
	case SyncAlways:
		return "always"
	}
	return fmt.Sprintf("SyncPolicy(%d)", uint8(p))
}

const (
	defaultSegmentBytes = 64 << 20
	defaultMaxRecord    = 64 << 20
	defaultSyncEvery    = time.Second
	// maxRecordLimit bounds Options.MaxRecord, and so every buffer a reader grows.
	maxRecordLimit = 1 << 30
)

// Options configure a Log. The zero value is usable: 64 MiB segments, no bound, SyncNone.
type Options struct {
	// SegmentBytes is the size at which the writer starts a new segment file. Default 64 MiB,
	// or a quarter of MaxBytes if that is smaller, so that consumed space is freed in steps.
	SegmentBytes int64
	// MaxBytes bounds the bytes of all segment files together; Append returns ErrFull rather
	// than pass it. 0 means no bound.
	MaxBytes int64
	// Reserve is the part of MaxBytes only AppendReserved may use: room for the records that
	// let the log be freed (a checkpoint that moves what its consumers need), which a log
	// filled to MaxBytes by ordinary records would otherwise refuse for good. Default 0.
	Reserve int64
	// Sync is the fdatasync policy. Default SyncNone.
	Sync SyncPolicy
	// SyncEvery is the period of SyncInterval. Default 1 s.
	SyncEvery time.Duration
	// OnSyncError, if set, is called from the background goroutine of SyncInterval when an
	// fdatasync fails (those records may not survive a power loss). It must not block.
	OnSyncError func(error)
	// MaxRecord is the largest payload Append accepts (ErrTooLarge). Default 64 MiB, or what
	// fits in MaxBytes if that is smaller; at most 1 GiB.
	MaxRecord int
}

// withDefaults returns o with its zero fields set, or every problem with it.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.SegmentBytes < 0 {
		errs = append(errs, fmt.Errorf("SegmentBytes %d is negative", o.SegmentBytes))
	}
	if o.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxBytes %d is negative", o.MaxBytes))
	}
	if o.Reserve < 0 || (o.Reserve > 0 && o.Reserve >= o.MaxBytes) {
		errs = append(errs, fmt.Errorf("Reserve %d is not between 0 and MaxBytes %d", o.Reserve, o.MaxBytes))
	}
	if o.MaxRecord < 0 || o.MaxRecord > maxRecordLimit {
		errs = append(errs, fmt.Errorf("MaxRecord %d is not between 0 and %d", o.MaxRecord, maxRecordLimit))
	}
	if o.SyncEvery < 0 {
		errs = append(errs, fmt.Errorf("SyncEvery %s is negative", o.SyncEvery))
	}
	if o.Sync > SyncAlways {
		errs = append(errs, fmt.Errorf("unknown sync policy %s", o.Sync))
	}
	if len(errs) > 0 {
		return o, errors.Join(errs...)
	}

	if o.SegmentBytes == 0 {
		o.SegmentBytes = defaultSegmentBytes
		if o.MaxBytes > 0 {
			o.SegmentBytes = max(min(o.SegmentBytes, o.MaxBytes/4), 1)
		}
	}
	if o.MaxRecord == 0 {
		o.MaxRecord = defaultMaxRecord
		if o.MaxBytes > 0 {
			o.MaxRecord = int(max(min(int64(o.MaxRecord), o.MaxBytes-headerSize), 0))
		}
	}
	if o.SyncEvery == 0 {
		o.SyncEvery = defaultSyncEvery
	}

	if o.MaxBytes > 0 {
		if o.MaxBytes < int64(o.MaxRecord)+headerSize {
			errs = append(errs, fmt.Errorf("MaxBytes %d cannot hold one record of MaxRecord %d bytes and its %d-byte header",
				o.MaxBytes, o.MaxRecord, headerSize))
		}
		if o.SegmentBytes > o.MaxBytes {
			errs = append(errs, fmt.Errorf("SegmentBytes %d is larger than MaxBytes %d", o.SegmentBytes, o.MaxBytes))
		}
	}
	return o, errors.Join(errs...)
}
