package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirhq/weir/analyzer/costmap"
	"github.com/weirhq/weir/analyzer/report"
	"github.com/weirhq/weir/rollup"
)

// reportCommand is `weir report`: the weekly spend and hotspot report.
func reportCommand() *cobra.Command {
	var endpoint, database, user, week, format, out, rules, thresholds string
	var store, printWeek bool
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Write the weekly report: spend per service, cost per request, hotspots by cost impact",
		Long: `Write the weekly report of an ISO week (default: the last complete one) against the
week before: total spend and spend per million requests, a per-service table (spend,
requests, cost per 1k requests, p95, error rate, week-over-week change), the hotspots
ranked by estimated weekly cost impact with their evidence, and charts of spend against
traffic per service.

--format md (default), html (one self-contained file with inline SVG charts) or json.
--rules is the costmap YAML that maps spend to services; without it spend is mapped by
the default tag keys (service, app, application, service.name, component).
--thresholds is a YAML file overriding the rules' thresholds (sections patterns: and
spend:, keys as in analyzer/hotspot's Thresholds and SpendThresholds, snake_case).

The report's numbers are also stored in ClickHouse (tables service_cost_1d and hotspots,
replacing that week) for the Cost efficiency dashboard; --store=false skips that.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := rollup.ValidateDatabase(database); err != nil {
				return err
			}
			if week == "" {
				week = report.LastCompleteWeek(time.Now())
			}
			if printWeek {
				fmt.Fprintln(cmd.OutOrStdout(), week)
				return nil
			}
			if _, err := report.ParseWeek(week); err != nil {
				return err
			}
			var write func(*report.Report, io.Writer) error
			switch format {
			case "md", "markdown":
				write = (*report.Report).WriteMarkdown
			case "html":
				write = (*report.Report).WriteHTML
			case "json":
				write = (*report.Report).WriteJSON
			default:
				return fmt.Errorf("--format %q: want md, html or json", format)
			}
			opts := report.DefaultOptions()
			if rules != "" {
				var err error
				if opts.Costmap, err = costmap.LoadFile(rules); err != nil {
					return err
				}
			}
			if thresholds != "" {
				if err := report.LoadThresholds(thresholds, &opts); err != nil {
					return err
				}
			}
			cmd.SilenceUsage = true
			conn, err := connect(cmd.Context(), clickhouseConfig(endpoint, database, user, ""))
			if err != nil {
				return err
			}
			defer conn.Close()
			rep, err := report.Build(cmd.Context(), conn, database, week, opts)
			if err != nil {
				return err
			}
			// The report is written first: failing to store it (a read-only user, an old
			// schema) must not lose what was built.
			if err := writeReport(cmd, rep, write, format, out); err != nil {
				return err
			}
			if store {
				if err := rep.Store(cmd.Context(), conn, database); err != nil {
					return fmt.Errorf("the report was written, but not stored for the dashboards (--store=false skips this): %w", err)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&week, "week", "", "ISO week, e.g. 2026-W47 (default: the last complete week)")
	f.StringVar(&format, "format", "md", "md, html or json")
	f.StringVar(&out, "out", "", "write to this file instead of standard output")
	f.StringVar(&rules, "rules", "", "costmap YAML mapping spend to services")
	f.StringVar(&thresholds, "thresholds", "", "YAML overriding the hotspot rules' thresholds")
	f.BoolVar(&printWeek, "print-week", false, "print the week the report would cover and exit")
	f.BoolVar(&store, "store", true, "store the report's numbers in ClickHouse for the dashboards")
	f.StringVar(&endpoint, "endpoint", envOr("WEIR_CLICKHOUSE_ENDPOINT", "tcp://127.0.0.1:19000"), "ClickHouse native endpoint")
	f.StringVar(&database, "database", envOr("WEIR_CLICKHOUSE_DATABASE", "weir"), "database holding weir's tables")
	f.StringVar(&user, "user", envOr("WEIR_CLICKHOUSE_USER", "default"), "ClickHouse user (password from WEIR_CLICKHOUSE_PASSWORD)")
	return cmd
}

// writeReport writes rep with write to out (standard output for "" or "-").
func writeReport(cmd *cobra.Command, rep *report.Report, write func(*report.Report, io.Writer) error, format, out string) error {
	if out == "" || out == "-" {
		return write(rep, cmd.OutOrStdout())
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	if err := errors.Join(write(rep, bw), bw.Flush(), f.Close()); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "wrote the %s report of %s to %s\n", format, rep.Week, out)
	return nil
}
