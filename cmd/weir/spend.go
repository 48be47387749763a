package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirhq/weir/analyzer"
	"github.com/weirhq/weir/rollup"
)

// spendCommand is `weir spend`: bring the infrastructure bill into ClickHouse.
func spendCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "spend",
		Short: "Import cloud bills (FOCUS) and Kubernetes cost allocations (OpenCost)",
		Args:  cobra.NoArgs, // so that an unknown subcommand is an error
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(spendImportCommand())
	return cmd
}

func spendImportCommand() *cobra.Command {
	var endpoint, database, user string
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Import FOCUS cost exports (CSV, .csv.gz) and OpenCost allocation responses (JSON)",
		Long: `Import cost data into the spend and allocation tables, as one import:

  - FOCUS cost and usage exports, versions 1.0 to 1.3 (and the column names of 0.5 and
    1.0-preview), CSV plain or gzip-compressed;
  - OpenCost allocation API responses (/allocation, /allocation/compute), JSON plain or
    gzip-compressed, idle cost included.

The format is detected from each file's content; "-" reads standard input. Every billing
period of a billing account (and every allocation window of a cluster) the files have rows
for is replaced as a whole, so importing a bill again replaces it, never doubles it: give
all the files of a period (exports split into parts) to one import.

Bad rows are skipped and listed with their line number and reason; the rest is imported
and the exit status is 0. If a file cannot be read at all (or not to its end, or has no
good row), nothing is replaced and the exit status is 1. Progress goes to stderr, the
summary to stdout.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rollup.ValidateDatabase(database); err != nil {
				return err
			}
			cmd.SilenceUsage = true // from here on, errors are about the data, not the usage
			conn, err := connect(cmd.Context(), clickhouseConfig(endpoint, database, user, ""))
			if err != nil {
				return err
			}
			defer conn.Close()
			prog := newProgressLine(cmd.ErrOrStderr())
			rep, err := analyzer.Import(cmd.Context(), conn, database, args, analyzer.ImportOptions{Progress: prog.update})
			printSpendReport(cmd.OutOrStdout(), database, rep)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&endpoint, "endpoint", envOr("WEIR_CLICKHOUSE_ENDPOINT", "tcp://127.0.0.1:19000"), "ClickHouse native endpoint")
	f.StringVar(&database, "database", envOr("WEIR_CLICKHOUSE_DATABASE", "weir"), "database holding weir's tables")
	f.StringVar(&user, "user", envOr("WEIR_CLICKHOUSE_USER", "default"), "ClickHouse user (password from WEIR_CLICKHOUSE_PASSWORD)")
	return cmd
}

// progressLine shows an import's progress on one line, rewritten in place on a terminal
// and one line per update elsewhere (logs keep every line).
type progressLine struct {
	w   io.Writer
	tty bool
}

func newProgressLine(w io.Writer) *progressLine {
	p := &progressLine{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progressLine) update(pr analyzer.Progress) {
	var b strings.Builder
	b.WriteString(pr.File)
	if pr.Format != "" {
		b.WriteString(" (" + string(pr.Format) + ")")
	}
	b.WriteString(": ")
	switch {
	case pr.Done:
		b.WriteString("read " + megabytes(pr.BytesRead) + " in " + pr.Elapsed.Round(time.Millisecond).String())
	case pr.BytesTotal > 0:
		fmt.Fprintf(&b, "%3.0f%% of %s", 100*float64(pr.BytesRead)/float64(pr.BytesTotal), megabytes(pr.BytesTotal))
	default:
		b.WriteString(megabytes(pr.BytesRead))
	}
	b.WriteString(", " + thousands(pr.Rows) + " rows, " + thousands(pr.BadRows) + " bad")
	if !pr.Done && pr.Elapsed > 0 {
		fmt.Fprintf(&b, ", %.1f MB/s", float64(pr.BytesRead)/1e6/pr.Elapsed.Seconds())
	}
	switch {
	case p.tty && pr.Done:
		fmt.Fprintf(p.w, "\r%s\x1b[K\n", b.String())
	case p.tty:
		fmt.Fprintf(p.w, "\r%s\x1b[K", b.String())
	default:
		fmt.Fprintln(p.w, b.String())
	}
}

func printSpendReport(w io.Writer, database string, rep analyzer.Report) {
	rows, bad := rep.Rows()
	fmt.Fprintf(w, "spend import %s: %d files, %s rows, %s bad rows", database, len(rep.Files), thousands(rows), thousands(bad))
	if rep.Committed {
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "; NOTHING REPLACED, the tables are as they were")
	}
	for _, f := range rep.Files {
		kind := string(f.Format)
		if f.FOCUSVersion != "" {
			kind += " " + f.FOCUSVersion
		}
		if kind == "" {
			kind = "-"
		}
		if f.Format == analyzer.FormatOpenCost {
			fmt.Fprintf(w, "  %s  %s  %s rows  %s bad  total cost %s", f.Name, kind, thousands(f.Rows), thousands(f.BadRows), money(f.Cost))
		} else {
			fmt.Fprintf(w, "  %s  %s  %s rows  %s bad  billed %s  effective %s", f.Name, kind, thousands(f.Rows), thousands(f.BadRows),
				money(f.Cost), money(f.EffectiveCost))
		}
		if f.Err != nil {
			fmt.Fprintf(w, "  FAILED: %v", f.Err)
		}
		fmt.Fprintln(w)
	}
	if rep.Spend != nil && len(rep.Spend.Periods) > 0 {
		fmt.Fprintf(w, "replaced billing periods (import %s):\n", rep.Spend.ImportID)
		for _, p := range rep.Spend.Periods {
			fmt.Fprintf(w, "  %s  account %s  %s rows (was %s)  billed %s  effective %s\n", period(p.Start, p.End), p.BillingAccountID,
				thousands(p.Rows), thousands(p.PreviousRows), money(p.BilledCost), money(p.EffectiveCost))
		}
		// The invoice and what the report prices by differ with savings plans, reservations and
		// credits; say which is which so the two numbers are not compared as if they were one.
		fmt.Fprintln(w, "billed: the invoice (BilledCost); effective: after discounts, credits and commitments "+
			"(EffectiveCost), which `weir report` allocates unless the cost map's cost: says otherwise")
	}
	if rep.Allocations != nil && len(rep.Allocations.Windows) > 0 {
		fmt.Fprintf(w, "replaced allocation windows (import %s):\n", rep.Allocations.ImportID)
		for _, a := range rep.Allocations.Windows {
			cluster := a.Cluster
			if cluster == "" {
				cluster = `""`
			}
			fmt.Fprintf(w, "  [%s, %s)  cluster %s  %s rows (was %s)  total %s\n", a.Start.Format(time.RFC3339), a.End.Format(time.RFC3339),
				cluster, thousands(a.Rows), thousands(a.PreviousRows), money(a.TotalCost))
		}
	}
	for _, f := range rep.Files {
		if f.BadRows == 0 {
			continue
		}
		fmt.Fprintf(w, "bad rows in %s (%s", f.Name, thousands(f.BadRows))
		if uint64(len(f.Bad)) < f.BadRows {
			fmt.Fprintf(w, ", the first %d", len(f.Bad))
		}
		fmt.Fprintln(w, "):")
		for _, b := range f.Bad {
			fmt.Fprintf(w, "  %s\n", b)
		}
	}
}

// period shows a billing period: its month when it is one calendar month.
func period(start, end time.Time) string {
	if start.Day() == 1 && start.Hour() == 0 && start.Minute() == 0 && start.Second() == 0 && end.Equal(start.AddDate(0, 1, 0)) {
		return start.Format("2006-01")
	}
	return "[" + start.Format(time.RFC3339) + ", " + end.Format(time.RFC3339) + ")"
}

func megabytes(n int64) string { return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " MB" }

func money(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

// thousands formats n with comma separators: 1,234,567.
func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
