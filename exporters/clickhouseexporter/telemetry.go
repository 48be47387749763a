package clickhouseexporter

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// telemetry is the exporter's own metrics, from the meter it is given.
type telemetry struct {
	rows         metric.Int64Counter
	bytes        metric.Int64Counter
	blocks       metric.Int64Counter
	failures     metric.Int64Counter
	invalidSpans metric.Int64Counter
	// unindexedSpans counts spans stored whose trace_index rows failed to insert; those
	// rows are not retried (see chExporter.writeIndex).
	unindexedSpans metric.Int64Counter
	duration       metric.Float64Histogram
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter("github.com/weirhq/weir/exporters/clickhouseexporter")
	t := &telemetry{}
	var err error
	if t.rows, err = m.Int64Counter("weir_clickhouse_rows_written", metric.WithUnit("{row}"),
		metric.WithDescription("Rows inserted into ClickHouse, per table.")); err != nil {
		return nil, err
	}
	if t.bytes, err = m.Int64Counter("weir_clickhouse_bytes_written", metric.WithUnit("By"),
		metric.WithDescription("Uncompressed bytes of the blocks inserted, estimated while encoding, per table.")); err != nil {
		return nil, err
	}
	if t.blocks, err = m.Int64Counter("weir_clickhouse_blocks_written", metric.WithUnit("{block}"),
		metric.WithDescription("INSERT blocks that succeeded, per table.")); err != nil {
		return nil, err
	}
	if t.failures, err = m.Int64Counter("weir_clickhouse_insert_failures", metric.WithUnit("{block}"),
		metric.WithDescription("INSERT blocks that failed, per table. The queue retries them, "+
			"except trace_index blocks: see weir_clickhouse_unindexed_spans.")); err != nil {
		return nil, err
	}
	if t.invalidSpans, err = m.Int64Counter("weir_clickhouse_invalid_spans", metric.WithUnit("{span}"),
		metric.WithDescription("Spans refused for an all-zero trace or span ID.")); err != nil {
		return nil, err
	}
	if t.unindexedSpans, err = m.Int64Counter("weir_clickhouse_unindexed_spans", metric.WithUnit("{span}"),
		metric.WithDescription("Spans stored whose trace_index rows failed to insert; not retried, "+
			"so as not to store the spans twice.")); err != nil {
		return nil, err
	}
	// An INSERT takes milliseconds to seconds: the SDK's default bounds (0, 5, 10, ... 10000)
	// would put nearly all of them in the first bucket.
	if t.duration, err = m.Float64Histogram("weir_clickhouse_insert_duration", metric.WithUnit("s"),
		metric.WithDescription("Time to send one INSERT block, per table."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *telemetry) record(ctx context.Context, table string, rows, bytes int, d time.Duration, err error) {
	attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("table", table)))
	t.duration.Record(ctx, d.Seconds(), attrs)
	if err != nil {
		t.failures.Add(ctx, 1, attrs)
		return
	}
	t.rows.Add(ctx, int64(rows), attrs)
	t.bytes.Add(ctx, int64(bytes), attrs)
	t.blocks.Add(ctx, 1, attrs)
}
