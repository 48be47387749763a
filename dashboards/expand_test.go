package dashboards

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// grafanaEnv is what Grafana and the ClickHouse data source put into a query: the time range,
// the panel's interval and the variables' values.
type grafanaEnv struct {
	from, to time.Time
	interval time.Duration
	vars     map[string]varValue
}

// varValue is a variable's current value: its selected values, or All. All without a custom
// all value is every option; with one (allValue) it is that text.
type varValue struct {
	values   []string
	all      bool
	allValue string
}

func values(v ...string) varValue { return varValue{values: v} }

// Grafana's variable syntax: ${name} and ${name:format} (the only forms the dashboards use).
var (
	braceVarRe = regexp.MustCompile(`\$\{(\w+)(?::(\w+))?\}`)
	macroRe    = regexp.MustCompile(`\$__(\w+)`)
)

// expand interpolates sql the way a panel's query reaches ClickHouse:
//
//  1. Grafana replaces template variables (docs: "Variable syntax", "Advanced variable format
//     options"): ${var:singlequote} quotes each value with ' (escaping ' as \') and joins them
//     with commas; ${var:raw} joins the values with commas, unquoted. A multi-value variable
//     set to All stands for all its options, unless it has a custom all value, which is
//     inserted as it is, without the format. Variables in SQL must name their format.
//  2. The plugin replaces its macros (grafana/clickhouse-datasource pkg/macros): $__fromTime
//     and $__toTime become toDateTime(<epoch seconds>) of the range, $__interval_s the
//     interval in whole seconds, at least 1.
//
// Anything else that looks like a variable or a macro is an error.
func (e grafanaEnv) expand(sql string) (string, error) {
	var errs []string
	out := braceVarRe.ReplaceAllStringFunc(sql, func(m string) string {
		sub := braceVarRe.FindStringSubmatch(m)
		name, format := sub[1], sub[2]
		v, ok := e.vars[name]
		if !ok {
			errs = append(errs, "no value for variable "+name)
			return m
		}
		if v.all && v.allValue != "" {
			return v.allValue
		}
		switch format {
		case "singlequote":
			q := make([]string, len(v.values))
			for i, s := range v.values {
				q[i] = "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
			}
			return strings.Join(q, ",")
		case "raw":
			return strings.Join(v.values, ",")
		default:
			errs = append(errs, fmt.Sprintf("variable %s: use an explicit format, not %q", name, format))
			return m
		}
	})
	out = macroRe.ReplaceAllStringFunc(out, func(m string) string {
		switch m {
		case "$__fromTime":
			return "toDateTime(" + strconv.FormatInt(e.from.Unix(), 10) + ")"
		case "$__toTime":
			return "toDateTime(" + strconv.FormatInt(e.to.Unix(), 10) + ")"
		case "$__interval_s":
			return strconv.Itoa(int(math.Max(e.interval.Seconds(), 1)))
		}
		errs = append(errs, "unexpected macro "+m)
		return m
	})
	if len(errs) == 0 && strings.Contains(out, "$") {
		errs = append(errs, "unexpanded $ left in the query")
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("expand: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

func TestExpand(t *testing.T) {
	t.Parallel()
	env := grafanaEnv{
		from:     time.Unix(1709510400, 0),
		to:       time.Unix(1709596800, 0),
		interval: 500 * time.Millisecond,
		vars: map[string]varValue{
			"service":  values("cart", "o'brien"),
			"database": values("weir"),
			"value":    {values: []string{"a", "b"}, all: true, allValue: "'__all__'"},
		},
	}
	f := func(in, want string) {
		t.Helper()
		got, err := env.expand(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	f("WHERE ts >= $__fromTime AND ts < $__toTime", "WHERE ts >= toDateTime(1709510400) AND ts < toDateTime(1709596800)")
	f("intDiv(x, $__interval_s)", "intDiv(x, 1)")
	f("ServiceName IN (${service:singlequote})", `ServiceName IN ('cart','o\'brien')`)
	f("FROM ${database:raw}.spans", "FROM weir.spans")
	f("x IN (${value:singlequote})", "x IN ('__all__')")

	for _, bad := range []string{"$__timeInterval(ts)", "${nope:raw}", "${service}", "$service", "${service:csv}"} {
		_, err := env.expand(bad)
		assert.Error(t, err, bad)
	}
}
