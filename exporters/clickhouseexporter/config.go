package clickhouseexporter

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/weirhq/weir/internal/chclient"
	"github.com/weirhq/weir/internal/chinsert"
)

// Config is the clickhouse exporter's configuration.
type Config struct {
	// ClickHouse is the server and database (endpoint, database, username, password, tls,
	// dial_timeout at the top level of the exporter's config). endpoint is the native
	// protocol, which the schema's migrations use.
	ClickHouse chclient.Config `mapstructure:",squash"`
	// HTTPEndpoints are the servers' HTTP interfaces, which inserts use
	// (http://host:8123 or https://host:8443); several spread the inserts and fail over. An
	// entry may list several, comma separated, as the native endpoint does, so that one
	// environment variable can name a whole cluster.
	HTTPEndpoints []string `mapstructure:"http_endpoints"`
	// Journal is the weir_journal extension whose blocks this exporter sends, and where the
	// data that other components hand it (pdata) waits for ClickHouse.
	Journal component.ID `mapstructure:"journal"`
	// Compression of the blocks this exporter queues itself: none, lz4 (default) or zstd.
	Compression string `mapstructure:"compression"`
	// CreateSchema runs weir's migrations on start (and again once the server is reachable
	// if it was away at start).
	CreateSchema bool `mapstructure:"create_schema"`
	// Timeout bounds one INSERT attempt against one server; a server that accepts the
	// connection and never answers costs this long.
	Timeout time.Duration `mapstructure:"timeout"`
	// Workers is how many INSERTs run at once (each for a different table).
	Workers int `mapstructure:"workers"`
	// Batch makes INSERTs large and few: a table's blocks go once they hold min_rows rows or
	// the oldest has waited max_wait. Each INSERT makes a part ClickHouse merges later.
	Batch BatchConfig `mapstructure:"batch"`
	// Retry is the wait between attempts after a failure that a retry may fix: it starts at
	// initial_interval and doubles up to max_interval. A block is retried until it goes in;
	// one that ClickHouse refuses for good is set aside (see RejectedMaxSizeMiB).
	Retry RetryConfig `mapstructure:"retry"`
	// RejectedMaxSizeMiB bounds the journal's rejected/ directory, where blocks that
	// ClickHouse refused for good are kept for inspection (the oldest go first); 0 keeps none.
	RejectedMaxSizeMiB int `mapstructure:"rejected_max_size_mib"`
	// DrainTimeout is how long shutdown keeps sending what is queued; the rest waits in the
	// journal for the next start.
	DrainTimeout time.Duration `mapstructure:"drain_timeout"`
	// InsertSettings go with every INSERT, e.g. insert_distributed_sync: 1 on a cluster.
	InsertSettings map[string]string `mapstructure:"insert_settings"`
}

// BatchConfig bounds how long blocks wait to be sent together.
type BatchConfig struct {
	MinRows int           `mapstructure:"min_rows"`
	MaxWait time.Duration `mapstructure:"max_wait"`
}

// RetryConfig is the sender's backoff.
type RetryConfig struct {
	InitialInterval time.Duration `mapstructure:"initial_interval"`
	MaxInterval     time.Duration `mapstructure:"max_interval"`
}

var _ component.Config = (*Config)(nil)

// httpEndpoints are the entries of HTTPEndpoints, split at commas, without blanks.
func (cfg *Config) httpEndpoints() []string {
	var out []string
	for _, entry := range cfg.HTTPEndpoints {
		for e := range strings.SplitSeq(entry, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// Validate reports every mistake in cfg at once.
func (cfg *Config) Validate() error {
	errs := cfg.ClickHouse.Validate()
	endpoints := cfg.httpEndpoints()
	if len(endpoints) == 0 {
		errs = append(errs, errors.New("http_endpoints is empty: list the servers' HTTP interfaces, e.g. http://127.0.0.1:8123"))
	}
	for _, e := range endpoints {
		u, err := url.Parse(e)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("http_endpoints: %q: %w", e, err))
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("http_endpoints: %q: want http://host:port or https://host:port (inserts use ClickHouse's HTTP interface)", e))
		case u.User != nil || u.RawQuery != "":
			errs = append(errs, fmt.Errorf("http_endpoints: %q: no credentials or query in the URL; use username and password", redact(u)))
		}
	}
	switch cfg.Compression {
	case "none", "lz4", "zstd":
	default:
		errs = append(errs, fmt.Errorf("compression %q: use none, lz4 or zstd", cfg.Compression))
	}
	if cfg.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout must be positive, got %s", cfg.Timeout))
	}
	if cfg.Workers < 1 || cfg.Workers > 16 {
		errs = append(errs, fmt.Errorf("workers must be 1 to 16, got %d", cfg.Workers))
	}
	if cfg.Retry.InitialInterval <= 0 || cfg.Retry.MaxInterval < cfg.Retry.InitialInterval {
		errs = append(errs, fmt.Errorf("retry: initial_interval must be positive and max_interval at least as long, got %s and %s",
			cfg.Retry.InitialInterval, cfg.Retry.MaxInterval))
	}
	if cfg.Batch.MinRows < 1 || cfg.Batch.MinRows > 1_000_000 {
		errs = append(errs, fmt.Errorf("batch::min_rows must be 1 to 1000000, got %d", cfg.Batch.MinRows))
	}
	if cfg.Batch.MaxWait <= 0 || cfg.Batch.MaxWait > 10*time.Minute {
		errs = append(errs, fmt.Errorf("batch::max_wait must be positive and at most 10m, got %s", cfg.Batch.MaxWait))
	}
	if cfg.RejectedMaxSizeMiB < 0 {
		errs = append(errs, fmt.Errorf("rejected_max_size_mib must not be negative, got %d", cfg.RejectedMaxSizeMiB))
	}
	if cfg.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("drain_timeout must not be negative, got %s", cfg.DrainTimeout))
	}
	for k := range cfg.InsertSettings {
		if k == "" || strings.ContainsAny(k, "&=?# ") {
			errs = append(errs, fmt.Errorf("insert_settings: %q is not a setting name", k))
		}
	}
	return errors.Join(errs...)
}

func redact(u *url.URL) string {
	c := *u
	c.User, c.RawQuery = nil, ""
	return c.String()
}

// settings are InsertSettings in a stable order. On a cluster, inserts into the Distributed
// tables are synchronous unless the configuration says otherwise: a shard that is down is then
// an error the sender retries, and nothing waits in a server's disk queue, where a hard
// restart can lose it.
func (cfg *Config) settings() []chinsert.Setting {
	s := map[string]string{}
	if cfg.ClickHouse.Cluster != "" {
		s["insert_distributed_sync"] = "1"
		s["insert_distributed_timeout"] = strconv.Itoa(max(1, int(cfg.Timeout.Seconds())))
	}
	for k, v := range cfg.InsertSettings {
		s[k] = v
	}
	out := make([]chinsert.Setting, 0, len(s))
	for k, v := range s {
		out = append(out, chinsert.Setting{Key: k, Value: v})
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Key < out[j-1].Key; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
