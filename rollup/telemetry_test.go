package rollup

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
)

func TestTelemetryByService(t *testing.T) {
	db := migratedDB(t)
	ctx := testContext(t)
	// Two spans of search (weights 1 and 10), one of cart outside the window, one gauge point.
	// INSERT ... SELECT: the driver hangs on INSERT ... VALUES with 18.16.
	db.Exec(t, "INSERT INTO "+db.Table(TableSpans)+" (Timestamp, ServiceName, SpanName, SampleWeight, SpanAttributeKeys, SpanAttributeValues, Events.TimeUnixNano, Events.Name, Events.AttributeKeys, Events.AttributeValues, Events.AttributeTypes, Events.DroppedAttributesCount) "+
		"SELECT toDateTime('2026-11-16 10:00:00', 'UTC'), 'search', 'GET /q', 1, ['k'], ['0123456789'], [toUInt64(1)], ['ev'], [['a']], [['bb']], [[toUInt8(1)]], [toUInt32(0)]")
	db.Exec(t, "INSERT INTO "+db.Table(TableSpans)+" (Timestamp, ServiceName, SpanName, SampleWeight) "+
		"SELECT toDateTime('2026-11-16 11:00:00', 'UTC'), 'search', 'GET /q', 10 "+
		"UNION ALL SELECT toDateTime('2026-11-24 00:00:00', 'UTC'), 'cart', 'GET /cart', 1")
	db.Exec(t, "INSERT INTO "+db.Table(TableMetricsGauge)+" (Timestamp, ServiceName, MetricName, AttributeKeys, AttributeValues, AttributeTypes) "+
		"SELECT toDateTime('2026-11-17 00:00:00', 'UTC'), 'search', 'queue.depth', ['q'], ['main'], [toUInt8(1)]")

	from := time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)
	got, err := TelemetryByService(ctx, db.Conn, db.Name, from, from.AddDate(0, 0, 7))
	require.NoError(t, err)
	require.Len(t, got, 1)
	s := got["search"]
	require.NotNil(t, s)
	// Span 1: 72 + 6 (service) + 6 (name) + 1 + 10 (attribute) + 2 + 8 (event name, time) + 1 + 2 (event attribute) = 108.
	// Span 2: 72 + 6 + 6 = 84.
	assert.Equal(t, uint64(2), s.Spans)
	assert.Equal(t, 108.0+84, s.StoredSpanBytes)
	assert.Equal(t, 108.0+840, s.WeightedSpanBytes)
	// The point: 40 + 11 (name) + 1 + 4 (attribute).
	assert.Equal(t, uint64(1), s.Points)
	assert.Equal(t, 56.0, s.PointBytes)

	assert.Equal(t, map[string]MetricVolume{"queue.depth": {Points: 1, Bytes: 56}}, s.Metrics)
}

// BenchmarkTelemetryByService measures the weekly report's telemetry-volume scan per stored
// span, against the cheapest pass over the same rows (count per service) in the same run:
// 2M spans of a week, 50 services, three span and two resource attributes each.
//
//	go test ./rollup -run '^$' -bench TelemetryByService -benchtime 5x
func BenchmarkTelemetryByService(b *testing.B) {
	db := chtest.New(b)
	ctx := context.Background()
	if _, err := Migrate(ctx, db.Conn, db.Name, 0); err != nil {
		b.Fatal(err)
	}
	const spans = 2_000_000
	db.Exec(b, "INSERT INTO "+db.Table(TableSpans)+" (Timestamp, ServiceName, SpanName, SampleWeight, "+
		"SpanAttributeKeys, SpanAttributeValues, ResourceAttributeKeys, ResourceAttributeValues) "+
		"SELECT toDateTime('2026-11-16 00:00:00', 'UTC') + number % 604800, concat('svc-', toString(number % 50)), 'GET /items', 10, "+
		"['http.route', 'http.request.method', 'http.response.status_code'], ['/api/v1/items/{id}', 'GET', '200'], "+
		"['service.name', 'host.name'], [concat('svc-', toString(number % 50)), concat('host-', toString(number % 7))] "+
		"FROM system.numbers LIMIT "+strconv.Itoa(spans))
	from := time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)
	b.Run("telemetry", func(b *testing.B) {
		for range b.N {
			if _, err := TelemetryByService(ctx, db.Conn, db.Name, from, from.AddDate(0, 0, 7)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
	})
	b.Run("count-baseline", func(b *testing.B) {
		for range b.N {
			rows, err := db.Conn.Query(ctx, "SELECT toString(ServiceName), count() FROM "+db.Table(TableSpans)+
				" WHERE Timestamp >= "+sqlTime(from)+" AND Timestamp < "+sqlTime(from.AddDate(0, 0, 7))+" GROUP BY ServiceName")
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
			}
			rows.Close()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
	})
}
