package report

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/analyzer/costmap"
	"github.com/weirhq/weir/analyzer/hotspot"
	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/rollup"
)

// computeInputs is a week as gather would read it, without a server:
//
//	checkout: 1,000 requests a day both weeks (10 failed), spend 70 → 140: cost per 1k
//	          requests 10 → 20 on flat traffic; 100 calls a day to its database postgresql,
//	          whose pool (7) it alone calls, so a call costs 0.01; one N+1 finding with 70
//	          avoidable calls to it;
//	search:   2,000 requests a day both weeks, spend 35 both weeks;
//	cron:     spend 7 both weeks, only INTERNAL spans: active, but no requests;
//	zombie:   spend 3 both weeks and not one span: idle;
//	unmapped: 1 a day.
func computeInputs() *inputs {
	amt := func(f float64) costmap.Amount {
		a, ok := costmap.ToAmount(f)
		if !ok {
			panic(f)
		}
		return a
	}
	week := func(checkout float64) costmap.Result {
		return costmap.Result{
			Currencies: []string{"USD"},
			Services: []costmap.ServiceCost{
				{Service: "checkout", Total: amt(checkout)}, {Service: "search", Total: amt(35)},
				{Service: "cron", Total: amt(7)}, {Service: "zombie", Total: amt(3)},
			},
			Unmapped: amt(7), Total: amt(checkout + 35 + 7 + 3 + 7),
			Shared: []costmap.SharedSplit{{Name: "orders-db", Node: "postgresql", SplitBy: costmap.SplitByCalls,
				Cost: amt(7), Shares: []costmap.Share{{Service: "checkout", Weight: 700, Cost: amt(7)}}}},
		}
	}
	in := &inputs{from: weekFrom, generatedAt: weekFrom.AddDate(0, 0, 8), spend: week(140), prevSpend: week(70)}
	for d := range in.daily {
		in.daily[d] = costmap.Result{Unmapped: amt(1), Services: []costmap.ServiceCost{
			{Service: "checkout", Total: amt(20)}, {Service: "search", Total: amt(5)},
			{Service: "cron", Total: amt(1)}, {Service: "zombie", Total: amt(3.0 / 7)},
		}}
	}
	red := func(day time.Time, service string, kind uint8, requests, errors uint64) rollup.Row {
		return rollup.Row{Bucket: day, Series: rollup.Series{ServiceName: service, SpanKind: kind}, Requests: requests, Errors: errors}
	}
	for d := -7; d < 7; d++ {
		day := weekFrom.AddDate(0, 0, d)
		in.red = append(in.red,
			red(day, "checkout", model.SpanKindServer, 1000, 10),
			red(day, "checkout", model.SpanKindClient, 100, 0),
			red(day, "search", model.SpanKindConsumer, 2000, 0))
		if d >= 0 {
			in.red = append(in.red, red(day, "cron", model.SpanKindInternal, 500, 0))
			in.edges = append(in.edges, rollup.Row{Bucket: day, Requests: 100,
				Series: rollup.Series{Client: "checkout", Server: "postgresql", ConnectionType: "database"}})
		}
	}
	in.findings = []hotspot.Finding{{Rule: hotspot.RuleNPlusOneQuery, Service: "checkout", Operation: "POST /checkout",
		Severity: hotspot.SeverityInfo, AvoidableCallsPerWeek: 70, Evidence: hotspot.Evidence{Peer: "postgresql"}}}
	return in
}

// compute needs no server: it turns the inputs into the report's numbers.
func TestCompute(t *testing.T) {
	r, err := compute(computeInputs(), hotspot.DefaultSpendThresholds())
	require.NoError(t, err)

	assert.Equal(t, "2026-W47", r.Week)
	assert.Equal(t, "2026-W46", r.PreviousWeek)
	assert.Equal(t, weekFrom.AddDate(0, 0, 7), r.To)
	assert.Equal(t, "USD", r.Currency)
	assert.Equal(t, weekFrom.AddDate(0, 0, 8), r.GeneratedAt)

	var names []string
	for _, s := range r.Services {
		names = append(names, s.Service)
	}
	assert.Equal(t, []string{"checkout", "search", "cron", "zombie"}, names, "by spend descending")
	c := r.Services[0]
	assert.EqualValues(t, 7000, c.Requests, "SERVER spans only, not CLIENT")
	assert.EqualValues(t, 7000, c.PreviousRequests)
	assert.EqualValues(t, 70, c.Errors)
	assert.InDelta(t, 0.01, c.ErrorRate, 1e-12)
	assert.InDelta(t, 20, c.CostPer1kRequests, 1e-9)
	require.NotNil(t, c.CostPer1kChange)
	assert.InDelta(t, 1.0, *c.CostPer1kChange, 1e-9)
	assert.EqualValues(t, 14000, r.Services[1].Requests, "CONSUMER spans are requests")
	assert.Zero(t, r.Services[2].Requests, "INTERNAL spans are not requests")

	tot := r.Totals
	assert.InDelta(t, 192, tot.Spend, 1e-9)
	assert.InDelta(t, 122, tot.PreviousSpend, 1e-9)
	assert.InDelta(t, 7, tot.Unmapped, 1e-9)
	assert.EqualValues(t, 21000, tot.Requests)
	assert.InDelta(t, 192.0/21000*1e6, tot.SpendPerMillionRequests, 1e-6)

	require.Len(t, r.Daily, 4)
	for _, d := range r.Daily[0].Days {
		assert.InDelta(t, 20, d.Spend, 1e-9)
		assert.EqualValues(t, 1000, d.Requests)
		assert.EqualValues(t, 10, d.Errors)
	}
	assert.Equal(t, "2026-11-22", r.Daily[0].Days[6].Date)
	assert.Equal(t, [2]float64{1, 0}, r.unattributed[3])

	// The cost rise (140 − 7 × 10), zombie's idle spend (cron is active, so not idle), and
	// the N+1 priced at its database: 70 calls × 7 / 700.
	require.Len(t, r.Hotspots, 3, "%+v", r.Hotspots)
	assert.Equal(t, hotspot.RuleCostRise, r.Hotspots[0].Rule)
	assert.InDelta(t, 70, r.Hotspots[0].ImpactPerWeek, 1e-9)
	assert.Equal(t, hotspot.RuleIdleSpend, r.Hotspots[1].Rule)
	assert.Equal(t, "zombie", r.Hotspots[1].Service)
	assert.InDelta(t, 3, r.Hotspots[1].ImpactPerWeek, 1e-9)
	n := r.Hotspots[2]
	assert.Equal(t, 3, n.Rank)
	assert.Equal(t, hotspot.RuleNPlusOneQuery, n.Rule)
	assert.InDelta(t, 0.01, n.CostPerCall, 1e-12)
	assert.InDelta(t, 0.7, n.ImpactPerWeek, 1e-9)
	assert.Equal(t, "postgresql", n.Evidence.PricedAt)
	assert.Equal(t, []string{}, n.ExampleTraceIDs)
	assert.InDelta(t, 73.7, tot.HotspotImpactPerWeek, 1e-9)
}

func TestCompute_EmptyWeek(t *testing.T) {
	r, err := compute(&inputs{from: weekFrom}, hotspot.DefaultSpendThresholds())
	require.NoError(t, err)
	assert.Equal(t, []ServiceRow{}, r.Services)
	assert.Equal(t, []Hotspot{}, r.Hotspots)
	assert.Equal(t, []Series{}, r.Daily)
	assert.Empty(t, r.Currency)
	assert.Nil(t, r.Totals.SpendChange)
}
