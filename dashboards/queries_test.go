package dashboards

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/rollup"
)

// result is what a query returned: column names, ClickHouse types and rows.
type result struct {
	cols  []string
	types []string
	rows  [][]any
}

func (r result) index(t *testing.T, col string) int {
	t.Helper()
	i := slices.Index(r.cols, col)
	require.GreaterOrEqual(t, i, 0, "no column %s in %v", col, r.cols)
	return i
}

// str is row i's column col as a string.
func (r result) str(t *testing.T, i int, col string) string {
	t.Helper()
	v, ok := r.rows[i][r.index(t, col)].(string)
	require.True(t, ok, "column %s is %T", col, r.rows[i][r.index(t, col)])
	return v
}

// num is row i's column col as a float64, whatever its numeric type.
func (r result) num(t *testing.T, i int, col string) float64 {
	t.Helper()
	v := reflect.ValueOf(r.rows[i][r.index(t, col)])
	switch {
	case v.CanFloat():
		return v.Float()
	case v.CanInt():
		return float64(v.Int())
	case v.CanUint():
		return float64(v.Uint())
	}
	t.Fatalf("column %s is %s, not a number", col, v.Type())
	return 0
}

// time is row i's column col as a time.
func (r result) time(t *testing.T, i int, col string) time.Time {
	t.Helper()
	v, ok := r.rows[i][r.index(t, col)].(time.Time)
	require.True(t, ok, "column %s is %T", col, r.rows[i][r.index(t, col)])
	return v
}

// column is every row's column col as strings.
func (r result) column(t *testing.T, col string) []string {
	t.Helper()
	out := []string{}
	for i := range r.rows {
		out = append(out, r.str(t, i, col))
	}
	return out
}

// hasColumns checks the names and, by prefix, the types of the columns.
func (r result) hasColumns(t *testing.T, want ...string) {
	t.Helper()
	var names, types []string
	for _, w := range want {
		name, typ, _ := strings.Cut(w, " ")
		names = append(names, name)
		types = append(types, typ)
	}
	require.Equal(t, names, r.cols)
	for i, typ := range types {
		if typ != "" {
			assert.True(t, strings.HasPrefix(r.types[i], typ), "column %s is %s, want %s", r.cols[i], r.types[i], typ)
		}
	}
}

func runQuery(t *testing.T, db *chtest.DB, sql string) result {
	t.Helper()
	rows, err := db.Conn.Query(testContext(t), sql)
	require.NoError(t, err, "query:\n%s", sql)
	defer rows.Close()
	var r result
	r.cols = rows.Columns()
	for _, c := range rows.ColumnTypes() {
		r.types = append(r.types, c.DatabaseTypeName())
	}
	for rows.Next() {
		dest := make([]any, len(r.cols))
		for i, c := range rows.ColumnTypes() {
			dest[i] = reflect.New(c.ScanType()).Interface()
		}
		require.NoError(t, rows.Scan(dest...))
		row := make([]any, len(dest))
		for i, d := range dest {
			row[i] = reflect.ValueOf(d).Elem().Interface()
		}
		r.rows = append(r.rows, row)
	}
	require.NoError(t, rows.Err())
	return r
}

// suite runs the dashboards' queries against the seeded database and remembers which ran.
type suite struct {
	db   *chtest.DB
	dash map[string]dashboard.Dashboard
	ran  map[string]bool
}

func varKey(file, name string) string           { return file + " variable " + name }
func panelKey(file, title, refID string) string { return file + " panel " + title + " " + refID }

// envFor resolves a dashboard's variables the way Grafana does on load: in order, each
// query variable's SQL is expanded with the variables before it and run; its options are
// the first column. Multi-value variables are set to All unless overrides name their values;
// single-value ones to their first option. It returns the env and every variable's options.
func (s *suite) envFor(t *testing.T, file string, from, to time.Time, interval time.Duration, overrides map[string]varValue) (grafanaEnv, map[string][]string) {
	t.Helper()
	d, ok := s.dash[file]
	require.True(t, ok, file)
	env := grafanaEnv{from: from, to: to, interval: interval, vars: map[string]varValue{}}
	// The database variable is the connection's default database; the test connection's is
	// "default", so the seeded database is set the way a data source would set it.
	overrides = maps.Clone(overrides)
	if overrides == nil {
		overrides = map[string]varValue{}
	}
	overrides[varDatabase] = values(s.db.Name)
	options := map[string][]string{}
	for _, v := range d.Templating.List {
		switch v.Type {
		case "query":
			sql, err := env.expand(*v.Query.String)
			require.NoError(t, err, "variable %s", v.Name)
			res := runQuery(t, s.db, sql)
			s.ran[varKey(file, v.Name)] = true
			require.Len(t, res.cols, 1, "variable %s returns one column", v.Name)
			opts := res.column(t, res.cols[0])
			if v.Name == varDatabase {
				require.Equal(t, []string{"default"}, opts, "the test connection's default database")
			}
			options[v.Name] = opts
			switch o, ok := overrides[v.Name]; {
			case ok:
				env.vars[v.Name] = o
			case v.Multi != nil && *v.Multi:
				all := varValue{values: opts, all: true}
				if v.AllValue != nil {
					all.allValue = *v.AllValue
				}
				env.vars[v.Name] = all
			case len(opts) > 0:
				env.vars[v.Name] = values(opts[0])
			default:
				env.vars[v.Name] = values("")
			}
		case "textbox":
			if o, ok := overrides[v.Name]; ok {
				env.vars[v.Name] = o
			} else {
				env.vars[v.Name] = values("")
			}
		}
	}
	return env, options
}

// panel runs the target refID of the panel titled title.
func (s *suite) panel(t *testing.T, env grafanaEnv, file, title, refID string) result {
	t.Helper()
	for _, p := range s.dash[file].Panels {
		if p.Panel == nil || p.Panel.Title == nil || *p.Panel.Title != title {
			continue
		}
		for _, q := range p.Panel.Targets {
			if ch, ok := q.(ClickHouseQuery); ok && ch.RefId == refID {
				sql, err := env.expand(ch.RawSql)
				require.NoError(t, err)
				s.ran[panelKey(file, title, refID)] = true
				return runQuery(t, s.db, sql)
			}
		}
	}
	t.Fatalf("%s has no panel %q with target %s", file, title, refID)
	return result{}
}

// stepFor is the bucket width the panels' SQL computes from an interval (rollup.Panel.Step).
func stepFor(interval time.Duration) time.Duration {
	s := max(int64(interval/time.Second), 1)
	return time.Duration(max(60, (s+59)/60*60)) * time.Second
}

// within asserts that got is within 2% of want (exactly 0 when want is 0).
func within(t *testing.T, want, got float64, msg string, args ...any) {
	t.Helper()
	if want == 0 {
		assert.Equal(t, 0.0, got, append([]any{msg}, args...)...)
		return
	}
	assert.InEpsilon(t, want, got, 0.02, append([]any{msg}, args...)...)
}

// Ranges the RED, edge and metric panels are run over: interval decides the tier.
var tierEnvs = []struct {
	name     string
	from, to time.Time
	interval time.Duration
}{
	{"three days at 1d: days, hours, minutes", seedFrom, seedTo, 24 * time.Hour},
	{"off-hour range at 1h: minutes, hours, minutes", seedFrom.Add(5*time.Hour + 17*time.Minute), seedFrom.Add(68*time.Hour + 3*time.Minute), time.Hour},
	{"six hours at 2m: minutes only", seedFrom.Add(54 * time.Hour), seedFrom.Add(60 * time.Hour), 2 * time.Minute},
	{"wider than the data at 1d", seedFrom.Add(-24 * time.Hour), seedTo.Add(24 * time.Hour), 24 * time.Hour},
	{"ending inside the hour tier at 1d: days, hours, minutes", seedFrom.Add(5*time.Hour + 30*time.Second), seedFrom.Add(57*time.Hour + 30*time.Minute), 24 * time.Hour},
	{"inside the hour tier at 2h", seedFrom.Add(5*time.Hour + 17*time.Minute), seedFrom.Add(40*time.Hour + 30*time.Minute), 2 * time.Hour},
	{"sub-minute interval at 15s", seedFrom.Add(57*time.Hour + 30*time.Minute), seedFrom.Add(58*time.Hour + 30*time.Minute), 15 * time.Second},
}

func TestQueries(t *testing.T) {
	db := chtest.New(t)
	seed(t, db)
	all, err := All()
	require.NoError(t, err)
	s := &suite{db: db, dash: map[string]dashboard.Dashboard{}, ran: map[string]bool{}}
	for _, d := range all {
		s.dash[d.File] = d.Model
	}

	t.Run("the seed stitches tiers", func(t *testing.T) {
		// The panels pick their tiers with rollup's panel SQL, which rollup tests against
		// PlanQuery; here the seed makes them stitch: three days at 1d read days, then hours,
		// then minutes.
		querier := &rollup.Querier{Conn: s.db.Conn, Database: s.db.Name}
		p, err := querier.Plan(testContext(t), rollup.Query{Signal: rollup.SignalRED, From: seedFrom, To: seedTo, Step: 24 * time.Hour})
		require.NoError(t, err)
		assert.Equal(t, []string{rollup.TableRED1d, rollup.TableRED1h, rollup.TableRED1m}, p.Tables())
	})
	t.Run("service overview", func(t *testing.T) { testServiceOverview(t, s) })
	t.Run("service map", func(t *testing.T) { testServiceMap(t, s) })
	t.Run("traces", func(t *testing.T) { testTraces(t, s) })
	t.Run("metrics explorer", func(t *testing.T) { testMetricsExplorer(t, s) })
	t.Run("cost efficiency", func(t *testing.T) { testCostEfficiency(t, s) })
	t.Run("weir itself", func(t *testing.T) { testWeirItself(t, s) })

	t.Run("every query is tested", func(t *testing.T) {
		for _, d := range all {
			for _, v := range d.Model.Templating.List {
				if v.Type == "query" {
					assert.True(t, s.ran[varKey(d.File, v.Name)], "untested: %s", varKey(d.File, v.Name))
				}
			}
			for _, p := range d.Model.Panels {
				for _, q := range p.Panel.Targets {
					key := panelKey(d.File, *p.Panel.Title, q.(ClickHouseQuery).RefId)
					assert.True(t, s.ran[key], "untested: %s", key)
				}
			}
		}
	})
}
