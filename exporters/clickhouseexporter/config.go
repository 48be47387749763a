package clickhouseexporter

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/weirhq/weir/internal/chclient"
)

// Config is the clickhouse exporter's configuration.
type Config struct {
	// ClickHouse is the server and database (endpoint, database, username, password, tls,
	// dial_timeout at the top level of the exporter's config).
	ClickHouse chclient.Config `mapstructure:",squash"`
	// Compression of blocks on the wire: none, lz4 (default) or zstd.
	Compression string `mapstructure:"compression"`
	// CreateSchema runs weir's migrations on start (and again before the first insert if
	// the server was away at start).
	CreateSchema bool `mapstructure:"create_schema"`
	// BlockMaxRows and BlockMaxBytes split one batch into several INSERTs when it is larger;
	// sending_queue.batch decides how large batches are and how often they go.
	BlockMaxRows  int `mapstructure:"block_max_rows"`
	BlockMaxBytes int `mapstructure:"block_max_bytes"`
	// Timeout bounds one export call (all inserts of a batch).
	Timeout time.Duration `mapstructure:"timeout"`
	// RetryOnFailure and SendingQueue are the collector's exporterhelper settings.
	RetryOnFailure configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`
	SendingQueue   configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
}

var _ component.Config = (*Config)(nil)

// Validate reports every mistake in cfg at once.
func (cfg *Config) Validate() error {
	errs := cfg.ClickHouse.Validate()
	switch cfg.Compression {
	case "none", "lz4", "zstd":
	default:
		errs = append(errs, fmt.Errorf("compression %q: use none, lz4 or zstd", cfg.Compression))
	}
	if cfg.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout must be positive, got %s", cfg.Timeout))
	}
	if cfg.BlockMaxRows < 1 {
		errs = append(errs, fmt.Errorf("block_max_rows must be at least 1, got %d", cfg.BlockMaxRows))
	}
	if cfg.BlockMaxBytes < 1<<10 {
		errs = append(errs, fmt.Errorf("block_max_bytes must be at least 1024, got %d", cfg.BlockMaxBytes))
	}
	return errors.Join(errs...)
}
