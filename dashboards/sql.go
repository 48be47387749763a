package dashboards

import (
	"bytes"
	"embed"
	"fmt"
	"strconv"
	"strings"
	"text/template"

	"github.com/weirhq/weir/rollup"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

// SQL fragments for the ClickHouse plugin's macros and the dashboards' variables. The plugin
// expands $__fromTime and $__toTime to toDateTime(<epoch seconds>) and $__interval_s to the
// panel's interval in whole seconds (at least 1).
const (
	// rangeSQL is the length of the dashboard's range in seconds.
	rangeSQL = "(toUInt32($__toTime) - toUInt32($__fromTime))"
	// databaseRef is the database holding weir's tables, from the hidden database variable.
	databaseRef = "${" + varDatabase + ":raw}"
)

// panel is where rollup's panel SQL takes its range, interval and database from: the plugin's
// macros and the database variable.
func panel() rollup.Panel {
	return rollup.Panel{From: "$__fromTime", To: "$__toTime", Interval: "$__interval_s", Database: databaseRef}
}

// sqlTemplates parses every embedded .sql file into one template set. Each file defines
// named templates; panel files are executed by their file name.
func sqlTemplates() (*template.Template, error) {
	t := template.New("sql").Option("missingkey=error").Funcs(template.FuncMap{
		"quantile":     rollup.QuantileSQL,
		"mergeLatency": rollup.MergeLatencySQL,
		// The first bucket of what mergeLatency returns.
		"mergedOffset": func() string { return strconv.Itoa(rollup.LatencyOrigin) },
		"quantileHist": histQuantileSQL,
		// The bucket width in seconds: the panel's interval rounded up to whole minutes, at
		// least a minute (the finest tier). Panels set a 1m minimum interval, so Grafana
		// already asks for whole minutes; the rounding keeps the SQL right without it.
		"step":         panel().Step,
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
