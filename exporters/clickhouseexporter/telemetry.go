package clickhouseexporter

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

// telemetry is the pdata path's own metrics; the sender's are in internal/ingest.
type telemetry struct {
	invalidSpans metric.Int64Counter
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter("github.com/weirhq/weir/exporters/clickhouseexporter")
	t := &telemetry{}
	var err error
	if t.invalidSpans, err = m.Int64Counter("weir_invalid_spans", metric.WithUnit("{span}"),
		metric.WithDescription("Spans dropped for an all-zero or malformed trace or span ID.")); err != nil {
		return nil, err
	}
	return t, nil
}
