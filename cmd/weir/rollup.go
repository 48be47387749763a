package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirhq/weir/rollup"
)

// rollupCommand is `weir rollup`: compute the hourly and daily tiers over closed windows,
// and optionally apply retention.
func rollupCommand() *cobra.Command {
	var (
		endpoint, database, user, cluster, from, to string
		grace                                       time.Duration
		retention, verbose                          bool
	)
	cmd := &cobra.Command{
		Use:   "rollup",
		Short: "Compute the 1h and 1d RED and service-graph tiers over closed windows (and --retention)",
		Long: `Rebuild every partition of red_1h, edges_1h and series_1h (from the one-minute tiers) and
red_service_1h (from red_1h), then of red_1d, edges_1d and series_1d (from the hourly tiers)
and red_service_1d (from red_1d), that overlaps [--from, --to); and, whatever the range, any
partition a tier does not have yet while its source has rows there (a tier added by an upgrade
fills its history, days missed while the job did not run are caught up). Only windows that
ended at least --grace ago are computed; running it again changes nothing. With --retention
the default retention is applied afterwards: partitions older than their table's retention
are dropped.

--from and --to take RFC 3339 times (2024-03-05T00:00:00Z), "now", or a duration relative to
now (-48h, -7d, -90m).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			fromT, err := parseWhen(from, now)
			if err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			toT, err := parseWhen(to, now)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			if !fromT.Before(toT) {
				return fmt.Errorf("--from %s is not before --to %s", fromT.Format(time.RFC3339), toT.Format(time.RFC3339))
			}
			if grace < 0 {
				return fmt.Errorf("--grace %s: must not be negative", grace)
			}
			if err := rollup.ValidateDatabase(database); err != nil {
				return err
			}
			cfg := clickhouseConfig(endpoint, database, user, cluster)
			conn, err := connect(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer conn.Close()
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			job := &rollup.Job{
				Conn: conn, Database: database, Grace: grace, Cluster: cfg.RollupCluster(),
				Now:    func() time.Time { return now },
				Logger: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level})),
			}
			rep, err := job.Run(cmd.Context(), fromT, toT)
			printReport(cmd.OutOrStdout(), database, rep)
			if err != nil {
				return err
			}
			if !retention {
				return nil
			}
			var dropped []rollup.DroppedPartition
			if c := cfg.RollupCluster(); c != nil {
				dropped, err = rollup.ApplyRetentionCluster(cmd.Context(), conn, *c, database, rollup.DefaultRetention(), now)
			} else {
				dropped, err = rollup.ApplyRetention(cmd.Context(), conn, database, rollup.DefaultRetention(), now)
			}
			printDropped(cmd.OutOrStdout(), database, dropped)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&endpoint, "endpoint", envOr("WEIR_CLICKHOUSE_ENDPOINT", "tcp://127.0.0.1:19000"), "ClickHouse native endpoint")
	f.StringVar(&database, "database", envOr("WEIR_CLICKHOUSE_DATABASE", "weir"), "database holding weir's tables")
	f.StringVar(&user, "user", envOr("WEIR_CLICKHOUSE_USER", "default"), "ClickHouse user (password from WEIR_CLICKHOUSE_PASSWORD)")
	f.StringVar(&cluster, "cluster", os.Getenv("WEIR_CLICKHOUSE_CLUSTER"), "the cluster (remote_servers) the database lives on: roll up and drop shard by shard")
	f.StringVar(&from, "from", "-48h", "start of the range: RFC 3339, now, or relative (-48h, -7d)")
	f.StringVar(&to, "to", "now", "end of the range (exclusive): RFC 3339, now, or relative")
	f.DurationVar(&grace, "grace", rollup.DefaultGrace, "how long after its end a window counts as closed")
	f.BoolVar(&retention, "retention", false, "also drop partitions older than the default retention")
	f.BoolVar(&verbose, "verbose", false, "log every partition rebuilt")
	return cmd
}

// parseWhen reads an RFC 3339 time, "now", or a signed duration relative to now; a "d"
// suffix counts days ("-7d").
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "now" {
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not RFC 3339, now, or a relative time like -48h or -7d", s)
		}
		return now.Add(time.Duration(n * float64(24*time.Hour))), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not RFC 3339, now, or a relative time like -48h or -7d", s)
	}
	return now.Add(d), nil
}

func printReport(w io.Writer, database string, rep rollup.Report) {
	fmt.Fprintf(w, "rollup %s: %d partitions rebuilt, %d rows\n", database, len(rep.Partitions), rep.Rows())
	for _, p := range rep.Partitions {
		fmt.Fprintf(w, "  %-9s %-8s from %-9s [%s, %s) rows %d", p.Table, p.PartitionID, p.Source,
			p.From.UTC().Format(time.RFC3339), p.To.UTC().Format(time.RFC3339), p.Rows)
		if p.Shard != 0 {
			fmt.Fprintf(w, " on shard %d", p.Shard)
		}
		if p.Preserved > 0 {
			fmt.Fprintf(w, " (%d kept: source no longer has them)", p.Preserved)
		}
		fmt.Fprintln(w)
	}
}

func printDropped(w io.Writer, database string, dropped []rollup.DroppedPartition) {
	fmt.Fprintf(w, "retention %s: %d partitions dropped\n", database, len(dropped))
	for _, p := range dropped {
		fmt.Fprintf(w, "  %-29s %-10s [%s, %s) rows %d", p.Table, p.Partition,
			p.From.UTC().Format(time.RFC3339), p.To.UTC().Format(time.RFC3339), p.Rows)
		if p.Shard != 0 {
			fmt.Fprintf(w, " on shard %d", p.Shard)
		}
		fmt.Fprintln(w)
	}
}
