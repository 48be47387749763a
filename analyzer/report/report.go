// Package report builds the weekly report: what the infrastructure cost in an ISO week, what
// each service cost per request, how that moved against the week before, and the hotspots
// worth fixing ranked by their estimated weekly cost impact.
//
// Build gathers what it needs from ClickHouse through the analyzer and rollup packages, then
// computes the report from that alone (gather.go, compute.go):
//
//   - spend per service: costmap.Allocate over the week and over the week before (the totals
//     include unmapped and idle cost), and over each day of the week for the chart;
//   - requests, errors and latency per service and day: rollup.Querier over the RED tiers
//     (SERVER and CONSUMER spans, counted before sampling; one read of every kind, which
//     also tells which services were active at all);
//   - the service graph's calls (for prices), telemetry volume and metric series counts;
//   - hotspots: hotspot.Detect over the week, and the spend rules (hotspot.DetectSpend) over
//     the computed table.
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
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weirhq/weir/analyzer/costmap"
	"github.com/weirhq/weir/analyzer/hotspot"
)

// Report is the weekly report. Its JSON field names are stable.
type Report struct {
	Week         string    `json:"week"`          // "2026-W47"
	From         time.Time `json:"from"`          // Monday 00:00 UTC
	To           time.Time `json:"to"`            // the next Monday
	PreviousWeek string    `json:"previous_week"` // "2026-W46"
	Currency     string    `json:"currency"`      // the bill's currency; "" when unknown, "mixed" for several
	// CostColumn is the bill's column spend is summed from: EffectiveCost (what was paid after
	// discounts, credits and commitments) unless the cost map says otherwise. `weir spend
	// import` prints BilledCost (the invoice) beside it; the two differ with savings plans.
	CostColumn  string    `json:"cost_column"`
	GeneratedAt time.Time `json:"generated_at"`

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

// Build builds the report of ISO week (e.g. "2026-W47") and the week before it: it gathers
// what the report reads from ClickHouse, then computes the report from that alone.
func Build(ctx context.Context, conn driver.Conn, database, week string, opts Options) (*Report, error) {
	from, err := ParseWeek(week)
	if err != nil {
		return nil, err
	}
	if err := opts.Spend.Validate(); err != nil {
		return nil, err
	}
	in, err := gather(ctx, conn, database, from, opts)
	if err != nil {
		return nil, err
	}
	return compute(in, opts.Spend)
}
