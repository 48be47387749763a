package red

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// telemetry is the connector's own metrics, from the meter it is given.
type telemetry struct {
	overflow       metric.Int64Counter
	unpairedSpans  metric.Int64Counter
	pendingEvicted metric.Int64Counter
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter("github.com/weirhq/weir/internal/red")
	t := &telemetry{}
	var err error
	if t.overflow, err = m.Int64Counter("weir_red_overflow_spans", metric.WithUnit("{span}"),
		metric.WithDescription("Spans counted in their service's overflow series because it had max_series_per_service series.")); err != nil {
		return nil, err
	}
	if t.unpairedSpans, err = m.Int64Counter("weir_red_unpaired_spans", metric.WithUnit("{span}"),
		metric.WithDescription("Client or server spans whose other half never came within wait_time, by side.")); err != nil {
		return nil, err
	}
	if t.pendingEvicted, err = m.Int64Counter("weir_red_pending_evicted", metric.WithUnit("{span}"),
		metric.WithDescription("Half edges settled before wait_time because the pairing store was full.")); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *telemetry) unpaired(side string, n int64) {
	t.unpairedSpans.Add(context.Background(), n, metric.WithAttributes(attribute.String("side", side)))
}
