package traceroutingexporter

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
)

// placeholderEndpoint fills protocol.otlp.endpoint, which the router never dials.
const placeholderEndpoint = "placeholder:4317"

// Config is the trace_routing exporter's configuration.
type Config struct {
	// Endpoints are the backends as host:port, e.g. the OTLP gRPC ports of the samplers. The
	// order matters only for spans with an all-zero trace ID, which go to the first.
	Endpoints []string `mapstructure:"endpoints"`
	// Protocol configures the exporter used for every endpoint.
	Protocol ProtocolConfig `mapstructure:"protocol"`
}

// ProtocolConfig holds the settings of the per-endpoint exporters.
type ProtocolConfig struct {
	// OTLP is the upstream OTLP gRPC exporter's configuration, applied to every endpoint with
	// its endpoint replaced. Its own endpoint must stay unset. Note that upstream defaults
	// to TLS: set tls.insecure for plaintext backends.
	OTLP otlpexporter.Config `mapstructure:"otlp"`
}

var _ component.Config = (*Config)(nil)

// Validate reports every mistake in cfg at once. The collector (confmap.Validate) also walks
// into protocol.otlp and runs the upstream exporter's own checks, so they are not repeated
// here.
func (cfg *Config) Validate() error {
	var errs []error
	if len(cfg.Endpoints) == 0 {
		errs = append(errs, errors.New("endpoints is empty: list the backends as host:port, e.g. [sampler-1:4317, sampler-2:4317]"))
	}
	seen := make(map[string]int, len(cfg.Endpoints))
	for i, e := range cfg.Endpoints {
		if err := validateEndpoint(e); err != nil {
			errs = append(errs, fmt.Errorf("endpoints[%d] %q: %w", i, e, err))
		}
		if j, ok := seen[e]; ok {
			errs = append(errs, fmt.Errorf("endpoints[%d] %q repeats endpoints[%d]", i, e, j))
		} else {
			seen[e] = i
		}
	}
	if ep := cfg.Protocol.OTLP.ClientConfig.Endpoint; ep != placeholderEndpoint {
		errs = append(errs, fmt.Errorf("protocol.otlp.endpoint %q is not used: the router dials each of endpoints, remove it", ep))
	}
	return errors.Join(errs...)
}

// validateEndpoint accepts host:port with a non-empty host and a port in 1..65535.
func validateEndpoint(e string) error {
	host, port, err := net.SplitHostPort(e)
	if err != nil || host == "" || strings.ContainsAny(host, "/ ") {
		return errors.New("want host:port, e.g. sampler-1:4317")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q is not a number in 1..65535", port)
	}
	return nil
}
