// Package chclient is the ClickHouse connection setting that weir's components share (the
// clickhouse exporter and the weir_rollup extension): where the server is, which database,
// who to log in as, and how to open the native-protocol connection.
package chclient // import "github.com/weirhq/weir/internal/chclient"

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configtls"

	"github.com/weirhq/weir/rollup"
)

// Config is a ClickHouse server (or several, or a cluster) and the database weir's tables
// live in. Components squash it into their own config, so its keys sit at the component's
// top level.
type Config struct {
	// Endpoint is host:port of the server's native protocol, optionally prefixed with
	// tcp:// (or clickhouse://); several comma-separated endpoints are tried in order, and
	// a connection whose server went away is replaced by one to the next that answers.
	Endpoint string `mapstructure:"endpoint"`
	// Database holds weir's tables.
	Database string `mapstructure:"database"`
	// Cluster names the cluster (in the servers' remote_servers) that holds the database:
	// the schema is created ON CLUSTER as replicated <table>_local tables behind Distributed
	// tables, and the rollup and retention work shard by shard. Empty means one server.
	// The endpoints may be any servers of the cluster.
	Cluster string `mapstructure:"cluster"`
	// Username and Password authenticate; Password is redacted wherever the config is
	// printed. Use ${env:WEIR_CLICKHOUSE_PASSWORD} to keep it out of the file.
	Username string              `mapstructure:"username"`
	Password configopaque.String `mapstructure:"password"`
	// TLS is off unless tls.insecure is false.
	TLS configtls.ClientConfig `mapstructure:"tls"`
	// DialTimeout bounds connecting to a server.
	DialTimeout time.Duration `mapstructure:"dial_timeout"`
}

// Default is the local server's native port and the database "weir".
func Default() Config {
	return Config{
		Endpoint:    "tcp://127.0.0.1:9000",
		Database:    "weir",
		Username:    "default",
		TLS:         configtls.ClientConfig{Insecure: true},
		DialTimeout: 5 * time.Second,
	}
}

// Validate returns every mistake in c, one error each.
func (c *Config) Validate() []error {
	var errs []error
	if _, err := c.Addrs(); err != nil {
		errs = append(errs, err)
	}
	if err := rollup.ValidateDatabase(c.Database); err != nil {
		errs = append(errs, fmt.Errorf("database: %w", err))
	}
	if c.Cluster != "" && !clusterRe.MatchString(c.Cluster) {
		errs = append(errs, fmt.Errorf("cluster %q: use letters, digits and underscores, not starting with a digit", c.Cluster))
	}
	if c.DialTimeout <= 0 {
		errs = append(errs, fmt.Errorf("dial_timeout must be positive, got %s", c.DialTimeout))
	}
	if c.Password != "" && c.Username == "" {
		errs = append(errs, errors.New("password is set but username is empty: set username too"))
	}
	return errs
}

// Addrs parses Endpoint into host:port addresses.
func (c *Config) Addrs() ([]string, error) {
	if strings.TrimSpace(c.Endpoint) == "" {
		return nil, errors.New("endpoint is empty: set it to the server's native port, e.g. tcp://127.0.0.1:9000")
	}
	var out []string
	for _, e := range strings.Split(c.Endpoint, ",") {
		e = strings.TrimSpace(e)
		for _, p := range []string{"tcp://", "clickhouse://"} {
			e = strings.TrimPrefix(e, p)
		}
		if strings.Contains(e, "://") {
			return nil, fmt.Errorf("endpoint %q: only the native protocol (tcp://host:port) is supported", e)
		}
		host, port, err := net.SplitHostPort(e)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("endpoint %q: want host:port, e.g. 127.0.0.1:9000", e)
		}
		out = append(out, e)
	}
	return out, nil
}

var clusterRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Options are the driver options for c. The connection's default database is "default",
// since weir's may not exist yet: queries name their database.
func (c *Config) Options(ctx context.Context, compression clickhouse.CompressionMethod, maxConns int) (*clickhouse.Options, error) {
	addrs, err := c.Addrs()
	if err != nil {
		return nil, err
	}
	return c.options(ctx, addrs, compression, maxConns)
}

// options are the driver options for c at addrs. The driver dials them in order and skips
// one that refuses, and it drops a pooled connection whose server closed it, so the next
// query dials again: that is the failover between endpoints.
func (c *Config) options(ctx context.Context, addrs []string, compression clickhouse.CompressionMethod, maxConns int) (*clickhouse.Options, error) {
	var err error
	var tlsCfg *tls.Config
	if !c.TLS.Insecure {
		if tlsCfg, err = c.TLS.LoadTLSConfig(ctx); err != nil {
			return nil, fmt.Errorf("load tls config: %w", err)
		}
	}
	var settings clickhouse.Settings
	if c.Cluster != "" {
		// An INSERT into a Distributed table returns once every shard has its rows, so an
		// acknowledged write is stored; by default it would wait on this server's disk.
		settings = clickhouse.Settings{"insert_distributed_sync": 1}
	}
	return &clickhouse.Options{
		Settings: settings,
		Protocol: clickhouse.Native, // the driver's HTTP mode does not work with 18.16
		Addr:     addrs,
		Auth: clickhouse.Auth{
			Database: "default",
			Username: c.Username,
			Password: string(c.Password),
		},
		TLS:             tlsCfg,
		DialTimeout:     c.DialTimeout,
		Compression:     &clickhouse.Compression{Method: compression},
		MaxOpenConns:    maxConns,
		MaxIdleConns:    max(1, maxConns/2),
		ConnMaxLifetime: time.Hour,
		// In order, so the first endpoint gets the load while it answers.
		ConnOpenStrategy: clickhouse.ConnOpenInOrder,
	}, nil
}

// Open opens a connection pool to c with at most maxConns connections. It does not dial:
// the first query does.
func (c *Config) Open(ctx context.Context, compression clickhouse.CompressionMethod, maxConns int) (driver.Conn, error) {
	opts, err := c.Options(ctx, compression, maxConns)
	if err != nil {
		return nil, err
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %s: %w", c.Endpoint, err)
	}
	return conn, nil
}

// RollupCluster is the cluster c names, for the migrations, the rollup job and retention,
// or nil for one server. Its Dial reaches the cluster's servers with c's credentials and TLS,
// with at most 2 connections each.
func (c *Config) RollupCluster() *rollup.Cluster {
	if c.Cluster == "" {
		return nil
	}
	return &rollup.Cluster{
		Name: c.Cluster,
		Dial: func(ctx context.Context, addrs []string) (driver.Conn, error) {
			opts, err := c.options(ctx, addrs, clickhouse.CompressionLZ4, 2)
			if err != nil {
				return nil, err
			}
			conn, err := clickhouse.Open(opts)
			if err != nil {
				return nil, fmt.Errorf("open clickhouse %s: %w", strings.Join(addrs, ","), err)
			}
			return conn, nil
		},
	}
}
