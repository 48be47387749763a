package dashboards

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/rollup"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

// SQL fragments for the ClickHouse plugin's macros and the dashboards' variables. The plugin
// expands $__fromTime and $__toTime to toDateTime(<epoch seconds>) and $__interval_s to the
// panel's interval in whole seconds (at least 1).
const (
	// stepSQL is the bucket width in seconds: the panel's interval rounded up to whole minutes,
	// at least a minute (the finest tier). Panels set a 1m minimum interval, so Grafana
	// already asks for whole minutes; the rounding keeps the SQL right without it.
	stepSQL = "greatest(60, intDiv($__interval_s + 59, 60) * 60)"
	// rangeSQL is the length of the dashboard's range in seconds.
	rangeSQL = "(toUInt32($__toTime) - toUInt32($__fromTime))"
	// databaseRef is the database holding weir's tables, from the hidden database variable.
	databaseRef = "${" + varDatabase + ":raw}"
)

// tierTables names the three tiers of one family, finest first.
type tierTables struct {
	Minute, Hour, Day string
}

var (
	redTables    = tierTables{rollup.TableRED1m, rollup.TableRED1h, rollup.TableRED1d}
	edgeTables   = tierTables{rollup.TableEdges1m, rollup.TableEdges1h, rollup.TableEdges1d}
	seriesTables = tierTables{rollup.TableSeries1m, rollup.TableSeries1h, rollup.TableSeries1d}
)

// tierPredicates are the WHERE conditions that pick, for one family of tiers, which rows of
// each tier a panel reads (sql/tier_plan.sql): together they cover the dashboard's range once.
type tierPredicates struct {
	Minute, Hour, Day string
}

// sqlTemplates parses every embedded .sql file into one template set. Each file defines
// named templates; panel files are executed by their file name.
func sqlTemplates() (*template.Template, error) {
	t := template.New("sql").Option("missingkey=error").Funcs(template.FuncMap{
		"quantile":     quantileSQL,
		"quantileHist": histQuantileSQL,
		"step":         func() string { return stepSQL },
		"rangeSeconds": func() string { return rangeSQL },
		"db":           func() string { return databaseRef },
	})
	return t.ParseFS(sqlFiles, "sql/*.sql")
}

// render executes the named template of set with data.
func render(set *template.Template, name string, data any) (string, error) {
	var b bytes.Buffer
	if err := set.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return strings.TrimSpace(b.String()), nil
}

// predicatesFor renders the tier predicates of a family.
func predicatesFor(set *template.Template, tables tierTables) (tierPredicates, error) {
	data := struct {
		Database, Hour, Day string
	}{databaseRef, tables.Hour, tables.Day}
	var p tierPredicates
	var err error
	for _, x := range []struct {
		name string
		dst  *string
	}{{"minute", &p.Minute}, {"hour", &p.Hour}, {"day", &p.Day}} {
		if *x.dst, err = render(set, x.name, data); err != nil {
			return p, err
		}
	}
	return p, nil
}

// Sentinels for plannedSQL: a query over [s0, s3) at a whole-day step, with the hour tier
// holding [s1, s3) and the day tier [s2, s3), makes PlanQuery read red_1m [s0, s1),
// red_1h [s1, s2) and red_1d [s2, s3): one sub-select per tier, each bounded by times that
// appear nowhere else in the SQL.
var (
	sentinelS3   = time.Unix(20000*86400, 0).UTC()
	sentinelS2   = sentinelS3.Add(-2 * 24 * time.Hour)
	sentinelS1   = sentinelS2.Add(-5 * time.Hour)
	sentinelS0   = sentinelS1.Add(-time.Hour - time.Second)
	sentinelStep = 7919 * 24 * time.Hour
)

// sentinelDatabase stands for the database in PlanQuery's SQL until it is replaced by the
// dashboards' database variable.
const sentinelDatabase = "weir_dashboards_sentinel"

// plannedSQL is the SQL of rollup.PlanQuery for q (its Signal, filters and GroupBy; times and
// step are ignored) made tier-aware at query time: PlanQuery writes one sub-select per tier
// with fixed time bounds, and plannedSQL replaces those bounds with the predicates of
// sql/tier_plan.sql, the step with stepSQL and the database with the database variable.
// Filter values are SQL expressions put in place of PlanQuery's ? placeholders as they are
// (Grafana variables such as ${service:singlequote}); they are never user data here.
func plannedSQL(set *template.Template, q rollup.Query) (string, error) {
	tables := redTables
	if q.Signal == rollup.SignalEdges {
		tables = edgeTables
	}
	q.From, q.To, q.Step = sentinelS0, sentinelS3, sentinelStep
	avail := rollup.Availability{Location: time.UTC, Tiers: map[string]rollup.TierSpan{
		tables.Hour: {From: sentinelS1, To: sentinelS3},
		tables.Day:  {From: sentinelS2, To: sentinelS3},
	}}
	plan, err := rollup.PlanQuery(sentinelDatabase, q, avail)
	if err != nil {
		return "", fmt.Errorf("plan %s query: %w", q.Signal, err)
	}
	want := []rollup.Read{
		{Table: tables.Minute, From: sentinelS0, To: sentinelS1},
		{Table: tables.Hour, From: sentinelS1, To: sentinelS2},
		{Table: tables.Day, From: sentinelS2, To: sentinelS3},
	}
	if len(plan.Reads) != len(want) {
		return "", fmt.Errorf("plan %s query: reads %s, want one per tier", q.Signal, plan)
	}
	for i, r := range plan.Reads {
		if r.Table != want[i].Table || !r.From.Equal(want[i].From) || !r.To.Equal(want[i].To) {
			return "", fmt.Errorf("plan %s query: reads %s, want one per tier", q.Signal, plan)
		}
	}
	preds, err := predicatesFor(set, tables)
	if err != nil {
		return "", err
	}
	sql := plan.SQL
	replace := func(old, new string, n int) error {
		if c := strings.Count(sql, old); c != n {
			return fmt.Errorf("plan %s query: %q occurs %d times in PlanQuery's SQL, want %d", q.Signal, old, c, n)
		}
		sql = strings.ReplaceAll(sql, old, new)
		return nil
	}
	bounds := func(from, to time.Time) string {
		return fmt.Sprintf("Timestamp >= toDateTime(%d) AND Timestamp < toDateTime(%d)", from.Unix(), to.Unix())
	}
	stepText := fmt.Sprint(int64(sentinelStep / time.Second))
	for _, r := range []struct{ old, new string }{
		{bounds(sentinelS0, sentinelS1), preds.Minute},
		{bounds(sentinelS1, sentinelS2), preds.Hour},
		{bounds(sentinelS2, sentinelS3), preds.Day},
		{"intDiv(toUInt32(Timestamp), " + stepText + ") * " + stepText, "intDiv(toUInt32(Timestamp), " + stepSQL + ") * " + stepSQL},
	} {
		if err := replace(r.old, r.new, 1); err != nil {
			return "", err
		}
	}
	if err := replace(sentinelDatabase+".", databaseRef+".", len(want)); err != nil {
		return "", err
	}
	// Put the filter expressions in place of the placeholders, in order.
	if strings.Count(sql, "?") != len(plan.Args) {
		return "", fmt.Errorf("plan %s query: %d placeholders for %d args", q.Signal, strings.Count(sql, "?"), len(plan.Args))
	}
	var b strings.Builder
	rest := sql
	for _, a := range plan.Args {
		s, ok := a.(string)
		if !ok {
			return "", fmt.Errorf("plan %s query: filter value %v is not an SQL expression", q.Signal, a)
		}
		i := strings.IndexByte(rest, '?')
		b.WriteString(rest[:i])
		b.WriteString(s)
		rest = rest[i+1:]
	}
	b.WriteString(rest)
	return b.String(), nil
}

// quantileSQL is the q-quantile in nanoseconds of a merged latency distribution held in the
// columns zc (zero count), bi (bucket indexes) and bc (bucket counts): the geometric midpoint
// 2^((i+0.5)/64) of the bucket holding the ceil(q*n)-th value, 0 when that value is in the
// zero bucket, NaN when there are no values. It is model.Distribution.Quantile written in
// SQL; name makes its aliases unique in a query.
func quantileSQL(q float64, name, zc, bi, bc string) string {
	n, rank := name+"_n", name+"_rank"
	return fmt.Sprintf("if((%[5]s + arraySum(%[7]s) AS %[2]s) = 0, nan, "+
		"if(%[5]s >= (greatest(1, toUInt64(ceil(%[1]g * %[2]s))) AS %[3]s), 0, "+
		"exp2((%[6]s[arrayFirstIndex(c -> c + %[5]s >= %[3]s, arrayCumSum(%[7]s))] + 0.5) / %[4]d)))",
		q, n, rank, 1<<model.LatencyScale, zc, bi, bc)
}

// histQuantileSQL is the q-quantile of a merged explicit-bucket histogram held in the columns
// b (upper bounds, ascending, inf last), c (counts), cum (arrayCumSum(c)), n (arraySum(c)),
// lo and hi (the smallest and largest observation, ±inf when unknown); i is the column
// holding arrayFirstIndex(x -> x >= q * n, cum), the bucket of the rank q*n. The value is
// interpolated linearly inside that bucket, whose range is narrowed to [lo, hi]: an estimate
// that stays within what was observed even when the bounds are coarse. NaN without
// observations. histQuantile in selftelemetry_test.go is the same estimate in Go.
func histQuantileSQL(q float64, i string) string {
	lower := fmt.Sprintf("if(%[1]s = 1, if(isFinite(lo), lo, 0), if(isFinite(lo), greatest(b[%[1]s - 1], lo), b[%[1]s - 1]))", i)
	upper := fmt.Sprintf("if(isFinite(hi), least(b[%[1]s], hi), b[%[1]s])", i)
	return fmt.Sprintf("if(n = 0, nan, (%[2]s AS %[1]s_lo) + "+
		"(if(isFinite(%[3]s AS %[1]s_hi), %[1]s_hi, %[1]s_lo) - %[1]s_lo) * (%[4]g * n - (cum[%[1]s] - c[%[1]s])) / c[%[1]s])",
		i, lower, upper, q)
}
