package main

import (
	"path/filepath"
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
    metrics:
      level: none
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [clickhouse]
    metrics:
      receivers: [otlp]
      exporters: [clickhouse]
`

// weirOptions adjust the e2e config.
type weirOptions struct {
	Endpoint          string // ClickHouse; default chtest.Endpoint()
	Extensions        string // YAML under extensions:, indented two spaces
	ExtensionList     string // extra names for service.extensions, e.g. ", bearertokenauth"
	ReceiverExtraGRPC string // YAML under protocols.grpc, indented eight spaces
	ReceiverExtraHTTP string // YAML under protocols.http, indented eight spaces
}

func startWeir(t *testing.T, opt weirOptions) *weirUnderTest {
	t.Helper()
	db := chtest.New(t)
	w := &weirUnderTest{DB: db, GRPCAddr: testnet.FreeAddr(t), HTTPAddr: testnet.FreeAddr(t)}
	endpoint := opt.Endpoint
	if endpoint == "" {
		endpoint = chtest.Endpoint()
	}
	cfg := strings.NewReplacer(
		"{{GRPC}}", w.GRPCAddr,
		"{{HTTP}}", w.HTTPAddr,
		"{{ENDPOINT}}", endpoint,
		"{{DB}}", db.Name,
		"{{QUEUE}}", filepath.Join(t.TempDir(), "queue"),
		"{{EXTENSIONS}}", opt.Extensions,
		"{{EXTENSION_LIST}}", opt.ExtensionList,
		"{{RECEIVER_EXTRA_GRPC}}", opt.ReceiverExtraGRPC,
		"{{RECEIVER_EXTRA_HTTP}}", opt.ReceiverExtraHTTP,
	).Replace(e2eConfig)
	factories, err := components()
	require.NoError(t, err)
	w.Col = collectortest.Start(t, factories, cfg)
	return w
}
