package dashboards

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/rollup"
)

// The cost seed: two report weeks, the one before the seed's days and the seed's own (both
// full weeks of service_cost_1d), with their hotspots, written by rollup.WriteAnalysis as
// `weir report` writes them.
var (
	costWeeks    = []time.Time{seedFrom.AddDate(0, 0, -7), seedFrom}
	costCurrency = "EUR"
)

// costSeed is one service's day d (0 is the first day of the first week).
type costSeed struct {
	service string
	day     func(d int) (spend float64, requests, errors uint64)
}

var costSeeds = []costSeed{
	{"frontend", func(d int) (float64, uint64, uint64) {
		return 100 + float64(d), 1_000_000 + 1000*uint64(d), 100 * uint64(d)
	}},
	{"cart", func(d int) (float64, uint64, uint64) { return 50 + 2*float64(d), 200_000, 10 }},
	{"(unmapped)", func(int) (float64, uint64, uint64) { return 7.5, 0, 0 }},
	{"(idle)", func(int) (float64, uint64, uint64) { return 2.25, 0, 0 }},
}

// costHotspots are each week's findings, by week index.
var costHotspots = [][]rollup.HotspotRow{
	{
		{Rank: 1, Rule: "chatty_edge", Service: "cart", Operation: "GetCart", Severity: "warning", Currency: costCurrency,
			ImpactPerWeek: 12.5, AvoidableCallsPerWeek: 1000, CostPerCall: 0.0125, Evidence: `{"calls_per_trace":12}`,
			ExampleTraceIDs: []string{trace2}, Recommendation: "Batch the calls to cart."},
	},
	{
		{Rank: 1, Rule: "n_plus_one_query", Service: "frontend", Operation: "GET /", Severity: "critical", Currency: costCurrency,
			ImpactPerWeek: 250, AvoidableCallsPerWeek: 50000, CostPerCall: 0.005, Evidence: `{"queries_per_trace":40}`,
			ExampleTraceIDs: []string{trace1, trace2}, Recommendation: "Load the rows in one query."},
		{Rank: 2, Rule: "excessive_fan_out", Service: "cart", Operation: "GetCart", Severity: "warning", Currency: costCurrency,
			ImpactPerWeek: 40, AvoidableCallsPerWeek: 8000, CostPerCall: 0.005, Evidence: `{"fan_out":64}`,
			Recommendation: "Fetch the items in one call."},
		{Rank: 3, Rule: "retry_storm", Service: "frontend", Operation: "GET /health", Severity: "info", Currency: costCurrency,
			ImpactPerWeek: 3.5, AvoidableCallsPerWeek: 700, CostPerCall: 0.005, Evidence: `{"retries_per_trace":3}`,
			ExampleTraceIDs: []string{trace1}, Recommendation: "Back off between retries."},
	},
}

func costDay(d int) time.Time { return costWeeks[0].AddDate(0, 0, d) }

// seedCost writes the cost seed with rollup.WriteAnalysis.
func seedCost(t *testing.T, db *chtest.DB) {
	ctx := testContext(t)
	for w, week := range costWeeks {
		var days []rollup.ServiceCostDay
		for d := 7 * w; d < 7*w+7; d++ {
			for _, s := range costSeeds {
				spend, req, errs := s.day(d)
				days = append(days, rollup.ServiceCostDay{Date: costDay(d), Service: s.service, Currency: costCurrency,
					Spend: spend, Requests: req, Errors: errs})
			}
		}
		require.NoError(t, rollup.WriteAnalysis(ctx, db.Conn, db.Name, week, week.AddDate(0, 0, 8), days, costHotspots[w]))
	}
}

// costDays are the seeded day indexes that overlap [from, to).
func costDays(from, to time.Time) []int {
	var out []int
	for d := 0; d < 7*len(costWeeks); d++ {
		if costDay(d).Before(to) && costDay(d).Add(24*time.Hour).After(from) {
			out = append(out, d)
		}
	}
	return out
}

func isUnattributed(service string) bool { return service == "(unmapped)" || service == "(idle)" }

func testCostEfficiency(t *testing.T, s *suite) {
	const file = "cost-efficiency.json"
	all := []string{"(idle)", "(unmapped)", "cart", "frontend"}
	for _, e := range []struct {
		name     string
		from, to time.Time
		services []string // selected; nil is All
		week     int      // the week whose hotspots show
	}{
		{"the seed's three days", seedFrom, seedTo, nil, 1},
		{"off-day bounds across both weeks", costWeeks[0].Add(5*time.Hour + 17*time.Minute), seedFrom.Add(30 * time.Hour), nil, 1},
		{"the first week only", costWeeks[0], costWeeks[1], nil, 0},
		{"cart only, both weeks", costWeeks[0], seedTo, []string{"cart"}, 1},
	} {
		t.Run(e.name, func(t *testing.T) {
			var overrides map[string]varValue
			if e.services != nil {
				overrides = map[string]varValue{varService: values(e.services...)}
			}
			env, opts := s.envFor(t, file, e.from, e.to, time.Hour, overrides)
			assert.Equal(t, all, opts[varService])
			selected := e.services
			if selected == nil {
				selected = all
			}
			days := costDays(e.from, e.to)
			require.NotEmpty(t, days)

			type agg struct {
				spend          float64
				requests, errs uint64
			}
			perDay := map[bucketKey]agg{}
			perService := map[string]agg{}
			var bill, unattributed float64
			for _, d := range days {
				for _, c := range costSeeds {
					spend, req, errs := c.day(d)
					bill += spend
					if isUnattributed(c.service) {
						unattributed += spend
					}
					if !slices.Contains(selected, c.service) {
						continue
					}
					perDay[bucketKey{costDay(d), c.service}] = agg{spend, req, errs}
					a := perService[c.service]
					a.spend, a.requests, a.errs = a.spend+spend, a.requests+req, a.errs+errs
					perService[c.service] = a
				}
			}

			spend := s.panel(t, env, file, "Spend per day", "A")
			spend.hasColumns(t, "time DateTime", "service String", "spend Float64")
			require.Len(t, spend.rows, len(perDay))
			for i := range spend.rows {
				k := bucketKey{spend.time(t, i, "time").UTC(), spend.str(t, i, "service")}
				assert.InDelta(t, perDay[k].spend, spend.num(t, i, "spend"), 1e-9, "spend %v", k)
			}

			requests := s.panel(t, env, file, "Requests per day", "A")
			requests.hasColumns(t, "time DateTime", "service String", "requests UInt64")
			perK := s.panel(t, env, file, "Cost per 1000 requests", "A")
			perK.hasColumns(t, "time DateTime", "service String", "cost_per_1k Float64")
			var served int
			for k := range perDay {
				if !isUnattributed(k.label) {
					served++
				}
			}
			require.Len(t, requests.rows, served, "no lines for the pseudo-services")
			require.Len(t, perK.rows, served)
			for i := range requests.rows {
				k := bucketKey{requests.time(t, i, "time").UTC(), requests.str(t, i, "service")}
				assert.Equal(t, float64(perDay[k].requests), requests.num(t, i, "requests"), "requests %v", k)
				k = bucketKey{perK.time(t, i, "time").UTC(), perK.str(t, i, "service")}
				assert.InEpsilon(t, perDay[k].spend/float64(perDay[k].requests)*1000, perK.num(t, i, "cost_per_1k"), 1e-9, "cost per 1k %v", k)
			}

			table := s.panel(t, env, file, "Services", "A")
			table.hasColumns(t, "service String", "spend Float64", "share_of_bill Float64", "requests UInt64",
				"cost_per_1k Nullable(Float64)", "error_rate Nullable(Float64)", "currency")
			names := slices.Collect(func(yield func(string) bool) {
				for k := range perService {
					if !yield(k) {
						return
					}
				}
			})
			sort.Slice(names, func(i, j int) bool { return perService[names[i]].spend > perService[names[j]].spend })
			assert.Equal(t, names, table.column(t, "service"), "by spend, largest first")
			for i, name := range table.column(t, "service") {
				a := perService[name]
				assert.InDelta(t, a.spend, table.num(t, i, "spend"), 1e-9, name)
				assert.InEpsilon(t, a.spend/bill, table.num(t, i, "share_of_bill"), 1e-9, name)
				assert.Equal(t, float64(a.requests), table.num(t, i, "requests"), name)
				assert.Equal(t, costCurrency, table.str(t, i, "currency"))
				perK, errRate := table.rows[i][table.index(t, "cost_per_1k")].(*float64), table.rows[i][table.index(t, "error_rate")].(*float64)
				if a.requests == 0 {
					assert.Nil(t, perK, name)
					assert.Nil(t, errRate, name)
					continue
				}
				require.NotNil(t, perK, name)
				require.NotNil(t, errRate, name)
				assert.InEpsilon(t, a.spend/float64(a.requests)*1000, *perK, 1e-9, name)
				assert.InDelta(t, float64(a.errs)/float64(a.requests), *errRate, 1e-12, name)
			}

			total := s.panel(t, env, file, "Total spend", "A")
			total.hasColumns(t, "currency", "spend Float64")
			require.Len(t, total.rows, 1)
			assert.Equal(t, costCurrency, total.str(t, 0, "currency"))
			var sel float64
			for _, a := range perService {
				sel += a.spend
			}
			assert.InDelta(t, sel, total.num(t, 0, "spend"), 1e-9)

			un := s.panel(t, env, file, "Unattributed spend", "A")
			un.hasColumns(t, "currency", "unattributed Float64", "share Float64")
			require.Len(t, un.rows, 1)
			assert.InDelta(t, unattributed, un.num(t, 0, "unattributed"), 1e-9, "whatever the selection")
			assert.InEpsilon(t, unattributed/bill, un.num(t, 0, "share"), 1e-9)

			hot := s.panel(t, env, file, "Hotspots", "A")
			hot.hasColumns(t, "week Date", "rank UInt32", "severity", "rule", "service String", "operation String",
				"impact_per_week Float64", "currency", "avoidable_calls_per_week Float64", "cost_per_call Float64",
				"recommendation String", "example_trace_id String", "more_trace_ids String", "evidence String")
			var want []rollup.HotspotRow
			for _, h := range costHotspots[e.week] {
				if slices.Contains(selected, h.Service) {
					want = append(want, h)
				}
			}
			sort.SliceStable(want, func(i, j int) bool { return want[i].ImpactPerWeek > want[j].ImpactPerWeek })
			require.Len(t, hot.rows, len(want))
			for i, h := range want {
				assert.Equal(t, costWeeks[e.week], hot.time(t, i, "week").UTC())
				assert.Equal(t, float64(h.Rank), hot.num(t, i, "rank"))
				got := fmt.Sprintf("%s %s %s %s %g %s %g %g %s %s", hot.str(t, i, "severity"), hot.str(t, i, "rule"),
					hot.str(t, i, "service"), hot.str(t, i, "operation"), hot.num(t, i, "impact_per_week"), hot.str(t, i, "currency"),
					hot.num(t, i, "avoidable_calls_per_week"), hot.num(t, i, "cost_per_call"), hot.str(t, i, "recommendation"),
					hot.str(t, i, "evidence"))
				assert.Equal(t, fmt.Sprintf("%s %s %s %s %g %s %g %g %s %s", h.Severity, h.Rule, h.Service, h.Operation,
					h.ImpactPerWeek, h.Currency, h.AvoidableCallsPerWeek, h.CostPerCall, h.Recommendation, h.Evidence), got)
				first, rest := "", ""
				if len(h.ExampleTraceIDs) > 0 {
					first, rest = h.ExampleTraceIDs[0], strings.Join(h.ExampleTraceIDs[1:], " ")
				}
				assert.Equal(t, first, hot.str(t, i, "example_trace_id"))
				assert.Equal(t, rest, hot.str(t, i, "more_trace_ids"))
			}
		})
	}

	// The example trace IDs link to the Traces dashboard's trace view, and are traces that the
	// seed stored.
	t.Run("example traces link to the trace view", func(t *testing.T) {
		var link string
		for _, p := range s.dash[file].Panels {
			if *p.Panel.Title != "Hotspots" {
				continue
			}
			for _, o := range p.Panel.FieldConfig.Overrides {
				if name, ok := o.Matcher.Options.(*string); ok && *name == "example_trace_id" {
					link = o.Properties[0].Value.([]map[string]any)[0]["url"].(string)
				}
			}
		}
		assert.Equal(t, "/d/"+UIDTraces+"?var-"+varTraceID+"=${__value.raw}&${__url_time_range}", link)
		for _, id := range costHotspots[1][0].ExampleTraceIDs {
			res := runQuery(t, s.db, "SELECT count() AS spans FROM "+s.db.Table(rollup.TableSpans)+" WHERE TraceId = unhex('"+id+"')")
			assert.Equal(t, 2.0, res.num(t, 0, "spans"), id)
		}
	})
}
