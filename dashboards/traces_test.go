package dashboards

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testTraces(t *testing.T, s *suite) {
	const file = "traces.json"
	from, to := traceAt.Add(-time.Hour), traceAt.Add(time.Hour)

	t.Run("all services", func(t *testing.T) {
		env, opts := s.envFor(t, file, from, to, time.Minute, map[string]varValue{varTraceID: values(trace1)})
		assert.Equal(t, []string{"cart", "frontend"}, opts[varService])
		assert.Equal(t, []string{"GET /", "GET /health", "GetCart"}, opts[varOperation])

		slow := s.panel(t, env, file, "Slowest traces", "A")
		slow.hasColumns(t, "trace_id String", "start_time DateTime", "service String", "operation String",
			"duration_ms Float64", "sample_weight Float64", "spans UInt64", "error_spans UInt64")
		require.Equal(t, []string{trace1, trace2, "00000000000000000000000000000005", "00000000000000000000000000000004",
			"00000000000000000000000000000003"}, slow.column(t, "trace_id"))
		assert.Equal(t, "frontend", slow.str(t, 0, "service"))
		assert.Equal(t, "GET /", slow.str(t, 0, "operation"))
		assert.Equal(t, 900.0, slow.num(t, 0, "duration_ms"))
		assert.Equal(t, 1.0, slow.num(t, 0, "sample_weight"))
		assert.Equal(t, 2.0, slow.num(t, 0, "spans"))
		assert.True(t, traceAt.Equal(slow.time(t, 0, "start_time")))
		assert.Equal(t, 50.0, slow.num(t, 1, "duration_ms"))
		assert.Equal(t, 4.0, slow.num(t, 1, "sample_weight"))
		assert.Equal(t, 1.0, slow.num(t, 1, "error_spans"))
		assert.Equal(t, 2.0, slow.num(t, 2, "sample_weight"))

		failing := s.panel(t, env, file, "Failing traces", "A")
		failing.hasColumns(t, "trace_id String", "start_time DateTime", "service String", "operation String",
			"status_message String", "error_spans UInt64", "weighted_error_spans Float64", "sample_weight Float64")
		require.Equal(t, []string{trace2}, failing.column(t, "trace_id"))
		assert.Equal(t, "cart", failing.str(t, 0, "service"))
		assert.Equal(t, "GetCart", failing.str(t, 0, "operation"))
		assert.Equal(t, "boom", failing.str(t, 0, "status_message"))
		assert.Equal(t, 1.0, failing.num(t, 0, "error_spans"))
		assert.Equal(t, 4.0, failing.num(t, 0, "weighted_error_spans"))

		view := s.panel(t, env, file, "Trace ${trace_id}", "A")
		view.hasColumns(t, "traceID String", "spanID String", "parentSpanID String", "serviceName String", "operationName String",
			"startTime Float64", "duration Float64", "kind String", "statusCode String", "statusMessage String")
		require.Len(t, view.rows, 2)
		assert.Equal(t, []string{trace1, trace1}, view.column(t, "traceID"))
		assert.Equal(t, []string{"1000000000000001", "1000000000000002"}, view.column(t, "spanID"))
		assert.Equal(t, []string{"", "1000000000000001"}, view.column(t, "parentSpanID"))
		assert.Equal(t, []string{"frontend", "cart"}, view.column(t, "serviceName"))
		assert.Equal(t, []string{"GET /", "GetCart"}, view.column(t, "operationName"))
		assert.InDelta(t, float64(traceAt.UnixMilli()), view.num(t, 0, "startTime"), 1e-3)
		assert.InDelta(t, float64(traceAt.Add(50*time.Millisecond).UnixMilli()), view.num(t, 1, "startTime"), 1e-3)
		assert.Equal(t, []float64{900, 800}, []float64{view.num(t, 0, "duration"), view.num(t, 1, "duration")})
		assert.Equal(t, []string{"server", "server"}, view.column(t, "kind"))
		assert.Equal(t, []string{"unset", "unset"}, view.column(t, "statusCode"))

		spans := s.panel(t, env, file, "Spans of trace ${trace_id}", "A")
		spans.hasColumns(t, "span_id String", "parent_span_id String", "service String", "operation String", "start_time DateTime",
			"duration_ms Float64", "status_code UInt8", "status_message String", "sample_weight Float64", "attributes String")
		require.Len(t, spans.rows, 2)
		assert.Equal(t, []string{"1000000000000001", "1000000000000002"}, spans.column(t, "span_id"))
		assert.Equal(t, []string{"http.route=GET /", "http.route=GetCart"}, spans.column(t, "attributes"))
		assert.Equal(t, 1.0, spans.num(t, 1, "sample_weight"))
	})

	t.Run("cart GetCart, the trace with a failed span", func(t *testing.T) {
		env, opts := s.envFor(t, file, from, to, time.Minute, map[string]varValue{
			varService: values("cart"), varOperation: values("GetCart"), varTraceID: values(trace2)})
		assert.Equal(t, []string{"GetCart"}, opts[varOperation])
		slow := s.panel(t, env, file, "Slowest traces", "A")
		require.Equal(t, []string{trace1, trace2}, slow.column(t, "trace_id"))
		assert.Equal(t, []string{"cart", "cart"}, slow.column(t, "service"))
		assert.Equal(t, 800.0, slow.num(t, 0, "duration_ms"))
		assert.Equal(t, 30.0, slow.num(t, 1, "duration_ms"))

		view := s.panel(t, env, file, "Trace ${trace_id}", "A")
		require.Len(t, view.rows, 2, "the trace view ignores the service selection")
		assert.Equal(t, []string{"unset", "error"}, view.column(t, "statusCode"))
		assert.Equal(t, []string{"", "boom"}, view.column(t, "statusMessage"))
	})

	t.Run("outside the range, unknown or empty trace ID", func(t *testing.T) {
		for _, id := range []string{"ffffffffffffffffffffffffffffffff", "", "not hex, o'brien"} {
			env, _ := s.envFor(t, file, seedFrom, seedFrom.Add(time.Hour), time.Minute, map[string]varValue{varTraceID: values(id)})
			assert.Empty(t, s.panel(t, env, file, "Slowest traces", "A").rows)
			assert.Empty(t, s.panel(t, env, file, "Failing traces", "A").rows)
			assert.Empty(t, s.panel(t, env, file, "Trace ${trace_id}", "A").rows, id)
			assert.Empty(t, s.panel(t, env, file, "Spans of trace ${trace_id}", "A").rows, id)
		}
	})
}
