package ingest

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// weir_ingest_request_bytes is read from a count when metrics are collected: it must still
// export as a cumulative, monotonic sum of every request's bytes.
func TestTelemetry_RequestBytesIsACumulativeSum(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	set := componenttest.NewNopTelemetrySettings()
	set.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tel, err := newTelemetry(set)
	if err != nil {
		t.Fatal(err)
	}
	read := func() metricdata.Sum[int64] {
		t.Helper()
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name == "weir_ingest_request_bytes" {
					return m.Data.(metricdata.Sum[int64])
				}
			}
		}
		t.Fatal("weir_ingest_request_bytes not collected")
		return metricdata.Sum[int64]{}
	}
	tel.addIngested(100_000)
	tel.addIngested(2_345)
	if s := read(); !s.IsMonotonic || s.Temporality != metricdata.CumulativeTemporality || len(s.DataPoints) != 1 || s.DataPoints[0].Value != 102_345 {
		t.Fatalf("after two requests: %+v, want one cumulative monotonic point of 102345", s)
	}
	tel.addIngested(5)
	if s := read(); s.DataPoints[0].Value != 102_350 {
		t.Fatalf("after a third request: %d, want 102350", s.DataPoints[0].Value)
	}
}
