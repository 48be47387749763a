package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/collectortest"
	"github.com/weirhq/weir/internal/testnet"
)

// TestDefaultConfig runs the shipped config/weir.yaml (ports, database and queue moved by its
// environment variables) and checks the whole path: every span counted in red_1m, errors
// stored whole, the rest sampled. Not parallel: it sets environment variables.
func TestDefaultConfig(t *testing.T) {
	db := chtest.New(t)
	httpAddr := testnet.FreeAddr(t)
	cfg, env := shippedConfig(t, db, map[string]string{
		"WEIR_OTLP_HTTP_ENDPOINT": httpAddr,
		// weir's own metrics go to its receiver through a relay that outlives it, so that the
		// last push at shutdown succeeds (TestSelfMetrics_ShippedConfig covers the default).
		"WEIR_SELF_METRICS_ENDPOINT": selfMetricsRelay(t, httpAddr),
		"WEIR_SELF_METRICS_INTERVAL": "1000",
	})
	grpcAddr := env["WEIR_OTLP_GRPC_ENDPOINT"]
	factories, err := components()
	require.NoError(t, err)
	col := collectortest.Start(t, factories, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	const traces = 500
	end := time.Now().Add(-time.Minute)
	td := ptrace.NewTraces()
	for i := 0; i < traces; i++ {
		tid := pcommon.TraceID{byte(i), byte(i >> 8), 7, 7, 7, 7, 7, 7, byte(i * 31), byte(i * 17), byte(i * 13), byte(i * 7), byte(i * 5), byte(i * 3), byte(i * 11), byte(i * 19)}
		addSpan(td, "frontend", "GET /", ptrace.SpanKindServer, tid, pcommon.SpanID{1, byte(i), byte(i >> 8)}, pcommon.SpanID{}, end, 3*time.Millisecond, i%25 == 0)
	}
	_, err = client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	require.NoError(t, err)
	// The sampler decides after 2s of quiet and the exporter batches for up to 2s.
	waitForCount(t, db, "SELECT count() FROM "+db.Table("spans")+" WHERE StatusCode = 2", traces/25, 30*time.Second)
	stored := db.QueryUint64(t, "SELECT count() FROM "+db.Table("spans"))
	assert.Less(t, stored, uint64(traces/2), "the rest is sampled")
	// weir_red flushes every 15s, and at shutdown into the persistent queue, which keeps it on
	// disk rather than racing the shutdown: the next start sends it.
	col.Shutdown(t)
	collectortest.Start(t, factories, cfg)
	waitForCount(t, db, "SELECT sum(Requests) FROM "+db.Table("red_1m"), traces, 30*time.Second)
	assert.Equal(t, uint64(traces/25), db.QueryUint64(t, "SELECT sum(Requests) FROM "+db.Table("red_1m")+" WHERE StatusCode = 2"))
	assert.Equal(t, stored, db.QueryUint64(t, "SELECT count() FROM "+db.Table("spans")), "nothing stored twice")
	// weir's own metrics reach ClickHouse too: the spans accepted before and after the restart
	// (the first weir's last push went through the relay before it stopped).
	waitForCount(t, db, "SELECT toUInt64(sum(Sum)) FROM "+db.Table("series_1m")+
		" WHERE MetricName = 'otelcol_receiver_accepted_spans'", traces, 30*time.Second)
}
