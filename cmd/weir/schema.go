package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/weirhq/weir/internal/chclient"
	"github.com/weirhq/weir/rollup"
)

// schemaCommand is `weir schema`: print the DDL weir runs for a server version, or apply it.
func schemaCommand() *cobra.Command {
	var (
		endpoint, database, user, cluster, serverVersion string
		apply                                            bool
	)
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Print (or --apply) the ClickHouse DDL weir runs for a server version",
		Long: `Print the DDL of weir's tables. With --server-version it is rendered for that
ClickHouse version without connecting; otherwise the version is detected from --endpoint.
With --apply the pending migrations are run and the schema version is reported.

With --cluster NAME the schema is for a cluster (see README, "On a ClickHouse cluster"):
replicated <table>_local tables behind Distributed tables under the usual names, created ON
CLUSTER; --apply first waits for every server of the cluster to have its ZooKeeper session.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			if apply && serverVersion != "" {
				return errors.New("--server-version renders offline; drop it to --apply against a server")
			}
			if serverVersion != "" {
				v, err := rollup.ParseVersion(serverVersion)
				if err != nil {
					return err
				}
				return printPlan(cmd.OutOrStdout(), rollup.Options{Database: database, Features: rollup.FeaturesFor(v), Cluster: cluster}, 0, v)
			}
			cfg := clickhouseConfig(endpoint, database, user, cluster)
			if errs := cfg.Validate(); len(errs) > 0 {
				return errors.Join(errs...)
			}
			conn, err := connect(ctx, cfg)
			if err != nil {
				return err
			}
			defer conn.Close()
			if apply {
				var res rollup.Applied
				if c := cfg.RollupCluster(); c != nil {
					res, err = rollup.MigrateCluster(ctx, conn, *c, database, 0)
				} else {
					res, err = rollup.Migrate(ctx, conn, database, 0)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "ClickHouse %s: %s at schema version %d (was %d), %d statements run\n",
					res.Server, database, res.To, res.From, len(res.Ran))
				return nil
			}
			v, err := rollup.DetectVersion(ctx, conn)
			if err != nil {
				return err
			}
			from, err := rollup.CurrentVersion(ctx, conn, database)
			if err != nil {
				return err
			}
			return printPlan(cmd.OutOrStdout(), rollup.Options{Database: database, Features: rollup.FeaturesFor(v), Cluster: cluster}, from, v)
		},
	}
	f := cmd.Flags()
	f.StringVar(&endpoint, "endpoint", envOr("WEIR_CLICKHOUSE_ENDPOINT", "tcp://127.0.0.1:19000"), "ClickHouse native endpoint")
	f.StringVar(&database, "database", envOr("WEIR_CLICKHOUSE_DATABASE", "weir"), "database holding weir's tables")
	f.StringVar(&user, "user", envOr("WEIR_CLICKHOUSE_USER", "default"), "ClickHouse user (password from WEIR_CLICKHOUSE_PASSWORD)")
	f.StringVar(&cluster, "cluster", os.Getenv("WEIR_CLICKHOUSE_CLUSTER"), "the cluster (remote_servers) to create the schema on; empty: one server")
	f.StringVar(&serverVersion, "server-version", "", "render for this ClickHouse version (e.g. 18.16.1, 24.8) without connecting")
	f.BoolVar(&apply, "apply", false, "run the pending migrations against the server")
	return cmd
}

// printPlan writes the statements that bring opts.Database from schema version from to the
// latest, rendered for server version v.
func printPlan(w io.Writer, opts rollup.Options, from int, v rollup.Version) error {
	stmts, err := rollup.Plan(opts, from, rollup.LatestVersion())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "-- weir schema for ClickHouse %s, database %s: version %d -> %d (%d statements)\n\n",
		v, opts.Database, from, rollup.LatestVersion(), len(stmts))
	for _, st := range stmts {
		fmt.Fprintf(w, "-- %s\n%s;\n\n", st.Comment(), st.SQL)
	}
	return nil
}

// clickhouseConfig is the connection setting the subcommands share with weir's components;
// the password comes from WEIR_CLICKHOUSE_PASSWORD. Several comma-separated endpoints are
// tried in order.
func clickhouseConfig(endpoint, database, user, cluster string) chclient.Config {
	cfg := chclient.Default()
	cfg.Endpoint, cfg.Database, cfg.Username, cfg.Cluster = endpoint, database, user, cluster
	cfg.Password = configopaque.String(os.Getenv("WEIR_CLICKHOUSE_PASSWORD"))
	return cfg
}

// connect opens cfg's connection and checks that a server answers.
func connect(ctx context.Context, cfg chclient.Config) (driver.Conn, error) {
	conn, err := cfg.Open(ctx, clickhouse.CompressionLZ4, 4)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", cfg.Endpoint, err)
	}
	if err := conn.Ping(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("connect %s: %w (is ClickHouse running? scripts/clickhouse.sh start)", cfg.Endpoint, err)
	}
	return conn, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
