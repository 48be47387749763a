package serieslimitprocessor

import (
	"cmp"
	"context"
	"slices"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// topMetrics is how many metrics weir_series_active reports: the ones with the most live
// series. Its own cardinality is bounded so, whatever the senders do.
const topMetrics = 100

// telemetry is the processor's own metrics, from the meter it is given.
type telemetry struct {
	overflow metric.Int64Counter
	reg      metric.Registration
}

func newTelemetry(set component.TelemetrySettings, l *limiter) (*telemetry, error) {
	m := set.MeterProvider.Meter("github.com/weirhq/weir/processors/serieslimitprocessor")
	t := &telemetry{}
	var err error
	if t.overflow, err = m.Int64Counter("weir_series_overflow_points", metric.WithUnit("{point}"),
		metric.WithDescription("Data points moved to their metric's overflow series (otel.metric.overflow), by service and by the limit reached.")); err != nil {
		return nil, err
	}
	perMetric, err := m.Int64ObservableGauge("weir_series_active", metric.WithUnit("{series}"),
		metric.WithDescription("Live series of a metric of a service, for the 100 metrics with the most."))
	if err != nil {
		return nil, err
	}
	perService, err := m.Int64ObservableGauge("weir_series_active_per_service", metric.WithUnit("{series}"),
		metric.WithDescription("Live series of all metrics of a service."))
	if err != nil {
		return nil, err
	}
	t.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		top, services := l.counts()
		for _, c := range top {
			o.ObserveInt64(perMetric, c.n, metric.WithAttributes(
				attribute.String("service", c.service), attribute.String("metric", c.metric)))
		}
		for service, n := range services {
			o.ObserveInt64(perService, n, metric.WithAttributes(attribute.String("service", service)))
		}
		return nil
	}, perMetric, perService)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (t *telemetry) overflowed(service, reason string, points int64) {
	t.overflow.Add(context.Background(), points, metric.WithAttributes(
		attribute.String("service", service), attribute.String("reason", reason)))
}

func (t *telemetry) unregister() {
	if t.reg != nil {
		_ = t.reg.Unregister()
		t.reg = nil
	}
}

type metricCount struct {
	service, metric string
	n               int64
}

// counts returns the live series of the topMetrics metrics with the most (ties by service,
// then metric name) and the live series per service.
func (l *limiter) counts() ([]metricCount, map[string]int64) {
	l.mu.Lock()
	all := make([]metricCount, 0, len(l.metrics))
	services := map[string]int64{}
	for k, ms := range l.metrics {
		n := int64(len(ms.lastSeen))
		all = append(all, metricCount{k.service, k.metric, n})
		services[k.service] += n
	}
	l.mu.Unlock()
	slices.SortFunc(all, func(a, b metricCount) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		if c := cmp.Compare(a.service, b.service); c != 0 {
			return c
		}
		return cmp.Compare(a.metric, b.metric)
	})
	return all[:min(len(all), topMetrics)], services
}
