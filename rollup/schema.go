package rollup

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

//go:embed sql/*.sql
var sqlFS embed.FS

// Table names. Writers and readers use these instead of spelling the names themselves.
const (
	TableSpans                       = "spans"
	TableTraceIndex                  = "trace_index"
	TableMetricsGauge                = "metrics_gauge"
	TableMetricsSum                  = "metrics_sum"
	TableMetricsHistogram            = "metrics_histogram"
	TableMetricsExponentialHistogram = "metrics_exponential_histogram"
	TableMetricsSummary              = "metrics_summary"
	TableSchemaMigrations            = "schema_migrations"

	// RED and service-graph tiers: one minute (written by the exporter), one hour and one
	// day (computed by the rollup job over closed windows).
	TableRED1m   = "red_1m"
	TableRED1h   = "red_1h"
	TableRED1d   = "red_1d"
	TableEdges1m = "edges_1m"
	TableEdges1h = "edges_1h"
	TableEdges1d = "edges_1d"

	// Metric series tiers: one row per series and window with mergeable aggregates; one
	// minute (written by the clickhouse exporter), one hour and one day.
	TableSeries1m = "series_1m"
	TableSeries1h = "series_1h"
	TableSeries1d = "series_1d"

	// Spend: the infrastructure bill (FOCUS cost rows) and Kubernetes cost allocations
	// (OpenCost), written by `weir spend import` through SpendWriter and AllocationWriter.
	TableSpend      = "spend"
	TableAllocation = "allocation"

	// Cost analysis: what a weekly report computed (spend and traffic per service and day,
	// and the hotspots), written by `weir report` through WriteAnalysis for the dashboards.
	TableServiceCost1d = "service_cost_1d"
	TableHotspots      = "hotspots"
)

// Options select the database and the server features the DDL is rendered for.
type Options struct {
	// Database holds every weir table. It must be a plain identifier.
	Database string
	// Features switches on what newer servers have; the zero value is the portable core.
	Features Features
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidateDatabase reports whether name can be used unquoted as a database name.
func ValidateDatabase(name string) error {
	if !identRe.MatchString(name) {
		return fmt.Errorf("database name %q: use letters, digits and underscores, not starting with a digit", name)
	}
	return nil
}

// Statement is one DDL statement, named for what it creates.
type Statement struct {
	Name string // the .sql file it came from, without extension
	SQL  string
}

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	// Placeholders so the files parse; render rebinds them per Options.
	"lc":    func() string { return "" },
	"codec": func(string) string { return "" },
}).ParseFS(sqlFS, "sql/*.sql"))

// render expands one sql/<name>.sql template for opts.
func render(name string, opts Options) (Statement, error) {
	t, err := templates.Clone()
	if err != nil {
		return Statement{}, fmt.Errorf("clone templates: %w", err)
	}
	f := opts.Features
	t.Funcs(template.FuncMap{
		"lc": func() string {
			if f.LowCardinality {
				return "LowCardinality(String)"
			}
			return "String"
		},
		"codec": func(c string) string {
			if f.Codecs {
				return " CODEC(" + c + ")"
			}
			return ""
		},
	})
	var buf bytes.Buffer
	data := struct {
		DB          string
		SkipIndexes bool
	}{opts.Database, f.SkipIndexes}
	if err := t.ExecuteTemplate(&buf, name+".sql", data); err != nil {
		return Statement{}, fmt.Errorf("render %s.sql: %w", name, err)
	}
	return Statement{Name: name, SQL: stripComments(buf.String())}, nil
}

// stripComments drops whole-line "--" comments and blank edges, so statements read cleanly
// in logs and in `weir schema` output.
func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return strings.TrimSpace(b.String())
}

// Migration is one forward-only step of the schema. Version numbers start at 1 and grow by
// one; a migration is never edited once released: later changes are new migrations.
type Migration struct {
	Version int
	Name    string
	// Files are the sql/ templates it runs, in order. Each is idempotent on its own
	// (IF NOT EXISTS), so a step interrupted half-way can simply be run again.
	Files []string
}

// migrations is the whole history of weir's schema.
var migrations = []Migration{
	{Version: 1, Name: "spans and metric points", Files: []string{
		"spans",
		"metrics_gauge",
		"metrics_sum",
		"metrics_histogram",
		"metrics_exponential_histogram",
		"metrics_summary",
	}},
	{Version: 2, Name: "trace index", Files: []string{
		"trace_index",
		"trace_index_mv",
	}},
	{Version: 3, Name: "RED and service-graph tiers", Files: []string{
		"red_1m", "red_1h", "red_1d",
		"edges_1m", "edges_1h", "edges_1d",
	}},
	{Version: 4, Name: "metric series tiers", Files: []string{"series_1m", "series_1h", "series_1d"}},
	{Version: 5, Name: "spend", Files: []string{"spend", "allocation"}},
	{Version: 6, Name: "cost analysis results", Files: []string{"service_cost_1d", "hotspots"}},
	// The exporter writes trace_index itself from here on (TraceIndexWriter); the view of
	// migration 2 sometimes stored nothing on 18.16 under parallel DDL.
	{Version: 7, Name: "trace index written by the exporter", Files: []string{"trace_index_mv_drop"}},
}

// Migrations returns the schema history, oldest first.
func Migrations() []Migration {
	return append([]Migration(nil), migrations...)
}

// LatestVersion is the schema version this binary creates.
func LatestVersion() int { return migrations[len(migrations)-1].Version }

// ErrSchemaTooNew is returned when the database holds a schema version this binary does not
// know: a newer weir migrated it, and running an older one against it could corrupt data.
var ErrSchemaTooNew = errors.New("schema is newer than this weir binary")

// ErrSchemaTooOld is returned when a writer that does not migrate finds the database at an
// older schema version than the one it writes: it would write rows the old tables do not
// take, or that an old view would count again.
var ErrSchemaTooOld = errors.New("schema is older than this weir binary writes")

// Plan renders the statements that bring a database at schema version from (0 = empty) up to
// version to. The database and the schema_migrations table come first when from is 0.
func Plan(opts Options, from, to int) ([]Statement, error) {
	if err := ValidateDatabase(opts.Database); err != nil {
		return nil, err
	}
	if to > LatestVersion() || from > LatestVersion() {
		return nil, fmt.Errorf("plan %d -> %d: %w (knows up to %d)", from, to, ErrSchemaTooNew, LatestVersion())
	}
	var out []Statement
	if from == 0 {
		out = append(out, Statement{Name: "database", SQL: "CREATE DATABASE IF NOT EXISTS " + opts.Database})
		st, err := render(TableSchemaMigrations, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	for _, m := range migrations {
		if m.Version <= from || m.Version > to {
			continue
		}
		for _, f := range m.Files {
			st, err := render(f, opts)
			if err != nil {
				return nil, fmt.Errorf("migration %d: %w", m.Version, err)
			}
			out = append(out, st)
		}
	}
	return out, nil
}
