package rollupextension

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/weirhq/weir/internal/chclient"
	"github.com/weirhq/weir/rollup"
)

const typeStr = "weir_rollup"

// NewFactory returns the factory of the weir_rollup extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(component.MustNewType(typeStr), createDefaultConfig, create, component.StabilityLevelAlpha)
}

func createDefaultConfig() component.Config {
	return &Config{
		ClickHouse:        chclient.Default(),
		Interval:          5 * time.Minute,
		Lookback:          rollup.DefaultLookback,
		Grace:             rollup.DefaultGrace,
		RetentionInterval: time.Hour,
	}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newScheduler(cfg.(*Config), set.TelemetrySettings), nil
}
