package dashboards

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/rollup"
)

// redPerMinute sums the seeded RED rows of a service (and operation, if not "") per minute.
func redPerMinute(service, operation string) (requests, errors int, durations []int, zeros int) {
	for _, s := range redSeeds {
		if s.service != service || (operation != "" && s.operation != operation) {
			continue
		}
		requests += len(s.durationsMs) + s.zeros
		if s.status == 2 {
			errors += len(s.durationsMs) + s.zeros
		}
		durations = append(durations, s.durationsMs...)
		zeros += s.zeros
	}
	return requests, errors, durations, zeros
}

func testServiceOverview(t *testing.T, s *suite) {
	const file = "service-overview.json"
	querier := &rollup.Querier{Conn: s.db.Conn, Database: s.db.Name}
	type scenario struct {
		name      string
		from, to  time.Time
		interval  time.Duration
		overrides map[string]varValue
	}
	var scenarios []scenario
	for _, e := range tierEnvs {
		scenarios = append(scenarios, scenario{e.name, e.from, e.to, e.interval, nil})
	}
	scenarios = append(scenarios, scenario{"cart only, at 1h", seedFrom, seedTo, time.Hour,
		map[string]varValue{varService: values("cart"), varOperation: values("GetCart")}})

	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			env, opts := s.envFor(t, file, sc.from, sc.to, sc.interval, sc.overrides)
			minutes := seededMinutes(sc.from, sc.to)
			rangeSec := sc.to.Sub(sc.from).Seconds()
			step := stepFor(sc.interval)
			services := []string{"cart", "frontend"}
			if sc.overrides != nil {
				services = []string{"cart"}
			}
			assert.Equal(t, []string{"cart", "frontend"}, opts[varService])
			if sc.overrides == nil {
				assert.Equal(t, []string{"GET /", "GET /health", "GetCart"}, opts[varOperation])
			} else {
				assert.Equal(t, []string{"GetCart"}, opts[varOperation])
			}

			t.Run("table", func(t *testing.T) {
				res := s.panel(t, env, file, "Services and operations", "A")
				res.hasColumns(t, "service String", "operation String", "requests UInt64", "errors UInt64",
					"error_ratio Float64", "rps Float64", "p50 Float64", "p95 Float64", "p99 Float64")
				want := map[[2]string]bool{}
				for _, r := range redSeeds {
					if sc.overrides == nil || r.service == "cart" {
						want[[2]string{r.service, r.operation}] = true
					}
				}
				require.Len(t, res.rows, len(want))
				for i := range res.rows {
					svc, op := res.str(t, i, "service"), res.str(t, i, "operation")
					require.True(t, want[[2]string{svc, op}], "%s %s", svc, op)
					req, errs, durs, zeros := redPerMinute(svc, op)
					assert.Equal(t, float64(req*minutes), res.num(t, i, "requests"), "%s %s requests", svc, op)
					assert.Equal(t, float64(errs*minutes), res.num(t, i, "errors"), "%s %s errors", svc, op)
					assert.InDelta(t, float64(errs)/float64(req), res.num(t, i, "error_ratio"), 1e-9)
					assert.InDelta(t, float64(req*minutes)/rangeSec, res.num(t, i, "rps"), 1e-9)
					for _, q := range []struct {
						col string
						q   float64
					}{{"p50", 0.50}, {"p95", 0.95}, {"p99", 0.99}} {
						within(t, trueQuantile(durs, zeros, q.q), res.num(t, i, q.col), "%s %s %s", svc, op, q.col)
					}
				}
			})

			// The time series panels bucket like rollup.Querier at the same step.
			ref, err := querier.Query(testContext(t), rollup.Query{Signal: rollup.SignalRED, From: sc.from, To: sc.to, Step: step,
				ServiceNames: services, GroupBy: []string{rollup.GroupService}})
			require.NoError(t, err)
			type key struct {
				bucket  time.Time
				service string
			}
			refRows := map[key]rollup.Row{}
			for _, r := range ref.Rows {
				refRows[key{r.Bucket.UTC(), r.Series.ServiceName}] = r
			}

			for _, p := range []struct {
				title, col string
				count      func(rollup.Row) uint64
				perMinute  func(string) int
			}{
				{"Requests per second", "rps", func(r rollup.Row) uint64 { return r.Requests },
					func(svc string) int { n, _, _, _ := redPerMinute(svc, ""); return n }},
				{"Errors per second", "errors_per_second", func(r rollup.Row) uint64 { return r.Errors },
					func(svc string) int { _, n, _, _ := redPerMinute(svc, ""); return n }},
			} {
				t.Run(p.title, func(t *testing.T) {
					res := s.panel(t, env, file, p.title, "A")
					res.hasColumns(t, "time DateTime", "service String", p.col+" Float64")
					require.Len(t, res.rows, len(ref.Rows))
					totals := map[string]float64{}
					for i := range res.rows {
						k := key{res.time(t, i, "time").UTC(), res.str(t, i, "service")}
						r, ok := refRows[k]
						require.True(t, ok, "bucket %v not in rollup's result", k)
						assert.InDelta(t, float64(p.count(r))/step.Seconds(), res.num(t, i, p.col), 1e-9, "%v", k)
						totals[k.service] += res.num(t, i, p.col) * step.Seconds()
					}
					for _, svc := range services {
						assert.InDelta(t, float64(p.perMinute(svc)*minutes), totals[svc], 1e-6, svc)
					}
				})
			}

			t.Run("latency", func(t *testing.T) {
				res := s.panel(t, env, file, "Latency p50 / p95 / p99", "A")
				res.hasColumns(t, "time DateTime", "service String", "p50 Float64", "p95 Float64", "p99 Float64")
				require.Len(t, res.rows, len(ref.Rows))
				for i := range res.rows {
					svc := res.str(t, i, "service")
					_, _, durs, zeros := redPerMinute(svc, "")
					k := key{res.time(t, i, "time").UTC(), svc}
					require.Contains(t, refRows, k)
					p50, p95, p99 := refRows[k].Latency.Percentiles()
					for _, q := range []struct {
						col      string
						q, rollq float64
					}{{"p50", 0.50, p50}, {"p95", 0.95, p95}, {"p99", 0.99, p99}} {
						within(t, trueQuantile(durs, zeros, q.q), res.num(t, i, q.col), "%s %v %s", svc, k.bucket, q.col)
						assert.InDelta(t, q.rollq, res.num(t, i, q.col), q.rollq*1e-9, "same as model.Distribution.Quantile")
					}
				}
			})
		})
	}
}
