package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirhq/weir/analyzer/report"
	"github.com/weirhq/weir/demo"
	"github.com/weirhq/weir/rollup"
)

// demoCommand is `weir demo`: two weeks of a shop's traffic with injected hotspots, sent to
// a running weir, plus the matching bill and the ground truth.
func demoCommand() *cobra.Command {
	var endpoint, database, user, otlp, dir, week string
	var scale float64
	var seed uint64
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Send two weeks of a demo shop's traffic (with injected hotspots) to a running weir, and import its bill",
		Long: `Send two weeks of a demo shop's traffic to a running weir over OTLP/gRPC: about a dozen
services (gateway, auth, catalog, search, cart, checkout, payments, inventory,
recommendations, notifications, with postgres, redis, elasticsearch and kafka), with
daily traffic cycles and timestamps backdated into the report week (default: the last
complete ISO week) and the week before. Injected hotspots: an N+1 query, a chatty fan-out,
a retry storm, a zombie service billed without traffic, a service whose cost per request
doubled, and a telemetry-heavy service.

weir must be running and writing to --database. The demo waits until weir has stored the
traffic, rolls the 1h and 1d tiers up over both weeks, imports a matching FOCUS bill and
writes, into --dir: focus-bill.csv, costmap.yaml (how the bill maps to services) and
truth.json (the injected hotspots with their weekly cost impact). Then:

  weir report --week <week> --rules <dir>/costmap.yaml --format html --out report.html

Run it into a fresh database: traffic already in those weeks would not match the truth.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := rollup.ValidateDatabase(database); err != nil {
				return err
			}
			if week == "" {
				week = report.LastCompleteWeek(time.Now())
			}
			monday, err := report.ParseWeek(week)
			if err != nil {
				return err
			}
			if scale <= 0 || scale > 10 {
				return fmt.Errorf("--scale %g: want a factor in (0, 10]", scale)
			}
			cmd.SilenceUsage = true
			conn, err := connect(cmd.Context(), clickhouseConfig(endpoint, database, user, ""))
			if err != nil {
				return err
			}
			defer conn.Close()
			out := cmd.ErrOrStderr()
			fmt.Fprintf(out, "demo: sending the weeks of %s and %s to weir at %s (database %s)\n",
				monday.AddDate(0, 0, -7).Format(time.DateOnly), monday.Format(time.DateOnly), otlp, database)
			res, err := demo.Run(cmd.Context(), demo.Config{
				OTLPEndpoint: otlp, Conn: conn, Database: database, Dir: dir, Week: monday,
				Scale: scale, Seed: seed, Progress: out, Wait: wait,
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "demo: %d traces and %d spans sent; the bill, its rules and the truth are in %s\n",
				res.Truth.Totals.Traces, res.Truth.Totals.Spans, dir)
			fmt.Fprintf(w, "demo: injected hotspots of %s (weekly impact, %s):\n", res.Truth.Week, "USD")
			for _, h := range res.Truth.Hotspots {
				fmt.Fprintf(w, "  %-24s %-16s %10.2f  %s\n", h.Rule, h.Service, h.Impact, h.How)
			}
			fmt.Fprintf(w, "next: weir report --week %s --rules %s --format html --out report.html\n",
				res.Truth.Week, shellQuote(filepath.Join(dir, "costmap.yaml")))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&otlp, "otlp-endpoint", envOr("WEIR_OTLP_GRPC_ENDPOINT", "127.0.0.1:4317"), "weir's OTLP/gRPC address")
	f.StringVar(&dir, "dir", ".weir/demo", "where the bill, the costmap rules and the truth are written")
	f.StringVar(&week, "week", "", "ISO week of the report, e.g. 2026-W47 (default: the last complete week)")
	f.Float64Var(&scale, "scale", 1, "traffic multiplier (1: about 35,000 traces a week)")
	f.Uint64Var(&seed, "seed", 1, "random seed (the same seed sends the same traffic)")
	f.DurationVar(&wait, "wait", 3*time.Minute, "how long to wait for weir to store the traffic")
	f.StringVar(&endpoint, "endpoint", envOr("WEIR_CLICKHOUSE_ENDPOINT", "tcp://127.0.0.1:19000"), "ClickHouse native endpoint")
	f.StringVar(&database, "database", envOr("WEIR_CLICKHOUSE_DATABASE", "weir"), "database weir writes to")
	f.StringVar(&user, "user", envOr("WEIR_CLICKHOUSE_USER", "default"), "ClickHouse user (password from WEIR_CLICKHOUSE_PASSWORD)")
	return cmd
}

func shellQuote(s string) string {
	if strings.ContainsAny(s, " '\"$`\\") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}
