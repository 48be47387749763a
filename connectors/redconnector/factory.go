package redconnector

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
)

const typeStr = "weir_red"

// NewFactory returns the factory of the weir_red connector.
func NewFactory() connector.Factory {
	return connector.NewFactory(
		component.MustNewType(typeStr),
		createDefaultConfig,
		connector.WithTracesToMetrics(createTracesToMetrics, component.StabilityLevelAlpha),
	)
}

func createDefaultConfig() component.Config {
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
		},
	}
}

func createTracesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	return newConnector(cfg.(*Config), set.TelemetrySettings, next)
}
