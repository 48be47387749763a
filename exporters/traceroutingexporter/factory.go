package traceroutingexporter

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
)

const typeStr = "trace_routing"

// NewFactory returns the factory of the trace_routing exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		component.MustNewType(typeStr),
		createDefaultConfig,
		exporter.WithTraces(createTraces, component.StabilityLevelAlpha),
	)
}

func createDefaultConfig() component.Config {
	otlp := otlpexporter.NewFactory().CreateDefaultConfig().(*otlpexporter.Config)
	// The router dials each of Endpoints; the upstream config still validates its own
	// endpoint (non-empty, host:port), so it holds a placeholder, as in loadbalancing.
	otlp.ClientConfig.Endpoint = placeholderEndpoint
	return &Config{Protocol: ProtocolConfig{OTLP: *otlp}}
}

func createTraces(_ context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	return newRouter(cfg.(*Config), set, otlpexporter.NewFactory()), nil
}
