package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/collectortest"
	"github.com/weirhq/weir/internal/testnet"
)

// weirUnderTest is weir running in-process with the real component list, its own OTLP
// ports and its own ClickHouse database.
type weirUnderTest struct {
	DB       *chtest.DB
	GRPCAddr string
	HTTPAddr string
	Col      *collectortest.Collector
	// MetricsURL is the Prometheus scrape URL of weir's own metrics, with ServeMetrics.
	MetricsURL string
}

// e2eConfig is config/weir.yaml's shape with test ports and a fast, small queue.
// Placeholders: {{GRPC}}, {{HTTP}}, {{ENDPOINT}}, {{DB}}, {{QUEUE}}, {{RECEIVER_EXTRA}},
// {{EXTENSIONS}}, {{EXTENSION_LIST}}.
const e2eConfig = `
extensions:
  file_storage/queue:
    directory: {{QUEUE}}
    create_directory: true
{{EXTENSIONS}}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {{GRPC}}
{{RECEIVER_EXTRA_GRPC}}
      http:
        endpoint: {{HTTP}}
{{RECEIVER_EXTRA_HTTP}}
processors:
{{PROCESSORS}}
connectors:
{{CONNECTORS}}
exporters:
  clickhouse:
    endpoint: {{ENDPOINT}}
    database: {{DB}}
    sending_queue:
      storage: file_storage/queue
      batch:
        flush_timeout: 200ms
        min_size: 10000
        max_size: 50000
    retry_on_failure:
      initial_interval: 200ms
      max_interval: 2s
      max_elapsed_time: 0
service:
  extensions: [file_storage/queue{{EXTENSION_LIST}}]
  telemetry:
{{TELEMETRY}}
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [otlp]
      processors: [{{TRACE_PROCESSORS}}]
      exporters: [clickhouse]
    metrics:
      receivers: [otlp]
      exporters: [clickhouse]
{{PIPELINES}}
`

// weirOptions adjust the e2e config.
type weirOptions struct {
	Endpoint          string // ClickHouse; default chtest.Endpoint()
	Extensions        string // YAML under extensions:, indented two spaces
	ExtensionList     string // extra names for service.extensions, e.g. ", bearertokenauth"
	ReceiverExtraGRPC string // YAML under protocols.grpc, indented eight spaces
	ReceiverExtraHTTP string // YAML under protocols.http, indented eight spaces
	Processors        string // YAML under processors:, indented two spaces
	TraceProcessors   string // the traces pipeline's processors, e.g. "weir_tail_sampling"
	Connectors        string // YAML under connectors:, indented two spaces
	Pipelines         string // more pipelines, indented four spaces
	// ServeMetrics serves the collector's own metrics in Prometheus text format at
	// weirUnderTest.MetricsURL; otherwise they are off.
	ServeMetrics bool
}

func startWeir(t *testing.T, opt weirOptions) *weirUnderTest {
	t.Helper()
	db := chtest.New(t)
	w := &weirUnderTest{DB: db, GRPCAddr: testnet.FreeAddr(t), HTTPAddr: testnet.FreeAddr(t)}
	endpoint := opt.Endpoint
	if endpoint == "" {
		endpoint = chtest.Endpoint()
	}
	telemetry := "    metrics:\n      level: none"
	if opt.ServeMetrics {
		port := testnet.FreePort(t)
		telemetry = "    metrics:\n      level: normal\n      readers:\n        - pull:\n" +
			"            exporter:\n              prometheus:\n                host: 127.0.0.1\n" +
			"                port: " + strconv.Itoa(port)
		w.MetricsURL = "http://127.0.0.1:" + strconv.Itoa(port) + "/metrics"
	}
	cfg := strings.NewReplacer(
		"{{TELEMETRY}}", telemetry,
		"{{GRPC}}", w.GRPCAddr,
		"{{HTTP}}", w.HTTPAddr,
		"{{ENDPOINT}}", endpoint,
		"{{DB}}", db.Name,
		"{{QUEUE}}", filepath.Join(t.TempDir(), "queue"),
		"{{EXTENSIONS}}", opt.Extensions,
		"{{EXTENSION_LIST}}", opt.ExtensionList,
		"{{RECEIVER_EXTRA_GRPC}}", opt.ReceiverExtraGRPC,
		"{{RECEIVER_EXTRA_HTTP}}", opt.ReceiverExtraHTTP,
		"{{PROCESSORS}}", opt.Processors,
		"{{TRACE_PROCESSORS}}", opt.TraceProcessors,
		"{{CONNECTORS}}", opt.Connectors,
		"{{PIPELINES}}", opt.Pipelines,
	).Replace(e2eConfig)
	factories, err := components()
	require.NoError(t, err)
	w.Col = collectortest.Start(t, factories, cfg)
	return w
}

// shippedConfig returns config/weir.yaml as it ships, pointed through its environment
// variables at db, free ports and a queue directory of the test's own, with overrides
// applied last. It sets the environment, so its caller cannot be parallel. The returned map
// is the environment it set (e.g. env["WEIR_OTLP_GRPC_ENDPOINT"]).
func shippedConfig(t *testing.T, db *chtest.DB, overrides map[string]string) (cfg string, env map[string]string) {
	t.Helper()
	env = map[string]string{
		"WEIR_CLICKHOUSE_ENDPOINT": chtest.Endpoint(),
		"WEIR_CLICKHOUSE_DATABASE": db.Name,
		"WEIR_OTLP_GRPC_ENDPOINT":  testnet.FreeAddr(t),
		"WEIR_OTLP_HTTP_ENDPOINT":  testnet.FreeAddr(t),
		"WEIR_HEALTH_ENDPOINT":     testnet.FreeAddr(t),
		"WEIR_METRICS_HOST":        "127.0.0.1",
		"WEIR_METRICS_PORT":        strconv.Itoa(testnet.FreePort(t)),
		"WEIR_QUEUE_DIR":           filepath.Join(t.TempDir(), "queue"),
		"WEIR_LOG_LEVEL":           "warn",
	}
	for k, v := range overrides {
		env[k] = v
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	data, err := os.ReadFile("../../config/weir.yaml")
	require.NoError(t, err)
	return string(data), env
}
