package clickhouseexporter

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/weirhq/weir/internal/chclient"
)

const typeStr = "clickhouse"

// NewFactory returns the factory of the clickhouse exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		component.MustNewType(typeStr),
		createDefaultConfig,
		exporter.WithTraces(createTraces, component.StabilityLevelAlpha),
		exporter.WithMetrics(createMetrics, component.StabilityLevelAlpha),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		ClickHouse:         chclient.Default(),
		HTTPEndpoints:      []string{"http://127.0.0.1:8123"},
		Journal:            component.MustNewID("weir_journal"),
		Compression:        "lz4",
		CreateSchema:       true,
		Timeout:            30 * time.Second,
		Workers:            2,
		Batch:              BatchConfig{MinRows: 200_000, MaxWait: 5 * time.Second},
		Retry:              RetryConfig{InitialInterval: time.Second, MaxInterval: 30 * time.Second},
		RejectedMaxSizeMiB: 256,
		DrainTimeout:       10 * time.Second,
	}
}

func createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	e, err := acquire(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewTraces(ctx, set, cfg, e.pushTraces, options(e)...)
}

func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	e, err := acquire(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewMetrics(ctx, set, cfg, e.pushMetrics, options(e)...)
}

// options: no queue, no retry, no timeout from exporterhelper. What a consumer hands over is
// in the journal when the call returns; the sender retries from there.
func options(e *chExporter) []exporterhelper.Option {
	return []exporterhelper.Option{
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
	}
}
