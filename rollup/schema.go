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

	// Per-service RED tiers (migration 9): one row per service and window (every span name,
	// kind and status together), errors as a counter and the latency distribution as dense
	// counts at QueryScale, computed by the rollup job from red_1h and red_1d. Queries that
	// neither group nor filter by span name or kind read them instead of red_1h and red_1d.
	TableREDService1h = "red_service_1h"
	TableREDService1d = "red_service_1d"

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
	// Cluster, when set, renders the DDL for a cluster (see SCHEMA.md, "On a cluster"):
	// replicated <table>_local tables behind Distributed tables under the usual names, every
	// statement ON CLUSTER. Empty means one server.
	Cluster string
	// ServersCluster lists the same servers, each a shard of its own: ALTERs of the
	// Distributed tables run ON CLUSTER it, since 18.16 refuses an ALTER of a table that is not
	// replicated through a cluster whose shards have replicas (code 371). Empty means
	// Cluster + "_servers".
	ServersCluster string
}

// servers is the cluster of every server as its own shard.
func (o Options) servers() string {
	if o.ServersCluster != "" || o.Cluster == "" {
		return o.ServersCluster
	}
	return o.Cluster + "_servers"
}

// validate checks the names that go into the DDL unquoted.
func (o Options) validate() error {
	if err := ValidateDatabase(o.Database); err != nil {
		return err
	}
	if o.Cluster == "" && o.ServersCluster != "" {
		return errors.New("servers cluster set without a cluster")
	}
	for _, c := range []string{o.Cluster, o.servers()} {
		if c != "" && !identRe.MatchString(c) {
			return fmt.Errorf("cluster name %q: use letters, digits and underscores, not starting with a digit", c)
		}
	}
	return nil
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
	// UnlessColumn, when set, is a table and a column: the statement runs only while that
	// column is missing (on a cluster: on some server, or for EachShard on the shard). 18.16
	// has no ADD COLUMN IF NOT EXISTS, and a migration interrupted between two ALTERs must be
	// able to run again.
	UnlessColumn [2]string
	// EachShard says that on a cluster the statement runs on one replica of each shard,
	// rather than ON CLUSTER: an ALTER of a replicated table, which replication carries to
	// the shard's other replicas. Set by a comment line "-- on each shard".
	EachShard bool
}

var templates = template.Must(template.New("").Funcs(placeholderFuncs()).ParseFS(sqlFS, "sql/*.sql"))

// placeholderFuncs let the files parse; renderRaw rebinds them per Options.
func placeholderFuncs() template.FuncMap {
	funcs := template.FuncMap{}
	for name, f := range templateFuncs(Options{}) {
		funcs[name] = f
	}
	return funcs
}

// templateFuncs are the functions the sql/ templates call, bound to opts:
//
//	{{lc}}                        LowCardinality(String) where the server has it, else String
//	{{codec "ZSTD(1)"}}           a column codec where the server has them
//	{{local "spans"}}             the name of the table that holds the rows: spans_local on a
//	                              cluster, spans on one server
//	{{onCluster}}                 " ON CLUSTER <cluster>" on a cluster
//	{{engine "MergeTree" "spans"}}     the engine of a sharded table: Replicated* on a cluster,
//	                              its parts in ZooKeeper under /clickhouse/tables/{shard}/<db>/spans_local
//	{{everywhere "MergeTree" "spend"}} the engine of a small table every server holds whole:
//	                              one replica per server, under /clickhouse/tables/all/<db>/spend
//	{{distributed "spans" "cityHash64(TraceId)"}} on a cluster, one more statement: the
//	                              Distributed table under the usual name, sharded by the key
//	{{named . "metrics_gauge"}}     the template data with a table, for shared templates
//	{{addColumn . "spans" "InsertId" "UInt64 DEFAULT 0"}} the data of template "add_column"
func templateFuncs(opts Options) template.FuncMap {
	f, cluster := opts.Features, opts.Cluster
	return template.FuncMap{
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
		"local": func(table string) string { return localName(table, cluster) },
		"onCluster": func() string {
			if cluster == "" {
				return ""
			}
			return " ON CLUSTER " + cluster
		},
		"engine": func(engine, table string) string {
			if cluster == "" {
				return engine
			}
			return "Replicated" + engine + "('/clickhouse/tables/{shard}/" + opts.Database + "/" + localName(table, cluster) + "', '{replica}')"
		},
		"everywhere": func(engine, table string) string {
			if cluster == "" {
				return engine
			}
			// {replica} need only be unique within its shard; with the shard it is unique
			// in the cluster, as one ZooKeeper path for every server needs.
			return "Replicated" + engine + "('/clickhouse/tables/all/" + opts.Database + "/" + table + "', '{shard}-{replica}')"
		},
		"distributed": func(table, key string) string {
			if cluster == "" {
				return ""
			}
			db := opts.Database
			return "\n;\n-- " + table + ": the Distributed table in front of " + localName(table, cluster) + " on every server, sharded by " + key + "\n" +
				"CREATE TABLE IF NOT EXISTS " + db + "." + table + " ON CLUSTER " + cluster + " AS " + db + "." + localName(table, cluster) + "\n" +
				"ENGINE = Distributed(" + cluster + ", " + db + ", " + localName(table, cluster) + ", " + key + ")"
		},
		"named": func(data templateData, table string) tableData {
			return tableData{templateData: data, Table: table}
		},
		"addColumn": func(data templateData, table, column, typ string) addColumnData {
			return addColumnData{tableData: tableData{templateData: data, Table: table}, Column: column, Type: typ}
		},
	}
}

// templateData is what every sql/ template reads as ".".
type templateData struct {
	DB          string
	SkipIndexes bool
	Cluster     string // empty on one server
	Servers     string // the cluster of every server as its own shard
}

// tableData is templateData and a table, for templates shared by several tables.
type tableData struct {
	templateData
	Table string
}

// addColumnData are the fields of template "add_column" (sql/add_column.sql).
type addColumnData struct {
	tableData
	Column, Type string
}

// LocalSuffix ends the name of the table that holds a sharded table's rows on a cluster.
const LocalSuffix = "_local"

// localName is the table holding table's rows: itself on one server, <table>_local on a cluster.
func localName(table, cluster string) string {
	if cluster == "" {
		return table
	}
	return table + LocalSuffix
}

// render expands one sql/<name>.sql template for opts.
func render(name string, opts Options) (Statement, error) {
	raw, err := renderRaw(name, opts)
	if err != nil {
		return Statement{}, err
	}
	return Statement{Name: name, SQL: stripComments(raw)}, nil
}

// renderRaw executes the template, comments and all.
func renderRaw(name string, opts Options) (string, error) {
	t, err := templates.Clone()
	if err != nil {
		return "", fmt.Errorf("clone templates: %w", err)
	}
	t.Funcs(templateFuncs(opts))
	var buf bytes.Buffer
	data := templateData{DB: opts.Database, SkipIndexes: opts.Features.SkipIndexes,
		Cluster: opts.Cluster, Servers: opts.servers()}
	if err := t.ExecuteTemplate(&buf, name+".sql", data); err != nil {
		return "", fmt.Errorf("render %s.sql: %w", name, err)
	}
	return buf.String(), nil
}

// Comment is how the statement introduces itself in printed DDL: its name, where it runs
// and its guard.
func (st Statement) Comment() string {
	var notes []string
	if st.EachShard {
		notes = append(notes, "on one replica of each shard")
	}
	if g := st.UnlessColumn; g[0] != "" {
		notes = append(notes, "only while "+g[0]+" has no column "+g[1])
	}
	if len(notes) == 0 {
		return st.Name
	}
	return st.Name + " (" + strings.Join(notes, ", ") + ")"
}

// renderAll expands a template that may hold several statements, each ended by a line with
// only ";" (the last one may omit it). A statement preceded by a comment line
// "-- unless column <table> <column>" gets that guard (Statement.UnlessColumn), one preceded
// by "-- on each shard" runs so on a cluster (Statement.EachShard).
func renderAll(name string, opts Options) ([]Statement, error) {
	one, err := render(name, opts)
	if err != nil {
		return nil, err
	}
	raw, err := renderRaw(name, opts)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(raw, "\n;\n")
	if len(parts) == 1 && !strings.Contains(raw, "-- unless column ") && !strings.Contains(raw, "-- on each shard") {
		return []Statement{one}, nil
	}
	var out []Statement
	for _, p := range parts {
		st := Statement{Name: name}
		for _, line := range strings.Split(p, "\n") {
			if g, ok := strings.CutPrefix(strings.TrimSpace(line), "-- unless column "); ok {
				if f := strings.Fields(g); len(f) == 2 {
					st.UnlessColumn = [2]string{f[0], f[1]}
				}
			}
			if strings.TrimSpace(line) == "-- on each shard" {
				st.EachShard = true
			}
		}
		st.SQL = strings.TrimSuffix(stripComments(p), ";")
		st.SQL = strings.TrimSpace(st.SQL)
		if st.SQL != "" {
			out = append(out, st)
		}
	}
	return out, nil
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
	// Every table weir inserts into whole blocks gets the block's InsertId: after a crash,
	// weir asks whether a block it sent arrived before sending it again.
	{Version: 8, Name: "insert ids", Files: []string{"insert_id"}},
	// A service's RED over weeks from a few hundred rows whose distributions merge element by
	// element, instead of thousands of per-operation rows merged with sumMap (slow on 18.16).
	// The rollup job fills their history from red_1h and red_1d on its next run.
	{Version: 9, Name: "per-service RED tiers", Files: []string{"red_service_1h", "red_service_1d"}},
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
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if to > LatestVersion() || from > LatestVersion() {
		return nil, fmt.Errorf("plan %d -> %d: %w (knows up to %d)", from, to, ErrSchemaTooNew, LatestVersion())
	}
	var out []Statement
	if from == 0 {
		onCluster := ""
		if opts.Cluster != "" {
			onCluster = " ON CLUSTER " + opts.Cluster
		}
		out = append(out, Statement{Name: "database", SQL: "CREATE DATABASE IF NOT EXISTS " + opts.Database + onCluster})
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
			sts, err := renderAll(f, opts)
			if err != nil {
				return nil, fmt.Errorf("migration %d: %w", m.Version, err)
			}
			out = append(out, sts...)
		}
	}
	return out, nil
}
