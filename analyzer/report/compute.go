package report

import (
	"math"
	"sort"
	"time"

	"github.com/weirhq/weir/analyzer/costmap"
	"github.com/weirhq/weir/analyzer/hotspot"
	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/rollup"
)

// compute turns a week's inputs into its report; it reads nothing. th are the spend rules'
// thresholds, already valid.
func compute(in *inputs, th hotspot.SpendThresholds) (*Report, error) {
	from := in.from
	r := &Report{
		Week: WeekOf(from), From: from, To: from.AddDate(0, 0, 7), PreviousWeek: WeekOf(from.AddDate(0, 0, -7)),
		Currency: currency(in.spend, in.prevSpend), CostColumn: in.costColumn, GeneratedAt: in.generatedAt,
		ImpactMethod: ImpactMethod,
	}
	tr, active := trafficOf(in.red, from)
	rows := r.serviceTable(in, tr)
	r.totals(in)
	r.dailySeries(in, tr)
	if err := r.rankHotspots(in, rows, active, th); err != nil {
		return nil, err
	}
	if r.Services == nil {
		r.Services = []ServiceRow{}
	}
	if r.Hotspots == nil {
		r.Hotspots = []Hotspot{}
	}
	if r.Daily == nil {
		r.Daily = []Series{}
	}
	return r, nil
}

// currency is the bill's currency over both weeks: "" when unknown, "mixed" for several.
func currency(cur, prev costmap.Result) string {
	switch currencies := dedup(append(append([]string{}, cur.Currencies...), prev.Currencies...)); len(currencies) {
	case 0:
		return ""
	case 1:
		return currencies[0]
	}
	return "mixed"
}

// traffic is one service's requests (SERVER and CONSUMER spans) over both weeks.
type traffic struct {
	requests, prevRequests, errors uint64
	latency                        model.Distribution
	daily, dailyErrors             [7]uint64
}

// trafficOf splits the RED rows of both weeks (per service, span kind and day) into each
// service's traffic (the request kinds only) and the week's spans of any kind per service:
// a service that only makes calls or runs jobs is active although it serves no requests.
func trafficOf(red []rollup.Row, from time.Time) (map[string]*traffic, map[string]uint64) {
	tr := map[string]*traffic{}
	active := map[string]uint64{}
	for _, row := range red {
		s := row.Series.ServiceName
		thisWeek := !row.Bucket.Before(from)
		if thisWeek {
			active[s] += row.Requests
		}
		if !model.IsRequest(row.Series.SpanKind) {
			continue
		}
		t := tr[s]
		if t == nil {
			t = &traffic{}
			tr[s] = t
		}
		if !thisWeek {
			t.prevRequests += row.Requests
			continue
		}
		t.requests += row.Requests
		t.errors += row.Errors
		t.latency.Merge(row.Latency)
		if d := int(row.Bucket.Sub(from) / (24 * time.Hour)); d >= 0 && d < 7 {
			t.daily[d] += row.Requests
			t.dailyErrors[d] += row.Errors
		}
	}
	return tr, active
}

// serviceTable fills r.Services from the spend and the traffic of both weeks, and returns
// the rows by service.
func (r *Report) serviceTable(in *inputs, tr map[string]*traffic) map[string]*ServiceRow {
	rows := map[string]*ServiceRow{}
	row := func(s string) *ServiceRow {
		if rows[s] == nil {
			rows[s] = &ServiceRow{Service: s}
		}
		return rows[s]
	}
	for _, s := range in.spend.Services {
		row(s.Service).Spend = s.Total.Float64()
	}
	for _, s := range in.prevSpend.Services {
		row(s.Service).PreviousSpend = s.Total.Float64()
	}
	for s, t := range tr {
		sr := row(s)
		sr.Requests, sr.PreviousRequests, sr.Errors = t.requests, t.prevRequests, t.errors
		if t.latency.Count() > 0 {
			if p95 := t.latency.Quantile(0.95); !math.IsNaN(p95) {
				sr.P95Ms = p95 / 1e6
			}
		}
	}
	for _, sr := range rows {
		if sr.Requests > 0 {
			sr.ErrorRate = float64(sr.Errors) / float64(sr.Requests)
		}
		sr.CostPer1kRequests = per(sr.Spend, sr.Requests, 1e3)
		sr.PrevCostPer1kRequests = per(sr.PreviousSpend, sr.PreviousRequests, 1e3)
		sr.CostPer1kChange = change(sr.CostPer1kRequests, sr.PrevCostPer1kRequests)
		sr.SpendChange = change(sr.Spend, sr.PreviousSpend)
		sr.RequestsChange = change(float64(sr.Requests), float64(sr.PreviousRequests))
		r.Services = append(r.Services, *sr)
	}
	sort.Slice(r.Services, func(i, j int) bool {
		a, b := r.Services[i], r.Services[j]
		if a.Spend != b.Spend {
			return a.Spend > b.Spend
		}
		if a.Requests != b.Requests {
			return a.Requests > b.Requests
		}
		return a.Service < b.Service
	})
	return rows
}

// totals fills r.Totals but HotspotImpactPerWeek, after serviceTable.
func (r *Report) totals(in *inputs) {
	t := &r.Totals
	for _, sr := range r.Services {
		t.Requests += sr.Requests
		t.PreviousRequests += sr.PreviousRequests
	}
	t.Spend, t.PreviousSpend = in.spend.Total.Float64(), in.prevSpend.Total.Float64()
	t.Unmapped, t.Idle = in.spend.Unmapped.Float64(), in.spend.Idle.Float64()
	t.SpendChange = change(t.Spend, t.PreviousSpend)
	t.RequestsChange = change(float64(t.Requests), float64(t.PreviousRequests))
	t.SpendPerMillionRequests = per(t.Spend, t.Requests, 1e6)
	t.PrevSpendPerMillionRequests = per(t.PreviousSpend, t.PreviousRequests, 1e6)
	t.SpendPerMillionChange = change(t.SpendPerMillionRequests, t.PrevSpendPerMillionRequests)
}

// dailySeries fills r.Daily (in the order of r.Services) and the days' unattributed spend.
func (r *Report) dailySeries(in *inputs, tr map[string]*traffic) {
	var dailySpend [7]map[string]float64
	for d, res := range in.daily {
		dailySpend[d] = map[string]float64{}
		for _, s := range res.Services {
			dailySpend[d][s.Service] = s.Total.Float64()
		}
		r.unattributed[d] = [2]float64{res.Unmapped.Float64(), res.Idle.Float64()}
	}
	for _, sr := range r.Services {
		s := Series{Service: sr.Service}
		for d := range 7 {
			day := Day{Date: r.From.AddDate(0, 0, d).Format(time.DateOnly), Spend: dailySpend[d][sr.Service]}
			if t := tr[sr.Service]; t != nil {
				day.Requests, day.Errors = t.daily[d], t.dailyErrors[d]
			}
			s.Days = append(s.Days, day)
		}
		r.Daily = append(r.Daily, s)
	}
}

// rankHotspots joins the trace-pattern findings and the spend rules' (one cause reported
// once), prices them, and fills r.Hotspots and Totals.HotspotImpactPerWeek.
func (r *Report) rankHotspots(in *inputs, rows map[string]*ServiceRow, active map[string]uint64, th hotspot.SpendThresholds) error {
	spendFindings, err := hotspot.DetectSpend(spendInput(r, in, active), th)
	if err != nil {
		return err
	}
	findings := append(append([]hotspot.Finding{}, in.findings...), spendFindings...)
	pr := newPricer(rows, in.spend, in.edges)
	hotspot.FoldErrorBurn(findings, pr.failedCalls())
	for _, f := range findings {
		h := Hotspot{
			Rule: f.Rule, Service: f.Service, Operation: f.Operation, Severity: f.Severity,
			AvoidableCallsPerWeek: f.AvoidableCallsPerWeek, Evidence: f.Evidence,
			ExampleTraceIDs: f.ExampleTraceIDs, Recommendation: f.Recommendation,
		}
		if !tracePattern(f.Rule) {
			h.ImpactPerWeek = f.ImpactPerWeek
		} else {
			var callees []string
			h.CostPerCall, callees = pr.price(f)
			h.Evidence.PricedAt = joinCallees(callees)
			h.Evidence.PricedAtCount = len(callees)
			h.ImpactPerWeek = h.AvoidableCallsPerWeek * h.CostPerCall
		}
		if h.ExampleTraceIDs == nil {
			h.ExampleTraceIDs = []string{}
		}
		r.Hotspots = append(r.Hotspots, h)
		if h.Evidence.SeeAlso == "" {
			r.Totals.HotspotImpactPerWeek += h.ImpactPerWeek
		}
	}
	sort.SliceStable(r.Hotspots, func(i, j int) bool {
		a, b := r.Hotspots[i], r.Hotspots[j]
		// Findings folded into another (SeeAlso) rank after the ones that stand.
		if (a.Evidence.SeeAlso == "") != (b.Evidence.SeeAlso == "") {
			return a.Evidence.SeeAlso == ""
		}
		if a.ImpactPerWeek != b.ImpactPerWeek {
			return a.ImpactPerWeek > b.ImpactPerWeek
		}
		return a.AvoidableCallsPerWeek > b.AvoidableCallsPerWeek
	})
	for i := range r.Hotspots {
		r.Hotspots[i].Rank = i + 1
	}
	return nil
}

// tracePattern reports whether rule's findings name avoidable calls the report prices.
func tracePattern(rule hotspot.Rule) bool {
	switch rule {
	case hotspot.RuleNPlusOneQuery, hotspot.RuleNPlusOneCalls, hotspot.RuleFanOut, hotspot.RuleChattyEdge, hotspot.RuleRetryStorm:
		return true
	}
	return false
}

// per is amount / n × scale, 0 when n is 0.
func per(amount float64, n uint64, scale float64) float64 {
	if n == 0 {
		return 0
	}
	return amount / float64(n) * scale
}

// change is (cur − prev) / prev, nil when prev is 0.
func change(cur, prev float64) *float64 {
	if prev == 0 {
		return nil
	}
	c := (cur - prev) / prev
	return &c
}

func dedup(s []string) []string {
	sort.Strings(s)
	var out []string
	for i, v := range s {
		if v != "" && (i == 0 || v != s[i-1]) {
			out = append(out, v)
		}
	}
	return out
}
