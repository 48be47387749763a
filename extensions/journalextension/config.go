package journalextension

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/weirhq/weir/internal/journal"
)

// Config is weir_journal's configuration.
type Config struct {
	// Directory holds the logs; created if missing. Give each weir instance its own.
	Directory string `mapstructure:"directory"`
	// MaxSizeMiB bounds the queue of blocks not yet in ClickHouse: how long an outage weir
	// rides out (see README: about 30 bytes a stored span, compressed).
	MaxSizeMiB int64 `mapstructure:"max_size_mib"`
	// IngestMaxSizeMiB bounds the log of received requests, which holds seconds of traffic.
	IngestMaxSizeMiB int64 `mapstructure:"ingest_max_size_mib"`
	// SegmentSizeMiB is the size of one log file; space is freed a file at a time.
	SegmentSizeMiB int64 `mapstructure:"segment_size_mib"`
	// Sync is none (the page cache: survives a process kill), interval (fdatasync every
	// sync_interval: a power loss loses at most that) or always (every acknowledgement waits for
	// fdatasync).
	Sync         string        `mapstructure:"sync"`
	SyncInterval time.Duration `mapstructure:"sync_interval"`
}

var _ component.Config = (*Config)(nil)

// Validate reports every mistake at once.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Directory == "" {
		errs = append(errs, errors.New("directory is empty: set where weir keeps its journal, e.g. /var/lib/weir/journal"))
	}
	if cfg.MaxSizeMiB < 64 {
		errs = append(errs, fmt.Errorf("max_size_mib must be at least 64, got %d", cfg.MaxSizeMiB))
	}
	if cfg.IngestMaxSizeMiB < 64 {
		errs = append(errs, fmt.Errorf("ingest_max_size_mib must be at least 64, got %d", cfg.IngestMaxSizeMiB))
	}
	switch smaller := min(cfg.MaxSizeMiB, cfg.IngestMaxSizeMiB); {
	case cfg.SegmentSizeMiB < 1:
		errs = append(errs, fmt.Errorf("segment_size_mib must be at least 1, got %d", cfg.SegmentSizeMiB))
	case smaller >= 64 && cfg.SegmentSizeMiB*4 > smaller:
		// Space is freed a file at a time: a bound of a few files would refuse most of the time.
		errs = append(errs, fmt.Errorf("segment_size_mib (%d) must be at most a quarter of the smaller bound (%d)", cfg.SegmentSizeMiB, smaller))
	}
	if _, err := cfg.policy(); err != nil {
		errs = append(errs, err)
	}
	if cfg.Sync == "interval" && cfg.SyncInterval <= 0 {
		errs = append(errs, fmt.Errorf("sync_interval must be positive with sync: interval, got %s", cfg.SyncInterval))
	}
	return errors.Join(errs...)
}

func (cfg *Config) policy() (journal.SyncPolicy, error) {
	switch cfg.Sync {
	case "none", "":
		return journal.SyncNone, nil
	case "interval":
		return journal.SyncInterval, nil
	case "always":
		return journal.SyncAlways, nil
	}
	return 0, fmt.Errorf("sync %q: use none, interval or always", cfg.Sync)
}
