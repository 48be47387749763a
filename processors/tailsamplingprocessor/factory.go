package tailsamplingprocessor

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
)

const typeStr = "weir_tail_sampling"

// NewFactory returns the factory of weir's tail sampler.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		component.MustNewType(typeStr),
		createDefaultConfig,
		processor.WithTraces(createTraces, component.StabilityLevelAlpha),
	)
}

func createDefaultConfig() component.Config {
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

func createTraces(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	return newTailSampler(cfg.(*Config), set.TelemetrySettings, next)
}
