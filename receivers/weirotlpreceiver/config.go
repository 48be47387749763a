package weirotlpreceiver

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"

	"github.com/weirhq/weir/internal/metricstage"
	"github.com/weirhq/weir/internal/red"
	"github.com/weirhq/weir/internal/tailsample"
)

// Config is the weir_otlp receiver's configuration.
type Config struct {
	Protocols Protocols `mapstructure:"protocols"`
	// Journal is the weir_journal extension requests are written to before they are
	// acknowledged; the clickhouse exporter of the same journal sends what comes of them.
	Journal component.ID `mapstructure:"journal"`
	// Epoch is how often what the requests produced is sealed into the journal as blocks
	// and a checkpoint: the bound on how late a kept span reaches the sender.
	Epoch time.Duration `mapstructure:"epoch"`
	// RED counts every span before sampling into red_1m and edges_1m (weir_red's settings).
	RED configoptional.Optional[red.Config] `mapstructure:"red"`
	// TailSampling decides which traces are stored (weir_tail_sampling's settings); without
	// it every span is stored.
	TailSampling configoptional.Optional[tailsample.Config] `mapstructure:"tail_sampling"`
	// Metrics are the metric stages: cumulative_to_delta and the series limit.
	Metrics metricstage.Config `mapstructure:"metrics"`
	// Compression of the blocks in the journal: none, lz4 (default) or zstd.
	Compression string `mapstructure:"compression"`
	// MemoryLimitMiB is what weir's heap may use. weir sets the Go runtime's soft limit
	// (GOMEMLIMIT, unless set in the environment) to it, and refuses requests (gRPC
	// UNAVAILABLE, HTTP 503 with Retry-After) while the heap is above it, so the process
	// stays near it instead of growing. 0 turns both off.
	MemoryLimitMiB int `mapstructure:"memory_limit_mib"`
	// MaxInflightMiB bounds the request bodies being read or processed at once; requests
	// beyond it are refused at once, not queued.
	MaxInflightMiB int `mapstructure:"max_inflight_mib"`
}

// Protocols are the OTLP servers.
type Protocols struct {
	GRPC configoptional.Optional[configgrpc.ServerConfig] `mapstructure:"grpc"`
	HTTP configoptional.Optional[HTTPConfig]              `mapstructure:"http"`
}

// HTTPConfig is the OTLP/HTTP server.
type HTTPConfig struct {
	ServerConfig   confighttp.ServerConfig `mapstructure:",squash"`
	TracesURLPath  string                  `mapstructure:"traces_url_path"`
	MetricsURLPath string                  `mapstructure:"metrics_url_path"`
}

var _ component.Config = (*Config)(nil)

// Validate reports every mistake at once.
func (cfg *Config) Validate() error {
	var errs []error
	if !cfg.Protocols.GRPC.HasValue() && !cfg.Protocols.HTTP.HasValue() {
		errs = append(errs, errors.New("protocols: enable grpc, http or both"))
	}
	if h := cfg.Protocols.HTTP.Get(); h != nil {
		ok := true
		for _, p := range []struct{ name, path string }{{"traces_url_path", h.TracesURLPath}, {"metrics_url_path", h.MetricsURLPath}} {
			switch {
			case !strings.HasPrefix(p.path, "/"):
				errs = append(errs, fmt.Errorf("protocols::http::%s %q must start with /", p.name, p.path))
				ok = false
			case strings.ContainsAny(p.path, "{}") || strings.HasSuffix(p.path, "/"):
				// http.ServeMux would take it as a wildcard or a whole subtree (or panic).
				errs = append(errs, fmt.Errorf("protocols::http::%s %q must be a plain path: no {wildcards}, no trailing /", p.name, p.path))
				ok = false
			}
		}
		if ok && h.TracesURLPath == h.MetricsURLPath {
			errs = append(errs, fmt.Errorf("protocols::http: traces_url_path and metrics_url_path are both %q; they must differ", h.TracesURLPath))
		}
		if h.ServerConfig.ReadTimeout < 0 {
			errs = append(errs, fmt.Errorf("protocols::http::read_timeout must not be negative, got %s", h.ServerConfig.ReadTimeout))
		}
	}
	if cfg.Epoch < 10*time.Millisecond || cfg.Epoch > time.Minute {
		errs = append(errs, fmt.Errorf("epoch must be between 10ms and 1m, got %s", cfg.Epoch))
	}
	if r := cfg.RED.Get(); r != nil {
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("red: %w", err))
		}
	}
	if s := cfg.TailSampling.Get(); s != nil {
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("tail_sampling: %w", err))
		}
	}
	if err := cfg.Metrics.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("metrics: %w", err))
	}
	switch cfg.Compression {
	case "none", "lz4", "zstd":
	default:
		errs = append(errs, fmt.Errorf("compression %q: use none, lz4 or zstd", cfg.Compression))
	}
	if cfg.MemoryLimitMiB != 0 && cfg.MemoryLimitMiB < 64 {
		errs = append(errs, fmt.Errorf("memory_limit_mib must be 0 (off) or at least 64, got %d", cfg.MemoryLimitMiB))
	}
	if cfg.MaxInflightMiB < 1 {
		errs = append(errs, fmt.Errorf("max_inflight_mib must be at least 1, got %d", cfg.MaxInflightMiB))
	} else {
		// A request that needs more than the bound passes only while no other is in flight:
		// under steady traffic its sender would retry for ever.
		bound := int64(cfg.MaxInflightMiB) << 20
		if h := cfg.Protocols.HTTP.Get(); h != nil {
			body := h.maxBody()
			if need := (1 + jsonDecodeFactor) * body; need > bound {
				errs = append(errs, fmt.Errorf("max_inflight_mib %d is below what one OTLP/HTTP request may take, %d MiB: "+
					"its body (protocols::http::max_request_body_size, %d bytes) and %d times that while JSON is decoded; "+
					"raise max_inflight_mib or lower max_request_body_size", cfg.MaxInflightMiB, (need+1<<20-1)>>20, body, jsonDecodeFactor))
			}
		}
		if g := cfg.Protocols.GRPC.Get(); g != nil && g.MaxRecvMsgSizeMiB > cfg.MaxInflightMiB {
			errs = append(errs, fmt.Errorf("max_inflight_mib %d is below protocols::grpc::max_recv_msg_size_mib %d: "+
				"raise max_inflight_mib or lower max_recv_msg_size_mib", cfg.MaxInflightMiB, g.MaxRecvMsgSizeMiB))
		}
	}
	return errors.Join(errs...)
}
