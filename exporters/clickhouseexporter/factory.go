package clickhouseexporter

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
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
	queue := exporterhelper.NewDefaultQueueConfig()
	// Count the queue in spans and points, and cut big, infrequent blocks: ClickHouse makes a
	// part per INSERT, and many small parts cost more merges than the rows themselves.
	queue.Sizer = exporterhelper.RequestSizerTypeItems
	queue.QueueSize = 2_000_000
	queue.NumConsumers = 2
	batch := exporterhelper.BatchConfig{
		FlushTimeout: 2 * time.Second,
		Sizer:        exporterhelper.RequestSizerTypeItems,
		MinSize:      32_768,
		MaxSize:      65_536,
	}
	batch.Partition.CacheSize = 10_000
	batch.Partition.IdleTimeout = 90 * time.Second
	queue.Batch = configoptional.Some(batch)
	return &Config{
		ClickHouse:     chclient.Default(),
		Compression:    "lz4",
		CreateSchema:   true,
		BlockMaxRows:   1_000_000,
		BlockMaxBytes:  512 << 20,
		Timeout:        30 * time.Second,
		RetryOnFailure: configretry.NewDefaultBackOffConfig(),
		SendingQueue:   configoptional.Some(queue),
	}
}

func createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	c := cfg.(*Config)
	e, err := newExporter(c, set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewTraces(ctx, set, cfg, e.pushTraces, helperOptions(c, e)...)
}

func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	c := cfg.(*Config)
	e, err := newExporter(c, set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewMetrics(ctx, set, cfg, e.pushMetrics, helperOptions(c, e)...)
}

func helperOptions(c *Config, e *chExporter) []exporterhelper.Option {
	return []exporterhelper.Option{
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: c.Timeout}),
		exporterhelper.WithRetry(c.RetryOnFailure),
		exporterhelper.WithQueue(c.SendingQueue),
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
	}
}
