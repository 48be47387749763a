package headsamplingprocessor

import (
	"errors"
	"fmt"
	"sort"

	"go.opentelemetry.io/collector/component"
)

// Config lists services and the probability their SDKs keep a trace with.
type Config struct {
	// Services maps service.name to the head-sampling probability, in (0, 1].
	Services map[string]float64 `mapstructure:"services"`
}

var _ component.Config = (*Config)(nil)

// Validate reports every mistake in cfg at once.
func (cfg *Config) Validate() error {
	var errs []error
	names := make([]string, 0, len(cfg.Services))
	for s := range cfg.Services {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		if s == "" {
			errs = append(errs, errors.New("services: an empty service name"))
		}
		if p := cfg.Services[s]; !(p > 0 && p <= 1) {
			errs = append(errs, fmt.Errorf("services[%s]: the probability must be within (0, 1], got %g "+
				"(a service that keeps 1 trace in 20 has 0.05)", s, p))
		}
	}
	return errors.Join(errs...)
}
