package tailsamplingprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/weirhq/weir/internal/tailsample"
)

const typeStr = "weir_tail_sampling"

// Config is the tail sampler's configuration (see tailsample.Config for every setting).
type Config = tailsample.Config

// NewFactory returns the factory of weir's tail sampler.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		component.MustNewType(typeStr),
		createDefaultConfig,
		processor.WithTraces(createTraces, component.StabilityLevelAlpha),
	)
}

func createDefaultConfig() component.Config { return tailsample.DefaultConfig() }

func createTraces(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	c := cfg.(*Config)
	s, err := tailsample.New(c, set.TelemetrySettings, tailsample.PdataOutput(next, c.ReasonAttribute))
	if err != nil {
		return nil, err
	}
	return &sampler{s: s}, nil
}
