// Package report builds the weekly report: what the infrastructure cost in an ISO week, what
// each service cost per request, how that moved against the week before, and the hotspots
// worth fixing ranked by their estimated weekly cost impact.
//
// Build reads everything through the analyzer and rollup packages:
//
//   - spend per service: costmap.Allocate over the week and over the week before (the totals
//     include unmapped and idle cost), and over each day of the week for the chart;
//   - requests, errors and latency per service and day: rollup.Querier over the RED tiers
//     (SERVER and CONSUMER spans, counted before sampling);
//   - hotspots: hotspot.Detect over the week.
//
// # Numbers
//
//   - CostPer1kRequests = spend / requests × 1,000 (0 without requests);
//   - SpendPerMillionRequests = total spend (unmapped and idle included) / all requests × 1e6;
//   - week-over-week changes are relative: (this − last) / last, so 0.25 is +25 %; they are
//     null (nil) when last week's value is 0;
//   - P95Ms is the 95th percentile of the service's request latency over the week, from the
//     merged latency distributions (model.Distribution.Quantile), in milliseconds.
//
// # Estimated weekly cost impact of a hotspot
//
// A trace-pattern finding (N+1, fan-out, chatty edge, retry storm) names calls a fix would
// avoid: AvoidableCallsPerWeek (weighted by sampling, scaled to a week). An avoided call
// saves what its callee spends on it, so the report prices it at the callees' cost per call
// (see price.go): a service's spend / its requests, a shared database's pool / the calls
// that split it, weighted by the caller's calls to each (database edges for an N+1 query,
// failing edges for a retry storm, the other edges otherwise):
//
//	ImpactPerWeek = AvoidableCallsPerWeek × CostPerCall
//
// This is a first-order estimate: it assumes a callee's spend scales with the calls it
// serves. A spend-rule finding carries its own impact (analyzer/hotspot, spend.go): the spend
// above what the rule's reference allows. Findings folded into another one (Evidence.SeeAlso)
// are listed but not added to Totals.HotspotImpactPerWeek. Hotspots are ranked by
// ImpactPerWeek (folded findings last), then by AvoidableCallsPerWeek.
package report

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weirhq/weir/analyzer/costmap"
	"github.com/weirhq/weir/analyzer/hotspot"
	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/rollup"
)

// Report is the weekly report. Its JSON field names are stable.
type Report struct {
	Week         string    `json:"week"`          // "2026-W47"
	From         time.Time `json:"from"`          // Monday 00:00 UTC
	To           time.Time `json:"to"`            // the next Monday
	PreviousWeek string    `json:"previous_week"` // "2026-W46"
	Currency     string    `json:"currency"`      // the bill's currency; "" when unknown, "mixed" for several
	GeneratedAt  time.Time `json:"generated_at"`

	Totals   Totals       `json:"totals"`
	Services []ServiceRow `json:"services"` // by spend descending, then name
	Hotspots []Hotspot    `json:"hotspots"` // by impact descending
	Daily    []Series     `json:"daily"`    // per service, same order as Services

	// ImpactMethod documents how ImpactPerWeek is estimated.
	ImpactMethod string `json:"impact_method"`

	unattributed [7][2]float64 // per day: unmapped, idle
}

// Totals are the week's totals and their week-over-week change.
type Totals struct {
	Spend                       float64  `json:"spend"`
	PreviousSpend               float64  `json:"previous_spend"`
	SpendChange                 *float64 `json:"spend_change"`
	Requests                    uint64   `json:"requests"`
	PreviousRequests            uint64   `json:"previous_requests"`
	RequestsChange              *float64 `json:"requests_change"`
	SpendPerMillionRequests     float64  `json:"spend_per_million_requests"`
	PrevSpendPerMillionRequests float64  `json:"previous_spend_per_million_requests"`
	SpendPerMillionChange       *float64 `json:"spend_per_million_requests_change"`
	Unmapped                    float64  `json:"unmapped"`
	Idle                        float64  `json:"idle"`
	HotspotImpactPerWeek        float64  `json:"hotspot_impact_per_week"`
}

// ServiceRow is one line of the per-service table.
type ServiceRow struct {
	Service               string   `json:"service"`
	Spend                 float64  `json:"spend"`
	PreviousSpend         float64  `json:"previous_spend"`
	Requests              uint64   `json:"requests"`
	PreviousRequests      uint64   `json:"previous_requests"`
	Errors                uint64   `json:"errors"`
	ErrorRate             float64  `json:"error_rate"` // errors / requests
	P95Ms                 float64  `json:"p95_ms"`     // 0 when unknown
	CostPer1kRequests     float64  `json:"cost_per_1k_requests"`
	PrevCostPer1kRequests float64  `json:"previous_cost_per_1k_requests"`
	CostPer1kChange       *float64 `json:"cost_per_1k_requests_change"`
	SpendChange           *float64 `json:"spend_change"`
	RequestsChange        *float64 `json:"requests_change"`
}

// Hotspot is a hotspot.Finding with a price.
type Hotspot struct {
	Rank                  int              `json:"rank"`
	Rule                  hotspot.Rule     `json:"rule"`
	Service               string           `json:"service"`
	Operation             string           `json:"operation"`
	Severity              hotspot.Severity `json:"severity"`
	ImpactPerWeek         float64          `json:"impact_per_week"`
	CostPerCall           float64          `json:"cost_per_call"`
	AvoidableCallsPerWeek float64          `json:"avoidable_calls_per_week"`
	Evidence              hotspot.Evidence `json:"evidence"`
	ExampleTraceIDs       []string         `json:"example_trace_ids"`
	Recommendation        string           `json:"recommendation"`
}

// Series is one service's daily spend and requests across the week (7 points, Monday first).
type Series struct {
	Service string `json:"service"`
	Days    []Day  `json:"days"`
}

// Day is one day of a Series.
type Day struct {
	Date     string  `json:"date"` // 2026-11-16
	Spend    float64 `json:"spend"`
	Requests uint64  `json:"requests"`
	Errors   uint64  `json:"errors"`
}

// ImpactMethod is the documented estimate (see the package doc).
const ImpactMethod = "trace patterns: impact_per_week = avoidable_calls_per_week × cost_per_call, " +
	"cost_per_call = what the callees spend per call this week (a service's spend / its requests, " +
	"a shared database's pool / its calls), weighted by the caller's calls to them; " +
	"spend rules: the spend above what the rule's reference allows (see each rule)"

// ParseWeek parses an ISO week "2026-W47" and returns its Monday 00:00 UTC.
func ParseWeek(s string) (time.Time, error) {
	y, w, ok := strings.Cut(strings.TrimSpace(s), "-W")
	if !ok {
		return time.Time{}, fmt.Errorf("week %q: want an ISO week like 2026-W47", s)
	}
	year, err1 := strconv.Atoi(y)
	week, err2 := strconv.Atoi(w)
	if err1 != nil || err2 != nil || len(y) != 4 || len(w) != 2 || week < 1 || week > 53 {
		return time.Time{}, fmt.Errorf("week %q: want an ISO week like 2026-W47", s)
	}
	// Week 1 is the week with January 4th in it.
	jan4 := time.Date(year, 1, 4, 0, 0, 0, 0, time.UTC)
	wd := (int(jan4.Weekday()) + 6) % 7 // Monday 0
	monday := jan4.AddDate(0, 0, -wd+7*(week-1))
	if yy, ww := monday.ISOWeek(); yy != year || ww != week {
		return time.Time{}, fmt.Errorf("week %q: %d has no week %d", s, year, week)
	}
	return monday, nil
}

// WeekOf formats the ISO week holding t (in UTC), e.g. "2026-W47".
func WeekOf(t time.Time) string {
	y, w := t.UTC().ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}

// LastCompleteWeek is the ISO week before the one holding now.
func LastCompleteWeek(now time.Time) string { return WeekOf(now.UTC().AddDate(0, 0, -7)) }

// Options configure Build.
type Options struct {
	// Costmap maps spend to services.
	Costmap costmap.Config
	// Patterns are the trace-pattern rules' thresholds (hotspot.DefaultThresholds).
	Patterns hotspot.Thresholds
	// Spend are the spend rules' thresholds (hotspot.DefaultSpendThresholds).
	Spend hotspot.SpendThresholds
}

// DefaultOptions maps spend by the default tag keys and uses the default thresholds.
func DefaultOptions() Options {
	return Options{
		Costmap:  costmap.Config{Rules: []costmap.Rule{{Name: "tags", Tag: &costmap.TagRule{}}}},
		Patterns: hotspot.DefaultThresholds(),
		Spend:    hotspot.DefaultSpendThresholds(),
	}
}

// Build gathers the report of ISO week (e.g. "2026-W47") and the week before it.
func Build(ctx context.Context, conn driver.Conn, database, week string, opts Options) (*Report, error) {
	from, err := ParseWeek(week)
	if err != nil {
		return nil, err
	}
	if err := opts.Spend.Validate(); err != nil {
		return nil, err
	}
	cfg, th := opts.Costmap, opts.Patterns
	to := from.AddDate(0, 0, 7)
	prevFrom := from.AddDate(0, 0, -7)
	r := &Report{
		Week: WeekOf(from), From: from, To: to, PreviousWeek: WeekOf(prevFrom),
		GeneratedAt: time.Now().UTC().Truncate(time.Second), ImpactMethod: ImpactMethod,
	}

	cur, err := costmap.Allocate(ctx, conn, database, cfg, from, to)
	if err != nil {
		return nil, fmt.Errorf("report: spend of %s: %w", r.Week, err)
	}
	prev, err := costmap.Allocate(ctx, conn, database, cfg, prevFrom, from)
	if err != nil {
		return nil, fmt.Errorf("report: spend of %s: %w", r.PreviousWeek, err)
	}
	switch currencies := dedup(append(append([]string{}, cur.Currencies...), prev.Currencies...)); len(currencies) {
	case 0:
	case 1:
		r.Currency = currencies[0]
	default:
		r.Currency = "mixed"
	}

	// Requests, errors and latency per service and day over both weeks.
	q := &rollup.Querier{Conn: conn, Database: database}
	red, err := q.Query(ctx, rollup.Query{
		Signal: rollup.SignalRED, From: prevFrom, To: to, Step: 24 * time.Hour,
		SpanKinds: model.RequestKinds, GroupBy: []string{rollup.GroupService},
	})
	if err != nil {
		return nil, fmt.Errorf("report: requests: %w", err)
	}
	type traffic struct {
		requests, prevRequests, errors uint64
		latency                        model.Distribution
		daily, dailyErrors             [7]uint64
	}
	tr := map[string]*traffic{}
	get := func(s string) *traffic {
		if tr[s] == nil {
			tr[s] = &traffic{}
		}
		return tr[s]
	}
	for _, row := range red.Rows {
		t := get(row.Series.ServiceName)
		if row.Bucket.Before(from) {
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

	// Per-service table.
	rows := map[string]*ServiceRow{}
	row := func(s string) *ServiceRow {
		if rows[s] == nil {
			rows[s] = &ServiceRow{Service: s}
		}
		return rows[s]
	}
	for _, s := range cur.Services {
		row(s.Service).Spend = s.Total.Float64()
	}
	for _, s := range prev.Services {
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
		r.Totals.Requests += sr.Requests
		r.Totals.PreviousRequests += sr.PreviousRequests
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

	t := &r.Totals
	t.Spend, t.PreviousSpend = cur.Total.Float64(), prev.Total.Float64()
	t.Unmapped, t.Idle = cur.Unmapped.Float64(), cur.Idle.Float64()
	t.SpendChange = change(t.Spend, t.PreviousSpend)
	t.RequestsChange = change(float64(t.Requests), float64(t.PreviousRequests))
	t.SpendPerMillionRequests = per(t.Spend, t.Requests, 1e6)
	t.PrevSpendPerMillionRequests = per(t.PreviousSpend, t.PreviousRequests, 1e6)
	t.SpendPerMillionChange = change(t.SpendPerMillionRequests, t.PrevSpendPerMillionRequests)

	// Daily spend per service for the chart.
	var dailySpend [7]map[string]float64
	for d := range 7 {
		day := from.AddDate(0, 0, d)
		res, err := costmap.Allocate(ctx, conn, database, cfg, day, day.AddDate(0, 0, 1))
		if err != nil {
			return nil, fmt.Errorf("report: spend of %s: %w", day.Format(time.DateOnly), err)
		}
		dailySpend[d] = map[string]float64{}
		for _, s := range res.Services {
			dailySpend[d][s.Service] = s.Total.Float64()
		}
		r.unattributed[d] = [2]float64{res.Unmapped.Float64(), res.Idle.Float64()}
	}
	for _, sr := range r.Services {
		s := Series{Service: sr.Service}
		for d := range 7 {
			day := Day{Date: from.AddDate(0, 0, d).Format(time.DateOnly), Spend: dailySpend[d][sr.Service]}
			if t := tr[sr.Service]; t != nil {
				day.Requests, day.Errors = t.daily[d], t.dailyErrors[d]
			}
			s.Days = append(s.Days, day)
		}
		r.Daily = append(r.Daily, s)
	}

	// Hotspots: the trace patterns and the spend rules, one cause reported once, priced.
	findings, err := hotspot.Detect(ctx, conn, database, from, to, th)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	spendFindings, err := spendHotspots(ctx, conn, database, from, to, r, cur, opts.Spend)
	if err != nil {
		return nil, err
	}
	findings = append(findings, spendFindings...)
	// One read of the week's service graph serves both the error-burn folding and the prices.
	pr, err := newPricer(ctx, conn, database, from, to, rows, cur)
	if err != nil {
		return nil, err
	}
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
			h.ImpactPerWeek = h.AvoidableCallsPerWeek * h.CostPerCall
		}
		if h.ExampleTraceIDs == nil {
			h.ExampleTraceIDs = []string{}
		}
		r.Hotspots = append(r.Hotspots, h)
		if h.Evidence.SeeAlso == "" {
			t.HotspotImpactPerWeek += h.ImpactPerWeek
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
