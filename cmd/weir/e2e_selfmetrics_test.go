package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/collectortest"
)

// selfMetricNames are weir's own metrics that the weir itself dashboard reads and that any
// traffic produces (the loss and failure counters appear only when something is lost).
var selfMetricNames = []string{
	"otelcol_receiver_accepted_spans",
	"otelcol_receiver_accepted_metric_points",
	"weir_clickhouse_queue_rows",
	"weir_tailsampling_traces_decided",
	"weir_clickhouse_insert_duration",
	"weir_clickhouse_rows_written",
}

// TestSelfMetrics_ShippedConfig runs config/weir.yaml as it ships, with only its environment
// variables set (no WEIR_SELF_METRICS_ENDPOINT): weir pushes its own metrics over OTLP to its
// own OTLP/HTTP receiver, and they reach ClickHouse under the service name "weir", in the
// metric tables and series_1m, where the weir itself dashboard reads them. Not parallel: it
// sets environment variables.
func TestSelfMetrics_ShippedConfig(t *testing.T) {
	db := chtest.New(t)
	cfg, env := shippedConfig(t, db, map[string]string{"WEIR_SELF_METRICS_INTERVAL": "500"})
	grpcAddr := env["WEIR_OTLP_GRPC_ENDPOINT"]
	stop := runWeirTolerant(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	const spans = 300
	td := ptrace.NewTraces()
	end := time.Now().Add(-time.Minute)
	for i := 0; i < spans; i++ {
		tid := pcommon.TraceID{9, byte(i), byte(i >> 8), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}
		addSpan(td, "frontend", "GET /", ptrace.SpanKindServer, tid, pcommon.SpanID{2, byte(i), byte(i >> 8)}, pcommon.SpanID{}, end, 3*time.Millisecond, i%10 == 0)
	}
	_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	require.NoError(t, err)

	series := db.Table("series_1m")
	list := "'" + strings.Join(selfMetricNames, "','") + "'"
	waitForCount(t, db, "SELECT toUInt64(uniqExact(MetricName)) FROM "+series+" WHERE ServiceName = 'weir' AND MetricName IN ("+list+")",
		uint64(len(selfMetricNames)), 45*time.Second)
	// Deltas: the accepted spans add up to what was sent, whatever the number of pushes.
	waitForCount(t, db, "SELECT toUInt64(sum(Sum)) FROM "+series+" WHERE ServiceName = 'weir' AND MetricName = 'otelcol_receiver_accepted_spans'",
		spans, 30*time.Second)
	// The raw points are stored too, as delta sums (each table is an INSERT of its own, which
	// may land after series_1m's).
	require.Eventually(t, func() bool {
		return db.QueryUint64(t, "SELECT count() FROM "+db.Table("metrics_sum")+
			" WHERE ServiceName = 'weir' AND MetricName = 'weir_clickhouse_rows_written' AND AggregationTemporality = 1") > 0
	}, 30*time.Second, 100*time.Millisecond, "weir_clickhouse_rows_written in metrics_sum")
	require.Eventually(t, func() bool {
		return db.QueryUint64(t, "SELECT count() FROM "+db.Table("metrics_histogram")+
			" WHERE ServiceName = 'weir' AND MetricName = 'weir_clickhouse_insert_duration'") > 0
	}, 30*time.Second, 100*time.Millisecond, "weir_clickhouse_insert_duration in metrics_histogram")
	stop()
}

// runWeirTolerant runs a collector like weir's main (command "weir", so its own metrics
// carry service.name "weir") with the YAML config and returns a function that stops it.
// Stopping tolerates the one error weir's main tolerates too (selfMetricsPushAtShutdown):
// the last push of weir's own metrics finds its receiver already stopped (upstream
// opentelemetry-collector#12944); everything else must stop cleanly.
func runWeirTolerant(t *testing.T, config string) func() {
	t.Helper()
	factories, err := components()
	require.NoError(t, err)
	col := collectortest.StartWith(t, factories, config, collectortest.Options{Command: "weir", Tolerate: selfMetricsPushAtShutdown})
	return func() { col.Shutdown(t) }
}

// selfMetricsSink is an OTLP/HTTP endpoint that accepts weir's own metrics and drops them:
// point WEIR_SELF_METRICS_ENDPOINT at it in tests of the shipped config that use collectortest
// (which wants a clean stop) and do not look at weir's own metrics.
func selfMetricsSink(t *testing.T) string {
	t.Helper()
	return selfMetricsRelay(t, "")
}

// selfMetricsRelay is an OTLP/HTTP endpoint for weir's own metrics that passes each push on to
// target (weir's own OTLP/HTTP receiver) and answers success itself when target is down (or
// empty), so
// that a test using collectortest (which wants a clean stop) can run the shipped config:
// point WEIR_SELF_METRICS_ENDPOINT at it.
func selfMetricsRelay(t *testing.T, target string) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, "http://"+target+r.URL.Path, bytes.NewReader(body))
		if err == nil && target != "" {
			req.Header = r.Header.Clone()
			var resp *http.Response
			if resp, err = client.Do(req); err == nil {
				defer resp.Body.Close()
				for k, v := range resp.Header {
					w.Header()[k] = v
				}
				w.WriteHeader(resp.StatusCode)
				_, _ = io.Copy(w, resp.Body)
				return
			}
		}
		// weir is down (stopping): an empty ExportMetricsServiceResponse.
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
