package redconnector

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/weirhq/weir/internal/red"
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

// Config is weir_red's configuration (see red.Config for every setting).
type Config = red.Config

func createDefaultConfig() component.Config { return red.DefaultConfig() }

func createTracesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	return newConnector(cfg.(*Config), set.TelemetrySettings, next)
}
