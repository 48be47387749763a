package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chcluster"
	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/collectortest"
	"github.com/weirhq/weir/internal/testnet"
	"github.com/weirhq/weir/rollup"
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
	// Cluster is the ClickHouse cluster DB lives on (weirOptions.Cluster), for the rollup
	// job; nil on the one test server.
	Cluster *rollup.Cluster
}

// e2eConfig is config/weir.yaml's shape with test ports, a journal of the test's own and a
// short epoch. Placeholders: {{GRPC}}, {{HTTP}}, {{ENDPOINT}}, {{HTTP_ENDPOINTS}}, {{DB}},
// {{CLUSTER}}, {{JOURNAL}}, {{RECEIVER}}, {{STAGES}}, {{RECEIVER_EXTRA_*}}, {{EXTENSIONS}},
// {{EXTENSION_LIST}}, {{PROCESSORS}}, {{TRACE_PROCESSORS}}, {{CONNECTORS}}, {{PIPELINES}}.
const e2eConfig = `
extensions:
  weir_journal:
    directory: {{JOURNAL}}
{{EXTENSIONS}}
receivers:
  {{RECEIVER}}:
    protocols:
      grpc:
        endpoint: {{GRPC}}
{{RECEIVER_EXTRA_GRPC}}
      http:
        endpoint: {{HTTP}}
{{RECEIVER_EXTRA_HTTP}}
{{STAGES}}
processors:
{{PROCESSORS}}
connectors:
{{CONNECTORS}}
exporters:
  clickhouse:
    endpoint: {{ENDPOINT}}
    http_endpoints: [{{HTTP_ENDPOINTS}}]
    database: {{DB}}
    cluster: "{{CLUSTER}}"
    batch:
      max_wait: 100ms
    retry:
      initial_interval: 200ms
      max_interval: 2s
service:
  extensions: [weir_journal{{EXTENSION_LIST}}]
  telemetry:
{{TELEMETRY}}
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [{{RECEIVER}}]
      processors: [{{TRACE_PROCESSORS}}]
      exporters: [clickhouse]
    metrics:
      receivers: [{{RECEIVER}}]
      exporters: [clickhouse]
{{PIPELINES}}
`

// defaultStages store every span and metric point as sent: no tail sampling, no metric
// stages; RED counts every span.
const defaultStages = `    epoch: 100ms
    tail_sampling:
      enabled: false
    metrics:
      cumulative_to_delta: false
      max_series_per_metric: 0
`

// weirOptions adjust the e2e config.
type weirOptions struct {
	Endpoint          string // ClickHouse native; default chtest.Endpoint()
	HTTPEndpoint      string // ClickHouse HTTP; default chtest.HTTPAddr()
	Extensions        string // YAML under extensions:, indented two spaces
	ExtensionList     string // extra names for service.extensions, e.g. ", bearertokenauth"
	ReceiverExtraGRPC string // YAML under protocols.grpc, indented eight spaces
	ReceiverExtraHTTP string // YAML under protocols.http, indented eight spaces
	// Stages is YAML under weir_otlp (indented four spaces): epoch, red, tail_sampling,
	// metrics, memory_limit_mib. Default defaultStages.
	Stages string
	// Pdata runs the collector's own otlp receiver instead of weir_otlp: data goes through
	// pdata processors and connectors (Processors, TraceProcessors, Connectors, Pipelines)
	// into the exporter's pdata path.
	Pdata           bool
	Processors      string // YAML under processors:, indented two spaces
	TraceProcessors string // the traces pipeline's processors, e.g. "weir_tail_sampling"
	Connectors      string // YAML under connectors:, indented two spaces
	Pipelines       string // more pipelines, indented four spaces
	// ServeMetrics serves the collector's own metrics in Prometheus text format at
	// weirUnderTest.MetricsURL; otherwise they are off.
	ServeMetrics bool
	// Cluster, when set, is a database on the test cluster: weir writes to it with cluster
	// set, through every server's native and HTTP endpoint (Endpoint and HTTPEndpoint are
	// not used), instead of to a database of its own on the one test server.
	Cluster *chcluster.DB
}

func startWeir(t *testing.T, opt weirOptions) *weirUnderTest {
	t.Helper()
	w := &weirUnderTest{GRPCAddr: testnet.FreeAddr(t), HTTPAddr: testnet.FreeAddr(t)}
	endpoint, httpEndpoints, cluster := opt.Endpoint, []string{opt.HTTPEndpoint}, ""
	if c := opt.Cluster; c != nil {
		w.DB = &chtest.DB{Conn: c.Conn, Name: c.Name, Addr: c.Nodes[0].Addr}
		endpoint, httpEndpoints, cluster = "tcp://"+strings.Join(c.Endpoints(), ","), c.HTTPEndpoints(), c.Cluster.Name
		w.Cluster = &rollup.Cluster{Name: cluster, Dial: chcluster.Dial}
	} else {
		w.DB = chtest.New(t)
	}
	if endpoint == "" {
		endpoint = chtest.Endpoint()
	}
	if httpEndpoints[0] == "" {
		httpEndpoints[0] = "http://" + chtest.HTTPAddr()
	}
	receiver, stages := "weir_otlp", opt.Stages
	if stages == "" {
		stages = defaultStages
	}
	if opt.Pdata {
		receiver, stages = "otlp", ""
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
		"{{HTTP_ENDPOINTS}}", `"`+strings.Join(httpEndpoints, `", "`)+`"`,
		"{{DB}}", w.DB.Name,
		"{{CLUSTER}}", cluster,
		"{{JOURNAL}}", filepath.Join(t.TempDir(), "journal"),
		"{{RECEIVER}}", receiver,
		"{{STAGES}}", stages,
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

// weirEnv is the environment that points config/weir.yaml at a ClickHouse (native
// endpoints, an HTTP endpoint, a database) with free ports, a journal of the test's own and
// warn-level logs; extra is set over it. env["WEIR_OTLP_GRPC_ENDPOINT"] is where weir takes
// OTLP/gRPC.
func weirEnv(t *testing.T, endpoint, httpEndpoint, database string, extra map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{
		"WEIR_CLICKHOUSE_ENDPOINT":      endpoint,
		"WEIR_CLICKHOUSE_HTTP_ENDPOINT": httpEndpoint,
		"WEIR_CLICKHOUSE_DATABASE":      database,
		"WEIR_OTLP_GRPC_ENDPOINT":       testnet.FreeAddr(t),
		"WEIR_OTLP_HTTP_ENDPOINT":       testnet.FreeAddr(t),
		"WEIR_HEALTH_ENDPOINT":          testnet.FreeAddr(t),
		"WEIR_METRICS_HOST":             "127.0.0.1",
		"WEIR_METRICS_PORT":             strconv.Itoa(testnet.FreePort(t)),
		"WEIR_JOURNAL_DIR":              filepath.Join(t.TempDir(), "journal"),
		"WEIR_LOG_LEVEL":                "warn",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// shippedConfig returns config/weir.yaml as it ships, pointed through its environment
// variables at db, free ports and a queue directory of the test's own, with overrides
// applied last. It sets the environment, so its caller cannot be parallel. The returned map
// is the environment it set (e.g. env["WEIR_OTLP_GRPC_ENDPOINT"]).
func shippedConfig(t *testing.T, db *chtest.DB, overrides map[string]string) (cfg string, env map[string]string) {
	t.Helper()
	env = weirEnv(t, chtest.Endpoint(), "http://"+chtest.HTTPAddr(), db.Name, overrides)
	for k, v := range env {
		t.Setenv(k, v)
	}
	data, err := os.ReadFile("../../config/weir.yaml")
	require.NoError(t, err)
	return string(data), env
}
