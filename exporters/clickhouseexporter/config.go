package clickhouseexporter

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/weirhq/weir/rollup"
)

// Config is the clickhouse exporter's configuration.
type Config struct {
	// Endpoint is host:port of the server's native protocol, optionally prefixed with
	// tcp:// (or clickhouse://); several comma-separated endpoints are tried in order.
	Endpoint string `mapstructure:"endpoint"`
	// Database holds weir's tables; it is created when CreateSchema is on.
	Database string `mapstructure:"database"`
	// Username and Password authenticate; Password is redacted wherever the config is
	// printed. Use ${env:WEIR_CLICKHOUSE_PASSWORD} to keep it out of the file.
	Username string              `mapstructure:"username"`
	Password configopaque.String `mapstructure:"password"`
	// TLS is off unless tls.insecure is false.
	TLS configtls.ClientConfig `mapstructure:"tls"`
	// Compression of blocks on the wire: none, lz4 (default) or zstd.
	Compression string `mapstructure:"compression"`
	// DialTimeout bounds connecting to a server.
	DialTimeout time.Duration `mapstructure:"dial_timeout"`
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
	// Rollup schedules the tier rollup job and retention inside weir. The metrics exporter runs
	// them (it writes the 1m tiers); a traces-only exporter does not.
	Rollup         RollupConfig                                             `mapstructure:"rollup"`
	RetryOnFailure configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`
	SendingQueue   configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
}

// RollupConfig schedules rollup.Job and rollup.ApplyRetention.
type RollupConfig struct {
	// Interval between rollup runs over the last Lookback; 0 turns the schedule off (run
	// `weir rollup` from cron instead).
	Interval time.Duration `mapstructure:"interval"`
	Lookback time.Duration `mapstructure:"lookback"`
	// Grace is how long after a window ends its finer rows may still arrive.
	Grace time.Duration `mapstructure:"grace"`
	// RetentionInterval between retention runs; 0 turns retention off.
	RetentionInterval time.Duration `mapstructure:"retention_interval"`
	// Retention overrides the default keep time of a table (spans 15d, metric points 15d,
	// 1m tiers 30d, 1h tiers 400d, 1d tiers 5 years); 0 keeps a table forever.
	Retention map[string]time.Duration `mapstructure:"retention"`
}

var _ component.Config = (*Config)(nil)

// Validate reports every mistake in cfg at once.
func (cfg *Config) Validate() error {
	var errs []error
	if _, err := cfg.addrs(); err != nil {
		errs = append(errs, err)
	}
	if err := rollup.ValidateDatabase(cfg.Database); err != nil {
		errs = append(errs, fmt.Errorf("database: %w", err))
	}
	switch cfg.Compression {
	case "none", "lz4", "zstd":
	default:
		errs = append(errs, fmt.Errorf("compression %q: use none, lz4 or zstd", cfg.Compression))
	}
	if cfg.DialTimeout <= 0 {
		errs = append(errs, fmt.Errorf("dial_timeout must be positive, got %s", cfg.DialTimeout))
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
	r := cfg.Rollup
	if r.Interval < 0 || r.Lookback < 0 || r.Grace < 0 || r.RetentionInterval < 0 {
		errs = append(errs, errors.New("rollup: interval, lookback, grace and retention_interval must not be negative"))
	}
	if r.Interval > 0 && r.Lookback < time.Hour {
		errs = append(errs, fmt.Errorf("rollup.lookback must be at least 1h when the rollup runs, got %s", r.Lookback))
	}
	known := rollup.DefaultRetention()
	for table, d := range r.Retention {
		if _, ok := known[table]; !ok {
			errs = append(errs, fmt.Errorf("rollup.retention: unknown table %q", table))
		}
		if d < 0 {
			errs = append(errs, fmt.Errorf("rollup.retention[%s] must not be negative, got %s", table, d))
		}
	}
	if cfg.Password != "" && cfg.Username == "" {
		errs = append(errs, errors.New("password is set but username is empty: set username too"))
	}
	return errors.Join(errs...)
}

// addrs parses Endpoint into host:port addresses.
func (cfg *Config) addrs() ([]string, error) {
	if strings.TrimSpace(cfg.Endpoint) == "" {
		return nil, errors.New("endpoint is empty: set it to the server's native port, e.g. tcp://127.0.0.1:9000")
	}
	var out []string
	for _, e := range strings.Split(cfg.Endpoint, ",") {
		e = strings.TrimSpace(e)
		for _, p := range []string{"tcp://", "clickhouse://"} {
			e = strings.TrimPrefix(e, p)
		}
		if strings.Contains(e, "://") {
			return nil, fmt.Errorf("endpoint %q: only the native protocol (tcp://host:port) is supported", e)
		}
		host, port, err := net.SplitHostPort(e)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("endpoint %q: want host:port, e.g. 127.0.0.1:9000", e)
		}
		out = append(out, e)
	}
	return out, nil
}
