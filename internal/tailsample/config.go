package tailsample

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/component"
)

// Config is the tail sampler's configuration.
type Config struct {
	// IdleTime is how long a trace whose root span has ended must be quiet before it is decided.
	IdleTime time.Duration `mapstructure:"idle_time"`
	// MaxWait is the longest a trace is held after its first span, root or not.
	MaxWait time.Duration `mapstructure:"max_wait"`
	// TickInterval is how often held traces are checked; default a quarter of IdleTime.
	TickInterval time.Duration `mapstructure:"tick_interval"`
	// LateWindow is how long a trace's spans stay held after the trace was dropped, so that a
	// late span that makes a policy match (an error from a service whose SDK exported after
	// the decision, say) keeps the whole trace after all, with the reason late_<policy>.
	// Held dropped traces count against MaxBufferedBytes and are the first to go at the bound.
	// 0 turns it off: late spans then follow the drop.
	LateWindow time.Duration `mapstructure:"late_window"`
	// MaxBufferedBytes bounds all held spans together. Past it the oldest traces are decided
	// early (counted as forced decisions).
	MaxBufferedBytes int64 `mapstructure:"max_buffered_bytes"`
	// MaxTraceBytes bounds one trace. A trace that reaches it is decided at once; its later
	// spans follow the decision.
	MaxTraceBytes int64 `mapstructure:"max_trace_bytes"`
	// DecisionCacheBytes is the size of the cache of recent decisions (fastcache, at least 32 MiB);
	// its filter (decidedFilter) takes about an eighth more.
	DecisionCacheBytes int `mapstructure:"decision_cache_bytes"`
	// ReasonAttribute names the span attribute that records why a trace was kept; empty: none.
	ReasonAttribute string `mapstructure:"reason_attribute"`

	// Policies, evaluated in this order; the first that matches keeps the trace.
	Errors     ErrorsPolicy      `mapstructure:"errors"`
	Latency    LatencyPolicy     `mapstructure:"latency"`
	Attributes []AttributePolicy `mapstructure:"attributes"`
	SpanCount  SpanCountPolicy   `mapstructure:"span_count"`
	// Baseline samples what no policy kept, with probability in [0, 1].
	Baseline BaselinePolicy `mapstructure:"baseline"`
	// Budgets cap, per service, the spans per second the baseline keeps.
	Budgets BudgetPolicy `mapstructure:"budgets"`
}

// ErrorsPolicy keeps traces with any span whose status is Error.
type ErrorsPolicy struct {
	Enabled bool `mapstructure:"enabled"`
}

// LatencyPolicy keeps traces that last longer than TraceThreshold (first start to last
// end) or have a span longer than SpanThreshold. Zero disables a threshold.
type LatencyPolicy struct {
	TraceThreshold time.Duration `mapstructure:"trace_threshold"`
	SpanThreshold  time.Duration `mapstructure:"span_threshold"`
}

// AttributePolicy keeps traces with a span (or resource) attribute that matches. Exactly one
// of Values, Regex or a numeric range (Min and/or Max) is set.
type AttributePolicy struct {
	// Name labels the policy in the reason attribute: attribute:<name>.
	Name string `mapstructure:"name"`
	Key  string `mapstructure:"key"`
	// Resource matches resource attributes instead of span attributes.
	Resource bool     `mapstructure:"resource"`
	Values   []string `mapstructure:"values"`
	Regex    string   `mapstructure:"regex"`
	Min      *float64 `mapstructure:"min"`
	Max      *float64 `mapstructure:"max"`
}

// SpanCountPolicy keeps traces with at least Min spans; 0 disables it.
type SpanCountPolicy struct {
	Min int `mapstructure:"min"`
}

// BaselinePolicy is the consistent-probability sampler applied to what no policy kept.
type BaselinePolicy struct {
	Probability float64 `mapstructure:"probability"`
}

// BudgetPolicy caps the baseline per service, in spans per second. 0 means no cap.
type BudgetPolicy struct {
	DefaultSpansPerSecond float64            `mapstructure:"default_spans_per_second"`
	Services              map[string]float64 `mapstructure:"services"`
}

var _ component.Config = (*Config)(nil)

// Validate reports every mistake in cfg at once.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.IdleTime <= 0 {
		errs = append(errs, fmt.Errorf("idle_time must be positive, got %s", cfg.IdleTime))
	}
	if cfg.MaxWait <= 0 {
		errs = append(errs, fmt.Errorf("max_wait must be positive, got %s", cfg.MaxWait))
	} else if cfg.IdleTime > cfg.MaxWait {
		errs = append(errs, fmt.Errorf("idle_time (%s) must not exceed max_wait (%s)", cfg.IdleTime, cfg.MaxWait))
	}
	if cfg.LateWindow < 0 {
		errs = append(errs, fmt.Errorf("late_window must not be negative, got %s", cfg.LateWindow))
	}
	if cfg.TickInterval < 0 {
		errs = append(errs, fmt.Errorf("tick_interval must not be negative, got %s", cfg.TickInterval))
	}
	if cfg.MaxBufferedBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("max_buffered_bytes must be at least 1 MiB, got %d", cfg.MaxBufferedBytes))
	}
	if cfg.MaxTraceBytes < 1<<10 || cfg.MaxTraceBytes > cfg.MaxBufferedBytes {
		errs = append(errs, fmt.Errorf("max_trace_bytes must be between 1 KiB and max_buffered_bytes, got %d", cfg.MaxTraceBytes))
	}
	if cfg.DecisionCacheBytes < 32<<20 {
		errs = append(errs, fmt.Errorf("decision_cache_bytes must be at least 32 MiB (fastcache's minimum), got %d", cfg.DecisionCacheBytes))
	}
	if cfg.Latency.TraceThreshold < 0 || cfg.Latency.SpanThreshold < 0 {
		errs = append(errs, errors.New("latency thresholds must not be negative"))
	}
	names := map[string]bool{}
	for i, a := range cfg.Attributes {
		where := fmt.Sprintf("attributes[%d]", i)
		if a.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name is required (it labels the reason)", where))
		} else if names[a.Name] {
			errs = append(errs, fmt.Errorf("%s: name %q is used twice", where, a.Name))
		}
		names[a.Name] = true
		if a.Key == "" {
			errs = append(errs, fmt.Errorf("%s: key is required", where))
		}
		kinds := 0
		if len(a.Values) > 0 {
			kinds++
		}
		if a.Regex != "" {
			kinds++
			if _, err := regexp.Compile(a.Regex); err != nil {
				errs = append(errs, fmt.Errorf("%s: regex: %w", where, err))
			}
		}
		if a.Min != nil || a.Max != nil {
			kinds++
			if a.Min != nil && a.Max != nil && *a.Min > *a.Max {
				errs = append(errs, fmt.Errorf("%s: min %g is above max %g", where, *a.Min, *a.Max))
			}
		}
		if kinds != 1 {
			errs = append(errs, fmt.Errorf("%s: set exactly one of values, regex or min/max", where))
		}
	}
	if len(cfg.Attributes) > 64 {
		errs = append(errs, fmt.Errorf("at most 64 attribute policies, got %d", len(cfg.Attributes)))
	}
	if cfg.SpanCount.Min < 0 {
		errs = append(errs, fmt.Errorf("span_count.min must not be negative, got %d", cfg.SpanCount.Min))
	}
	if p := cfg.Baseline.Probability; p < 0 || p > 1 {
		errs = append(errs, fmt.Errorf("baseline.probability must be within [0, 1], got %g", p))
	}
	if cfg.Budgets.DefaultSpansPerSecond < 0 {
		errs = append(errs, fmt.Errorf("budgets.default_spans_per_second must not be negative, got %g", cfg.Budgets.DefaultSpansPerSecond))
	}
	for svc, r := range cfg.Budgets.Services {
		if r < 0 {
			errs = append(errs, fmt.Errorf("budgets.services[%s] must not be negative, got %g", svc, r))
		}
	}
	return errors.Join(errs...)
}

func (cfg *Config) tick() time.Duration {
	if cfg.TickInterval > 0 {
		return cfg.TickInterval
	}
	t := cfg.IdleTime / 4
	if t < 10*time.Millisecond {
		t = 10 * time.Millisecond
	}
	if t > time.Second {
		t = time.Second
	}
	return t
}

// DefaultConfig is the sampler's configuration when nothing is set: decide a trace 2 s after
// its root ended and it went quiet (at most 10 s after its first span), keep dropped traces'
// spans 10 s for late errors, hold at most 256 MiB, keep errors and traces over 2 s whole and
// 1% of the rest.
func DefaultConfig() *Config {
	return &Config{
		IdleTime:           2 * time.Second,
		MaxWait:            10 * time.Second,
		LateWindow:         10 * time.Second,
		MaxBufferedBytes:   256 << 20,
		MaxTraceBytes:      8 << 20,
		DecisionCacheBytes: 64 << 20,
		ReasonAttribute:    "weir.sampling.reason",
		Errors:             ErrorsPolicy{Enabled: true},
		Latency:            LatencyPolicy{TraceThreshold: 2 * time.Second},
		Baseline:           BaselinePolicy{Probability: 0.01},
	}
}
