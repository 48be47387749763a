package ingest

import (
	"context"
	"sync/atomic"

	"github.com/weirhq/weir/internal/metricstage"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// telemetry is the engine's own metrics, from the meter it is given.
type telemetry struct {
	// ingested is weir_ingest_request_bytes, read when metrics are collected: a counter's Add
	// on every request was 1.2 % of weir's CPU at 50k points/s (2026-12-07 22:01 profile).
	ingested   atomic.Int64
	epochs     metric.Int64Counter
	sealFails  metric.Int64Counter
	blocks     metric.Int64Counter
	blockBytes metric.Int64Counter
	blockRows  metric.Int64Counter
	converted  metric.Int64Counter
	dropped    metric.Int64Counter
	overflow   metric.Int64Counter
	unsettled  metric.Int64Counter
	meter      metric.Meter
	tableAttrs map[string]metric.AddOption
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter("github.com/weirhq/weir/internal/ingest")
	t := &telemetry{meter: m, tableAttrs: map[string]metric.AddOption{}}
	var err error
	if _, err = m.Int64ObservableCounter("weir_ingest_request_bytes", metric.WithUnit("By"),
		metric.WithDescription("Bytes of requests written to the ingest log (and so acknowledged)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(t.ingested.Load())
			return nil
		})); err != nil {
		return nil, err
	}
	if t.unsettled, err = m.Int64Counter("weir_ingest_requests_unsettled", metric.WithUnit("{request}"),
		metric.WithDescription("Requests journaled and acknowledged whose processing then failed (a bug in weir: "+
			"the log says what); some of their spans or points may be missing.")); err != nil {
		return nil, err
	}
	if t.epochs, err = m.Int64Counter("weir_ingest_epochs", metric.WithUnit("{epoch}"),
		metric.WithDescription("Epochs sealed: blocks queued and a checkpoint written.")); err != nil {
		return nil, err
	}
	if t.sealFails, err = m.Int64Counter("weir_ingest_seal_failures", metric.WithUnit("{epoch}"),
		metric.WithDescription("Epochs whose blocks or checkpoint could not be written (disk full or failing); requests are refused until one succeeds.")); err != nil {
		return nil, err
	}
	if t.blocks, err = m.Int64Counter("weir_ingest_blocks", metric.WithUnit("{block}"),
		metric.WithDescription("Blocks queued for ClickHouse, by table.")); err != nil {
		return nil, err
	}
	if t.blockBytes, err = m.Int64Counter("weir_ingest_block_bytes", metric.WithUnit("By"),
		metric.WithDescription("Bytes of blocks queued for ClickHouse, compressed, by table.")); err != nil {
		return nil, err
	}
	if t.blockRows, err = m.Int64Counter("weir_ingest_block_rows", metric.WithUnit("{row}"),
		metric.WithDescription("Rows in blocks queued for ClickHouse, by table.")); err != nil {
		return nil, err
	}
	if t.converted, err = m.Int64Counter("weir_metrics_points_converted", metric.WithUnit("{point}"),
		metric.WithDescription("Cumulative points turned into deltas.")); err != nil {
		return nil, err
	}
	if t.dropped, err = m.Int64Counter("weir_metrics_points_dropped", metric.WithUnit("{point}"),
		metric.WithDescription("Cumulative points not stored, by reason: initial (the first of a stream that started before weir), reset, bucket_mismatch, no_value.")); err != nil {
		return nil, err
	}
	if t.overflow, err = m.Int64Counter("weir_series_overflow_points", metric.WithUnit("{point}"),
		metric.WithDescription("Data points moved to their metric's overflow series (otel.metric.overflow), by service and by the limit reached.")); err != nil {
		return nil, err
	}
	return t, nil
}

// stages counts what the metric stages did in an epoch.
func (t *telemetry) stages(c metricstage.Counts) {
	ctx := context.Background()
	if c.Converted > 0 {
		t.converted.Add(ctx, c.Converted)
	}
	for reason, n := range c.Dropped {
		t.dropped.Add(ctx, n, metric.WithAttributes(attribute.String("reason", reason)))
	}
	for k, n := range c.Overflowed {
		t.overflow.Add(ctx, n, metric.WithAttributes(attribute.String("service", k[0]), attribute.String("reason", k[1])))
	}
}

// observe registers the gauges of the store: both logs' sizes.
func (t *telemetry) observe(e *Engine) error {
	logBytes, err := t.meter.Int64ObservableGauge("weir_ingest_log_bytes", metric.WithUnit("By"),
		metric.WithDescription("Bytes on disk of the ingest log (log=ingest: received requests still needed; log=blocks: blocks not yet in ClickHouse)."))
	if err != nil {
		return err
	}
	ingest := metric.WithAttributes(attribute.String("log", "ingest"))
	blocks := metric.WithAttributes(attribute.String("log", "blocks"))
	_, err = t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(logBytes, e.store.Ingest.Size(), ingest)
		o.ObserveInt64(logBytes, e.store.Blocks.Size(), blocks)
		return nil
	}, logBytes)
	if err != nil || e.stages == nil {
		return err
	}
	perMetric, err := t.meter.Int64ObservableGauge("weir_series_active", metric.WithUnit("{series}"),
		metric.WithDescription("Live series of a metric of a service, for the 100 metrics with the most."))
	if err != nil {
		return err
	}
	perService, err := t.meter.Int64ObservableGauge("weir_series_active_per_service", metric.WithUnit("{series}"),
		metric.WithDescription("Live series of all metrics of a service."))
	if err != nil {
		return err
	}
	_, err = t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		e.mmu.Lock()
		top, services := e.stages.Active(100)
		e.mmu.Unlock()
		for _, c := range top {
			o.ObserveInt64(perMetric, c.Series, metric.WithAttributes(
				attribute.String("service", c.Service), attribute.String("metric", c.Metric)))
		}
		for service, n := range services {
			o.ObserveInt64(perService, n, metric.WithAttributes(attribute.String("service", service)))
		}
		return nil
	}, perMetric, perService)
	return err
}

func (t *telemetry) addIngested(n int64) { t.ingested.Add(n) }
func (t *telemetry) sealFailed()         { t.sealFails.Add(context.Background(), 1) }
func (t *telemetry) unsettledRequest()   { t.unsettled.Add(context.Background(), 1) }
func (t *telemetry) sealed(*Epoch)       { t.epochs.Add(context.Background(), 1) }

// block counts one queued block; called by the one sealer at a time.
func (t *telemetry) block(b *Block, bytes int) {
	opt, ok := t.tableAttrs[b.Table]
	if !ok {
		opt = metric.WithAttributes(attribute.String("table", b.Table))
		t.tableAttrs[b.Table] = opt
	}
	ctx := context.Background()
	t.blocks.Add(ctx, 1, opt)
	t.blockBytes.Add(ctx, int64(bytes), opt)
	t.blockRows.Add(ctx, int64(b.Rows), opt)
}
