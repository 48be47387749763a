package serieslimitprocessor

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
)

// Config is the weir_series_limit processor's configuration.
type Config struct {
	// MaxSeriesPerMetric bounds the live series of one metric of one service; points of
	// further series go to the overflow series.
	MaxSeriesPerMetric int `mapstructure:"max_series_per_metric"`
	// MaxSeriesTotal bounds the live series of all metrics together (about 100 bytes each);
	// at the bound every new series overflows.
	MaxSeriesTotal int `mapstructure:"max_series_total"`
	// SeriesIdle is how long a series stays live without a point.
	SeriesIdle time.Duration `mapstructure:"series_idle"`
}

var _ component.Config = (*Config)(nil)

// Validate reports every mistake at once.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.MaxSeriesPerMetric < 1 {
		errs = append(errs, fmt.Errorf("max_series_per_metric must be at least 1, got %d", cfg.MaxSeriesPerMetric))
	}
	if cfg.MaxSeriesTotal < cfg.MaxSeriesPerMetric {
		errs = append(errs, fmt.Errorf("max_series_total must be at least max_series_per_metric (%d), got %d", cfg.MaxSeriesPerMetric, cfg.MaxSeriesTotal))
	}
	if cfg.SeriesIdle < time.Second {
		errs = append(errs, fmt.Errorf("series_idle must be at least 1s, got %s", cfg.SeriesIdle))
	}
	return errors.Join(errs...)
}
