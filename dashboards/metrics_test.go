package dashboards

import (
	"math"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seriesExpect is what the seed implies for one series over [from, to).
type seriesExpect struct {
	points              int
	total, lo, hi, last float64
}

func expectSeries(s seriesSeed, from, to time.Time) seriesExpect {
	e := seriesExpect{lo: math.Inf(1), hi: math.Inf(-1)}
	i := 0
	for m := seedFrom; m.Before(seedTo); m = m.Add(time.Minute) {
		if !m.Before(from) && m.Before(to) {
			v := s.value(i)
			e.points++
			e.total += v
			e.lo, e.hi, e.last = math.Min(e.lo, v), math.Max(e.hi, v), v
		}
		i++
	}
	return e
}

func testMetricsExplorer(t *testing.T, s *suite) {
	const file = "metrics-explorer.json"
	const counter, gauge = "http.server.request.count", "process.memory.usage"
	for _, e := range tierEnvs {
		for _, sc := range []struct {
			name      string
			overrides map[string]varValue
			series    []seriesSeed // in the order of the table (by attributes)
			keys      []string
			values    []string
		}{
			{"counter, every route", map[string]varValue{varMetric: values(counter)},
				[]seriesSeed{seriesSeeds[0], seriesSeeds[1], seriesSeeds[2]}, []string{"http.route"}, []string{"/", "/cart", "/get"}},
			{"counter, route /cart", map[string]varValue{varMetric: values(counter), varAttrValue: values("/cart")},
				[]seriesSeed{seriesSeeds[1]}, []string{"http.route"}, []string{"/", "/cart", "/get"}},
			{"gauge without attributes", map[string]varValue{varMetric: values(gauge)},
				[]seriesSeed{seriesSeeds[3]}, []string{}, []string{""}},
		} {
			t.Run(e.name+"/"+sc.name, func(t *testing.T) {
				env, opts := s.envFor(t, file, e.from, e.to, e.interval, sc.overrides)
				// weir's own metrics are a service's metrics too (seedSelf).
				assert.Equal(t, []string{"cart", "frontend", selfService}, opts[varService])
				metrics := append([]string{counter, gauge}, selfMetricNames()...)
				sort.Strings(metrics)
				assert.Equal(t, metrics, opts[varMetric])
				assert.Equal(t, sc.keys, opts[varAttrKey])
				assert.Equal(t, sc.values, opts[varAttrValue])
				step := stepFor(e.interval).Seconds()

				// Rate and mean: one line per attribute value; rate*step adds up to the sums.
				rate := s.panel(t, env, file, "${metric}: rate by ${attr_key}", "A")
				rate.hasColumns(t, "time DateTime", "attribute String", "rate Float64")
				mean := s.panel(t, env, file, "${metric}: mean by ${attr_key}", "A")
				mean.hasColumns(t, "time DateTime", "attribute String", "mean Float64")
				require.Equal(t, len(rate.rows), len(mean.rows))
				totals := map[string]float64{}
				for i := range rate.rows {
					totals[rate.str(t, i, "attribute")] += rate.num(t, i, "rate") * step
				}
				want := map[string]float64{}
				for _, ss := range sc.series {
					attr := ""
					if len(ss.values) > 0 {
						attr = ss.values[0]
					}
					want[attr] += expectSeries(ss, e.from, e.to).total
				}
				require.Len(t, totals, len(want))
				for attr, w := range want {
					assert.InEpsilon(t, w, totals[attr], 1e-9, "sum of %q", attr)
				}
				for i := range mean.rows {
					attr := mean.str(t, i, "attribute")
					bucket := mean.time(t, i, "time")
					var ss seriesSeed
					for _, c := range sc.series {
						if (len(c.values) == 0 && attr == "") || (len(c.values) > 0 && c.values[0] == attr) {
							ss = c
						}
					}
					require.NotNil(t, ss.value, "attribute %q", attr)
					from, to := bucket, bucket.Add(time.Duration(step)*time.Second)
					from, to = maxTime(from, e.from), minTime(to, e.to)
					x := expectSeries(ss, from, to)
					assert.InDelta(t, x.total/float64(x.points), mean.num(t, i, "mean"), 1e-9, "mean of %q at %s", attr, bucket)
				}

				table := s.panel(t, env, file, "${metric}: series", "A")
				table.hasColumns(t, "attributes String", "points UInt64", "total Float64", "minimum Float64", "maximum Float64", "last Float64")
				require.Len(t, table.rows, len(sc.series))
				for i, ss := range sc.series {
					x := expectSeries(ss, e.from, e.to)
					attrs := ""
					if len(ss.keys) > 0 {
						attrs = ss.keys[0] + "=" + ss.values[0]
					}
					assert.Equal(t, attrs, table.str(t, i, "attributes"))
					assert.Equal(t, float64(x.points), table.num(t, i, "points"))
					assert.InEpsilon(t, x.total, table.num(t, i, "total"), 1e-9)
					assert.Equal(t, x.lo, table.num(t, i, "minimum"))
					assert.Equal(t, x.hi, table.num(t, i, "maximum"))
					assert.Equal(t, x.last, table.num(t, i, "last"))
				}
			})
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
