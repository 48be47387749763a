package red

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
)

// Config is the weir_red connector's configuration.
type Config struct {
	// Window is the aggregation window, by each span's end time. It must divide an hour.
	Window time.Duration `mapstructure:"window"`
	// FlushInterval is how often accumulated windows are emitted (as deltas: a window can be
	// emitted several times as late spans arrive; readers sum).
	FlushInterval time.Duration `mapstructure:"flush_interval"`
	// Dimensions are span attributes (then resource attributes) added to the series key.
	Dimensions []string `mapstructure:"dimensions"`
	// MaxSeriesPerService bounds the series of one service; further series fold into an
	// overflow series ("__overflow__" span name, no dimensions).
	MaxSeriesPerService int `mapstructure:"max_series_per_service"`
	// SeriesIdle expires a series that received no span for this long.
	SeriesIdle time.Duration `mapstructure:"series_idle"`
	// ServiceGraph pairs client and server spans into edges.
	ServiceGraph ServiceGraphConfig `mapstructure:"service_graph"`
}

// ServiceGraphConfig configures the service graph.
type ServiceGraphConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// WaitTime is how long a half edge waits for its other half.
	WaitTime time.Duration `mapstructure:"wait_time"`
	// MaxPending bounds the half edges waiting; at the bound the oldest is expired early.
	MaxPending int `mapstructure:"max_pending"`
	// VirtualNodeAttributes name the peer of a client span whose server sends no spans
	// (a database, a cache, an external API), tried in order.
	VirtualNodeAttributes []string `mapstructure:"virtual_node_attributes"`
	// SilentPeerAfter: once this many client spans in a row naming the same peer (a value of
	// VirtualNodeAttributes) found no server span (in wait_time, or before MaxPending evicted
	// them), the peer is taken as sending no spans and
	// its calls become edges to its virtual node as they arrive, without waiting wait_time;
	// one call in 64 still waits, and a pairing (or a server span of a service of that name)
	// ends it. 0 makes every client span wait.
	SilentPeerAfter int `mapstructure:"silent_peer_after"`
}

var _ component.Config = (*Config)(nil)

// Validate reports every mistake at once.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Window < time.Second || time.Hour%cfg.Window != 0 {
		errs = append(errs, fmt.Errorf("window must be at least 1s and divide an hour evenly, got %s", cfg.Window))
	}
	if cfg.FlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("flush_interval must be positive, got %s", cfg.FlushInterval))
	}
	seen := map[string]bool{}
	for _, d := range cfg.Dimensions {
		switch {
		case d == "":
			errs = append(errs, errors.New("dimensions: empty attribute name"))
		case seen[d]:
			errs = append(errs, fmt.Errorf("dimensions: %q listed twice", d))
		}
		seen[d] = true
	}
	if cfg.MaxSeriesPerService < 1 {
		errs = append(errs, fmt.Errorf("max_series_per_service must be at least 1, got %d", cfg.MaxSeriesPerService))
	}
	if cfg.SeriesIdle <= 0 {
		errs = append(errs, fmt.Errorf("series_idle must be positive, got %s", cfg.SeriesIdle))
	}
	if cfg.ServiceGraph.Enabled {
		if cfg.ServiceGraph.WaitTime <= 0 {
			errs = append(errs, fmt.Errorf("service_graph.wait_time must be positive, got %s", cfg.ServiceGraph.WaitTime))
		}
		if cfg.ServiceGraph.MaxPending < 1 {
			errs = append(errs, fmt.Errorf("service_graph.max_pending must be at least 1, got %d", cfg.ServiceGraph.MaxPending))
		}
		if cfg.ServiceGraph.SilentPeerAfter < 0 {
			errs = append(errs, fmt.Errorf("service_graph.silent_peer_after must be 0 (off) or more, got %d", cfg.ServiceGraph.SilentPeerAfter))
		}
	}
	return errors.Join(errs...)
}

// DefaultConfig is weir_red's configuration when nothing is set: one-minute windows flushed
// every 15 s, the HTTP route and method, RPC method and database system as dimensions, 2,000
// series per service, and the service graph with a 2 s pairing wait.
func DefaultConfig() *Config {
	return &Config{
		Window:              time.Minute,
		FlushInterval:       15 * time.Second,
		Dimensions:          []string{"http.route", "http.request.method", "rpc.method", "db.system"},
		MaxSeriesPerService: 2000,
		SeriesIdle:          10 * time.Minute,
		ServiceGraph: ServiceGraphConfig{
			Enabled:               true,
			WaitTime:              2 * time.Second,
			MaxPending:            100_000,
			VirtualNodeAttributes: []string{"peer.service", "db.system", "messaging.system", "server.address"},
			SilentPeerAfter:       128,
		},
	}
}
