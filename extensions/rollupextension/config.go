package rollupextension

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/weirhq/weir/internal/chclient"
	"github.com/weirhq/weir/rollup"
)

// Config schedules rollup.Job and rollup.ApplyRetention.
type Config struct {
	// ClickHouse is the server and database (endpoint, database, cluster, username,
	// password, tls, dial_timeout), as in the clickhouse exporter. With cluster set the
	// rollup and retention run shard by shard on the local tables.
	ClickHouse chclient.Config `mapstructure:",squash"`
	// Interval between rollup runs over the last Lookback; 0 turns the rollup off.
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
	errs := cfg.ClickHouse.Validate()
	if cfg.Interval < 0 || cfg.Lookback < 0 || cfg.Grace < 0 || cfg.RetentionInterval < 0 {
		errs = append(errs, errors.New("interval, lookback, grace and retention_interval must not be negative"))
	}
	if cfg.Interval > 0 && cfg.Lookback < time.Hour {
		errs = append(errs, fmt.Errorf("lookback must be at least 1h when the rollup runs, got %s", cfg.Lookback))
	}
	if cfg.Interval == 0 && cfg.RetentionInterval == 0 {
		errs = append(errs, errors.New("interval and retention_interval are both 0: the extension would do nothing; remove it instead"))
	}
	known := rollup.DefaultRetention()
	for table, d := range cfg.Retention {
		if _, ok := known[table]; !ok {
			errs = append(errs, fmt.Errorf("retention: unknown table %q", table))
		}
		if d < 0 {
			errs = append(errs, fmt.Errorf("retention[%s] must not be negative, got %s", table, d))
		}
	}
	return errors.Join(errs...)
}

// policy is the default retention with cfg's overrides.
func (cfg *Config) policy() rollup.Retention {
	p := rollup.DefaultRetention()
	for t, d := range cfg.Retention {
		p[t] = d
	}
	return p
}
