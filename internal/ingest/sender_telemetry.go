package ingest

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// senderTelemetry is the sender's own metrics. The names are the clickhouse exporter's, which
// the "weir itself" dashboard reads.
type senderTelemetry struct {
	rows     metric.Int64Counter
	bytes    metric.Int64Counter
	blocks   metric.Int64Counter
	failures metric.Int64Counter
	aside    metric.Int64Counter
	asideRow metric.Int64Counter
	found    metric.Int64Counter
	duration metric.Float64Histogram
	attrs    map[string]metric.MeasurementOption

	// Gauges, written by the sender's goroutine and read by the meter's callback.
	pending    atomic.Int64
	oldest     atomic.Int64 // Unix ns
	queuedRows atomic.Int64
	scanned    atomic.Uint64 // the reader's position after the last scan
	// failedInserts counts failures, for Drain.
	failedInserts atomic.Int64
}

func newSenderTelemetry(set component.TelemetrySettings, s *Sender) (*senderTelemetry, error) {
	m := set.MeterProvider.Meter("github.com/weirhq/weir/internal/ingest")
	t := &senderTelemetry{attrs: map[string]metric.MeasurementOption{}}
	var err error
	if t.rows, err = m.Int64Counter("weir_clickhouse_rows_written", metric.WithUnit("{row}"),
		metric.WithDescription("Rows inserted into ClickHouse, per table.")); err != nil {
		return nil, err
	}
	if t.bytes, err = m.Int64Counter("weir_clickhouse_bytes_written", metric.WithUnit("By"),
		metric.WithDescription("Bytes of the INSERT bodies that succeeded (compressed as sent), per table.")); err != nil {
		return nil, err
	}
	if t.blocks, err = m.Int64Counter("weir_clickhouse_blocks_written", metric.WithUnit("{block}"),
		metric.WithDescription("Queued blocks inserted, per table.")); err != nil {
		return nil, err
	}
	if t.failures, err = m.Int64Counter("weir_clickhouse_insert_failures", metric.WithUnit("{insert}"),
		metric.WithDescription("INSERTs that failed and will be retried, per table.")); err != nil {
		return nil, err
	}
	if t.aside, err = m.Int64Counter("weir_clickhouse_blocks_set_aside", metric.WithUnit("{block}"),
		metric.WithDescription("Blocks ClickHouse refused for good (a dropped table, a type mismatch): kept in the journal's rejected/ directory, not retried, per table.")); err != nil {
		return nil, err
	}
	if t.asideRow, err = m.Int64Counter("weir_clickhouse_rows_set_aside", metric.WithUnit("{row}"),
		metric.WithDescription("Rows of the blocks set aside, per table.")); err != nil {
		return nil, err
	}
	if t.found, err = m.Int64Counter("weir_clickhouse_blocks_found", metric.WithUnit("{block}"),
		metric.WithDescription("Blocks whose INSERT had an unknown outcome and that were found in ClickHouse, so not sent again, per table.")); err != nil {
		return nil, err
	}
	// An INSERT takes milliseconds to seconds: the SDK's default bounds (0, 5, 10, ... 10000)
	// would put nearly all of them in the first bucket.
	if t.duration, err = m.Float64Histogram("weir_clickhouse_insert_duration", metric.WithUnit("s"),
		metric.WithDescription("Time of one INSERT, per table."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)); err != nil {
		return nil, err
	}
	pending, err := m.Int64ObservableGauge("weir_clickhouse_queue_blocks", metric.WithUnit("{block}"),
		metric.WithDescription("Blocks queued for ClickHouse, not yet inserted."))
	if err != nil {
		return nil, err
	}
	rows, err := m.Int64ObservableGauge("weir_clickhouse_queue_rows", metric.WithUnit("{row}"),
		metric.WithDescription("Rows in the blocks queued for ClickHouse."))
	if err != nil {
		return nil, err
	}
	lag, err := m.Float64ObservableGauge("weir_clickhouse_queue_lag", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest block not yet inserted (0 when none): how far ClickHouse is behind."))
	if err != nil {
		return nil, err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(pending, t.pending.Load())
		o.ObserveInt64(rows, t.queuedRows.Load())
		l := 0.0
		if old := t.oldest.Load(); old > 0 {
			l = max(0, time.Since(time.Unix(0, old)).Seconds())
		}
		o.ObserveFloat64(lag, l)
		return nil
	}, pending, rows, lag)
	return t, err
}

func (t *senderTelemetry) attr(table string) metric.MeasurementOption {
	a, ok := t.attrs[table]
	if !ok {
		a = metric.WithAttributeSet(attribute.NewSet(attribute.String("table", table)))
		t.attrs[table] = a
	}
	return a
}

// observe updates the gauges from the queue; on the sender's goroutine.
func (t *senderTelemetry) observe(s *Sender) {
	var n, rows, oldest int64
	for _, q := range s.queue {
		if q.settled {
			continue
		}
		n++
		rows += int64(q.rows)
		if oldest == 0 || q.queuedAt < oldest {
			oldest = q.queuedAt
		}
	}
	t.scanned.Store(uint64(s.reader.Pos()))
	t.pending.Store(n)
	t.queuedRows.Store(rows)
	t.oldest.Store(oldest)
}

func (t *senderTelemetry) inserted(table string, batch []*queued, d time.Duration) {
	ctx, a := context.Background(), t.attr(table)
	var rows, size int64
	for _, q := range batch {
		rows += int64(q.rows)
		size += int64(q.size)
	}
	t.rows.Add(ctx, rows, a)
	t.bytes.Add(ctx, size, a)
	t.blocks.Add(ctx, int64(len(batch)), a)
	t.duration.Record(ctx, d.Seconds(), a)
}

func (t *senderTelemetry) failed(table string, _ int, d time.Duration) {
	ctx, a := context.Background(), t.attr(table)
	t.failedInserts.Add(1)
	t.failures.Add(ctx, 1, a)
	t.duration.Record(ctx, d.Seconds(), a)
}

func (t *senderTelemetry) setAside(q *queued) {
	ctx, a := context.Background(), t.attr(q.table)
	t.aside.Add(ctx, 1, a)
	t.asideRow.Add(ctx, int64(q.rows), a)
}

func (t *senderTelemetry) foundBlock(q *queued) {
	t.found.Add(context.Background(), 1, t.attr(q.table))
}
