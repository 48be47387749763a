package weirotlpreceiver

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/confignet"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/weirhq/weir/internal/metricstage"
	"github.com/weirhq/weir/internal/red"
	"github.com/weirhq/weir/internal/tailsample"
)

const typeStr = "weir_otlp"

// NewFactory returns the factory of the weir_otlp receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(component.MustNewType(typeStr), createDefaultConfig,
		receiver.WithTraces(createTraces, component.StabilityLevelAlpha),
		receiver.WithMetrics(createMetrics, component.StabilityLevelAlpha))
}

func createDefaultConfig() component.Config {
	grpc := configgrpc.NewDefaultServerConfig()
	grpc.NetAddr = confignet.AddrConfig{Endpoint: "localhost:4317", Transport: confignet.TransportTypeTCP}
	// An SDK batch of 512 spans is 100-300 KB; 8 MiB leaves room for collectors' batches
	// while bounding what one request costs.
	grpc.MaxRecvMsgSizeMiB = 8
	http := confighttp.NewDefaultServerConfig()
	http.NetAddr.Endpoint = "localhost:4318"
	http.MaxRequestBodySize = 8 << 20 // after decompression: a compressed bomb is refused too
	// A request's body must arrive within it: a sender that stalls mid-body holds its share
	// of max_inflight_mib only that long (confighttp sets no read timeout).
	http.ReadTimeout = 30 * time.Second
	return &Config{
		Protocols: Protocols{
			GRPC: configoptional.Default(grpc),
			HTTP: configoptional.Default(HTTPConfig{ServerConfig: http, TracesURLPath: "/v1/traces", MetricsURLPath: "/v1/metrics"}),
		},
		Journal:        component.MustNewID("weir_journal"),
		Epoch:          time.Second,
		RED:            configoptional.Some(*red.DefaultConfig()),
		TailSampling:   configoptional.Some(*tailsample.DefaultConfig()),
		Metrics:        metricstage.DefaultConfig(),
		Compression:    "lz4",
		MemoryLimitMiB: 1024,
		MaxInflightMiB: 64,
	}
}

// receivers are the live receivers by configuration: the collector creates the traces and the
// metrics receiver of one component from the same *Config, and they are one set of servers
// over one engine. (Keyed by the config, not the ID: several collectors in one process, as in
// tests, each have their own.)
var (
	receiversMu sync.Mutex
	receivers   = map[*Config]*otlpReceiver{}
)

func acquire(set receiver.Settings, cfg *Config) *otlpReceiver {
	receiversMu.Lock()
	defer receiversMu.Unlock()
	if r, ok := receivers[cfg]; ok {
		return r
	}
	r := newReceiver(cfg, set)
	receivers[cfg] = r
	return r
}

func createTraces(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Traces) (receiver.Traces, error) {
	r := acquire(set, cfg.(*Config))
	r.nextTraces = next
	return r, nil
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	r := acquire(set, cfg.(*Config))
	r.nextMetrics = next
	return r, nil
}
