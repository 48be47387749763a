package rollup

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

	byMetric, err := MetricPointBytes(ctx, db.Conn, db.Name, from, from.AddDate(0, 0, 7))
	require.NoError(t, err)
	assert.Equal(t, map[[2]string]float64{{"search", "queue.depth"}: 56}, byMetric)
}
