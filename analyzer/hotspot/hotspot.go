// Package hotspot finds the hotspots of a week: the trace-pattern rules (Detect) over the
// sampled spans in ClickHouse, N+1 calls, excessive fan-out, chatty edges and retry storms;
// and the spend rules (DetectSpend, spend.go) over per-service spend and traffic: cost per
// request out of line or rising, unexplained spend growth, error burn, idle spend,
// over-provisioning, telemetry overspend and exploding metric series, each documented with
// its thresholds on SpendThresholds. One cause is reported once: findings of the same calls,
// of the same service's spend level, or an error burn behind a retry storm (FoldErrorBurn)
// are folded into the largest (info, Evidence.SeeAlso).
//
// Trace-pattern counts are weighted by the
// spans' SampleWeight (a stored span of weight w stands for w spans) and scaled to a week:
// a window of [from, to) is multiplied by (7 days) / (to − from).
//
// All SQL goes through package rollup (rollup.CallGroups, rollup.ChildCounts,
// rollup.TracesWithOperation, rollup.ResentCallsByOperation and the RED tiers through
// rollup.Querier); this package only decides.
//
// # Rules and their thresholds (Thresholds, DefaultThresholds)
//
//   - RuleNPlusOneQuery: under one parent span, NPlusOneMinStatements (5) or more sequential
//     child spans of one service with the same DB statement (db.statement or db.query.text,
//     normalized: quoted literals and numbers become ?, see rollup.NormalizeStatementSQL).
//     "Sequential" counts the largest set of those calls no two of which overlap in time
//     (one starts at or after the other ends); 8 calls run in parallel are 1, not 8.
//   - RuleNPlusOneCalls: under one parent span, NPlusOneMinRouteCalls (10) or more CLIENT
//     child spans (without a DB statement) with the same call key: http.route, else
//     url.template, else the span name. Parallel calls count too unless
//     NPlusOneRouteSequential is set.
//     Both N+1 rules report per (service, parent operation, statement or route): the
//     affected traces' share of the traces with that parent operation, the avoidable calls
//     per affected trace (calls − 1 per parent span, summed over a trace) and per week.
//   - RuleFanOut: a span with more than FanOutMaxChildren (20) direct children (of any
//     service and kind). Per parent operation; the avoidable calls are the children beyond
//     FanOutMaxChildren.
//   - RuleChattyEdge: a SERVER span with ChattyMinClientCalls (15) or more direct CLIENT
//     children in its own service. Only direct children count: client calls made under an
//     internal span of the handler are not added up (a known limit). Per server operation;
//     the avoidable calls are the calls beyond ChattyMinClientCalls − 1.
//   - RuleRetryStorm: per (service, call key): calls repeated after a failure, i.e. under one
//     parent, RetryMinAttempts (3) or more calls to the same client operation (or statement)
//     of which every one after a failed one counts as a retry, when there are at least
//     RetryMinAttempts − 1 of them; plus every span whose http.request.resend_count is at
//     least RetryMinResendCount (1). Evidence carries the caller's failed share of requests
//     (SERVER and CONSUMER spans of red_*); the report prices the retried calls at the
//     failing callee's cost per call and FoldErrorBurn adds that callee's error burn.
//
// Severity: a finding is critical when its AvoidableCallsPerWeek reaches the rule's
// Severity.CriticalPerWeek, warning when it reaches WarningPerWeek, else info; an N+1,
// fan-out or chatty finding whose share of traces is below Severity.MinShare stays info.
package hotspot

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/rollup"
)

// Rule names a hotspot rule.
type Rule string

const (
	RuleNPlusOneQuery Rule = "n_plus_one_query"
	RuleNPlusOneCalls Rule = "n_plus_one_calls"
	RuleFanOut        Rule = "excessive_fan_out"
	RuleChattyEdge    Rule = "chatty_edge"
	RuleRetryStorm    Rule = "retry_storm"
)

// Severity ranks a finding.
type Severity string

const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Rank orders severities: info 0, warning 1, critical 2.
func (s Severity) Rank() int {
	switch s {
	case SeverityWarning:
		return 1
	case SeverityCritical:
		return 2
	}
	return 0
}

// SeverityThresholds turn a finding's weekly avoidable calls (and share of traces) into a
// severity.
type SeverityThresholds struct {
	WarningPerWeek  float64 `yaml:"warning_per_week"`  // warning from this many avoidable calls per week
	CriticalPerWeek float64 `yaml:"critical_per_week"` // critical from this many
	// MinShare: below this share of the parent operation's traces a finding stays info
	// (rules without a share ignore it).
	MinShare float64 `yaml:"min_share"`
}

func (t SeverityThresholds) of(perWeek, share float64, hasShare bool) Severity {
	if hasShare && share < t.MinShare {
		return SeverityInfo
	}
	switch {
	case perWeek >= t.CriticalPerWeek:
		return SeverityCritical
	case perWeek >= t.WarningPerWeek:
		return SeverityWarning
	}
	return SeverityInfo
}

// Thresholds configure the rules; DefaultThresholds documents the defaults. A zero field is
// not replaced by its default: start from DefaultThresholds.
type Thresholds struct {
	NPlusOneMinStatements   int  `yaml:"n_plus_one_min_statements"`   // sequential same-statement calls under one parent (5)
	NPlusOneMinRouteCalls   int  `yaml:"n_plus_one_min_route_calls"`  // client calls to the same route under one parent (10)
	NPlusOneRouteSequential bool `yaml:"n_plus_one_route_sequential"` // count only sequential route calls (false)
	FanOutMaxChildren       int  `yaml:"fan_out_max_children"`        // a span with more direct children is a fan-out (20)
	ChattyMinClientCalls    int  `yaml:"chatty_min_client_calls"`     // direct client calls per server span (15)
	RetryMinAttempts        int  `yaml:"retry_min_attempts"`          // calls to one operation under one parent, failures between (3)
	RetryMinResendCount     int  `yaml:"retry_min_resend_count"`      // http.request.resend_count that marks a retried span (1)
	MaxExamples             int  `yaml:"max_examples"`                // example trace IDs per finding (5)

	NPlusOneSeverity SeverityThresholds `yaml:"n_plus_one_severity"`
	FanOutSeverity   SeverityThresholds `yaml:"fan_out_severity"`
	ChattySeverity   SeverityThresholds `yaml:"chatty_severity"`
	RetrySeverity    SeverityThresholds `yaml:"retry_severity"`
}

// DefaultThresholds are the thresholds of the issue: 5 statements, 10 route calls, more than
// 20 children, 15 client calls, 3 attempts, resend count 1; warning from 1,000 avoidable
// calls a week (and 1 % of the traces), critical from 100,000.
func DefaultThresholds() Thresholds {
	sev := SeverityThresholds{WarningPerWeek: 1000, CriticalPerWeek: 100000, MinShare: 0.01}
	return Thresholds{
		NPlusOneMinStatements: 5,
		NPlusOneMinRouteCalls: 10,
		FanOutMaxChildren:     20,
		ChattyMinClientCalls:  15,
		RetryMinAttempts:      3,
		RetryMinResendCount:   1,
		MaxExamples:           5,
		NPlusOneSeverity:      sev,
		FanOutSeverity:        sev,
		ChattySeverity:        sev,
		RetrySeverity:         sev,
	}
}

// Validate reports thresholds the rules cannot use.
func (t Thresholds) Validate() error {
	switch {
	case t.NPlusOneMinStatements < 2:
		return fmt.Errorf("hotspot: NPlusOneMinStatements %d: want at least 2", t.NPlusOneMinStatements)
	case t.NPlusOneMinRouteCalls < 2:
		return fmt.Errorf("hotspot: NPlusOneMinRouteCalls %d: want at least 2", t.NPlusOneMinRouteCalls)
	case t.FanOutMaxChildren < 1:
		return fmt.Errorf("hotspot: FanOutMaxChildren %d: want at least 1", t.FanOutMaxChildren)
	case t.ChattyMinClientCalls < 2:
		return fmt.Errorf("hotspot: ChattyMinClientCalls %d: want at least 2", t.ChattyMinClientCalls)
	case t.RetryMinAttempts < 2:
		return fmt.Errorf("hotspot: RetryMinAttempts %d: want at least 2", t.RetryMinAttempts)
	case t.RetryMinResendCount < 1:
		return fmt.Errorf("hotspot: RetryMinResendCount %d: want at least 1", t.RetryMinResendCount)
	}
	for _, s := range []SeverityThresholds{t.NPlusOneSeverity, t.FanOutSeverity, t.ChattySeverity, t.RetrySeverity} {
		if anyNaN(s.WarningPerWeek, s.CriticalPerWeek, s.MinShare) {
			return errors.New("hotspot: a severity threshold is NaN")
		}
	}
	return nil
}

// anyNaN reports whether a threshold is NaN, which compares false with everything and so
// would turn its rule off without a word.
func anyNaN(fs ...float64) bool {
	for _, f := range fs {
		if math.IsNaN(f) {
			return true
		}
	}
	return false
}

// Evidence holds the numbers behind a finding. Weighted counts are per week; fields a rule
// does not use are zero.
type Evidence struct {
	// ParentOperation is the operation the calls hang under (N+1, fan-out, chatty); "" when
	// the parent span is not stored.
	ParentOperation string `json:"parent_operation,omitempty"`
	// Key is the normalized DB statement or the call key (route) repeated (N+1, retries).
	Key string `json:"key,omitempty"`
	// Peer is what the repeated calls call, as the service graph names it (N+1): the
	// database of a statement (db.system), or peer.service / server.address.
	Peer string `json:"peer,omitempty"`

	// TracesPerWeek: weighted traces with the parent operation; AffectedTracesPerWeek: those
	// showing the pattern; ShareOfTraces = Affected / Traces (0 when unknown).
	TracesPerWeek         float64 `json:"traces_per_week,omitempty"`
	AffectedTracesPerWeek float64 `json:"affected_traces_per_week,omitempty"`
	ShareOfTraces         float64 `json:"share_of_traces,omitempty"`
	// AffectedSpansPerWeek: weighted parent spans showing the pattern.
	AffectedSpansPerWeek float64 `json:"affected_spans_per_week,omitempty"`

	// CallsPerAffectedSpan is the mean calls (N+1) or children (fan-out, chatty) per
	// affected parent span; MaxCalls the largest seen.
	CallsPerAffectedSpan float64 `json:"calls_per_affected_span,omitempty"`
	MaxCalls             uint64  `json:"max_calls,omitempty"`
	// AvoidableCallsPerTrace is the mean avoidable calls per affected trace.
	AvoidableCallsPerTrace float64 `json:"avoidable_calls_per_trace,omitempty"`

	// Retries: calls repeated after a failure under one parent, and spans with
	// http.request.resend_count, per week; RetriedCallsPerWeek is their sum.
	RepeatedFailureCallsPerWeek float64 `json:"repeated_failure_calls_per_week,omitempty"`
	ResentCallsPerWeek          float64 `json:"resent_calls_per_week,omitempty"`
	RetriedCallsPerWeek         float64 `json:"retried_calls_per_week,omitempty"`
	// Error burn of the service (RED tiers, SERVER and CONSUMER spans): requests and failed
	// requests per week and the failed share. Spend consumed by failed requests is the
	// service's spend times FailedRequestShare.
	ServiceRequestsPerWeek float64 `json:"service_requests_per_week,omitempty"`
	FailedRequestsPerWeek  float64 `json:"failed_requests_per_week,omitempty"`
	FailedRequestShare     float64 `json:"failed_request_share,omitempty"`

	// StoredSpans counts the stored (unweighted) parent spans or retried spans behind it.
	StoredSpans uint64 `json:"stored_spans,omitempty"`

	// Spend rules: the service's week and the week before (PreviousRequestsPerWeek with
	// ServiceRequestsPerWeek above), cost per 1k requests, relative changes, and the fleet
	// median cost per 1k requests.
	Spend                   float64 `json:"spend,omitempty"`
	PreviousSpend           float64 `json:"previous_spend,omitempty"`
	PreviousRequestsPerWeek float64 `json:"previous_requests_per_week,omitempty"`
	CostPer1k               float64 `json:"cost_per_1k_requests,omitempty"`
	PreviousCostPer1k       float64 `json:"previous_cost_per_1k_requests,omitempty"`
	FleetMedianCostPer1k    float64 `json:"fleet_median_cost_per_1k_requests,omitempty"`
	SpendChange             float64 `json:"spend_change,omitempty"`
	RequestsChange          float64 `json:"requests_change,omitempty"`
	// Error burn folded into this finding from a failing callee (retry storms).
	// RetriedCallsFailedShare is the share of the retried calls that failed, weighted.
	RetriedCallsFailedShare float64 `json:"retried_calls_failed_share,omitempty"`
	Callee                  string  `json:"callee,omitempty"`
	CalleeFailedShare       float64 `json:"callee_failed_share,omitempty"`
	CalleeErrorBurn         float64 `json:"callee_error_burn,omitempty"`
	// Telemetry overspend.
	TelemetryGB              float64 `json:"telemetry_gb,omitempty"`
	StoredTelemetryGB        float64 `json:"stored_telemetry_gb,omitempty"`
	TelemetryCost            float64 `json:"telemetry_cost,omitempty"`
	TelemetryShareOfSpend    float64 `json:"telemetry_share_of_spend,omitempty"`
	TelemetryBytesPerRequest float64 `json:"telemetry_bytes_per_request,omitempty"`
	// Over-provisioning (allocation data).
	Cluster       string  `json:"cluster,omitempty"`
	Workload      string  `json:"workload,omitempty"`
	CPUEfficiency float64 `json:"cpu_efficiency,omitempty"`
	RAMEfficiency float64 `json:"ram_efficiency,omitempty"`
	CPUCost       float64 `json:"cpu_cost,omitempty"`
	RAMCost       float64 `json:"ram_cost,omitempty"`
	// Series explosion.
	Series         uint64 `json:"series,omitempty"`
	PreviousSeries uint64 `json:"previous_series,omitempty"`
	// SeeAlso names the finding this one is folded into (same calls seen by another rule,
	// or an error burn a retry storm explains); such a finding stays info.
	SeeAlso string `json:"see_also,omitempty"`
	// PricedAt lists the callees whose cost per call priced the avoidable calls (the report
	// fills it).
	PricedAt string `json:"priced_at,omitempty"`
	// PricedAtCount is how many callees PricedAt names.
	PricedAtCount int `json:"priced_at_count,omitempty"`
}

// Finding is one hotspot.
type Finding struct {
	Rule Rule `json:"rule"`
	// Service is the calling service; Operation the parent operation (N+1, fan-out, chatty)
	// or the retried call key (retries).
	Service               string   `json:"service"`
	Operation             string   `json:"operation"`
	Severity              Severity `json:"severity"`
	Evidence              Evidence `json:"evidence"`
	ExampleTraceIDs       []string `json:"example_trace_ids"`
	AvoidableCallsPerWeek float64  `json:"avoidable_calls_per_week"`
	// ImpactPerWeek is set by the spend rules (in the bill's currency); the trace-pattern
	// rules leave it 0 and the report prices their avoidable calls.
	ImpactPerWeek  float64 `json:"impact_per_week,omitempty"`
	Recommendation string  `json:"recommendation"`
}

// Detect applies the trace-pattern rules to the spans of [from, to) in database and returns
// the findings, by AvoidableCallsPerWeek descending.
func Detect(ctx context.Context, conn driver.Conn, database string, from, to time.Time, th Thresholds) ([]Finding, error) {
	if err := th.Validate(); err != nil {
		return nil, err
	}
	if !from.Before(to) {
		return nil, fmt.Errorf("hotspot: empty window [%s, %s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if th.MaxExamples <= 0 {
		th.MaxExamples = 5
	}
	d := &detector{th: th, scale: float64(7*24*time.Hour) / float64(to.Sub(from))}

	minCalls := min(th.NPlusOneMinStatements, th.NPlusOneMinRouteCalls)
	groups, err := rollup.CallGroups(ctx, conn, database, rollup.CallGroupQuery{
		From: from, To: to, MinCalls: minCalls, MinFailing: th.RetryMinAttempts,
	})
	if err != nil {
		return nil, fmt.Errorf("hotspot: %w", err)
	}
	children, err := rollup.ChildCounts(ctx, conn, database, rollup.ChildCountQuery{
		From: from, To: to, MinChildren: th.FanOutMaxChildren + 1, MinClientChildren: th.ChattyMinClientCalls,
	})
	if err != nil {
		return nil, fmt.Errorf("hotspot: %w", err)
	}
	resent, err := rollup.ResentCallsByOperation(ctx, conn, database, from, to, th.RetryMinResendCount)
	if err != nil {
		return nil, fmt.Errorf("hotspot: %w", err)
	}

	nplus := d.nPlusOne(groups)
	fan, chatty := d.children(children)
	retries := d.retries(groups, resent)

	// Shares need the traces of each parent operation.
	opSet := map[rollup.Operation]bool{}
	for _, a := range append(append(append([]*agg{}, nplus...), fan...), chatty...) {
		if a.parentFound {
			opSet[a.parentOp] = true
		}
	}
	ops := make([]rollup.Operation, 0, len(opSet))
	for op := range opSet {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Service != ops[j].Service {
			return ops[i].Service < ops[j].Service
		}
		return ops[i].Name < ops[j].Name
	})
	traces, err := rollup.TracesWithOperation(ctx, conn, database, from, to, ops)
	if err != nil {
		return nil, fmt.Errorf("hotspot: %w", err)
	}

	var out []Finding
	for _, a := range nplus {
		out = append(out, d.finding(a, traces, th.NPlusOneSeverity))
	}
	for _, a := range fan {
		out = append(out, d.finding(a, traces, th.FanOutSeverity))
	}
	for _, a := range chatty {
		out = append(out, d.finding(a, traces, th.ChattySeverity))
	}
	if len(retries) > 0 {
		burn, err := FailedShares(ctx, conn, database, from, to)
		if err != nil {
			return nil, err
		}
		for _, r := range retries {
			out = append(out, d.retryFinding(r, burn))
		}
	}
	foldSameCalls(out)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].AvoidableCallsPerWeek != out[j].AvoidableCallsPerWeek {
			return out[i].AvoidableCallsPerWeek > out[j].AvoidableCallsPerWeek
		}
		if out[i].Rule != out[j].Rule {
			return out[i].Rule < out[j].Rule
		}
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		if out[i].Operation != out[j].Operation {
			return out[i].Operation < out[j].Operation
		}
		return out[i].Evidence.Key < out[j].Evidence.Key
	})
	return out, nil
}

// ServiceErrors is one service's requests in a window (SERVER and CONSUMER spans of the RED
// tiers, counted before sampling).
type ServiceErrors struct {
	Requests, Errors uint64
}

// FailedShare is Errors / Requests (0 without requests).
func (s ServiceErrors) FailedShare() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Errors) / float64(s.Requests)
}

// FailedShares reads every service's requests and failed requests in [from, to) from the
// RED tiers: the error burn the report multiplies by the service's spend.
func FailedShares(ctx context.Context, conn driver.Conn, database string, from, to time.Time) (map[string]ServiceErrors, error) {
	q := &rollup.Querier{Conn: conn, Database: database}
	res, err := q.Query(ctx, rollup.Query{
		Signal: rollup.SignalRED, From: from, To: to, Step: stepFor(from, to),
		SpanKinds: model.RequestKinds, GroupBy: []string{rollup.GroupService},
	})
	if err != nil {
		return nil, fmt.Errorf("hotspot: failed shares: %w", err)
	}
	out := map[string]ServiceErrors{}
	for _, r := range res.Rows {
		s := out[r.Series.ServiceName]
		s.Requests += r.Requests
		s.Errors += r.Errors
		out[r.Series.ServiceName] = s
	}
	return out, nil
}

// stepFor picks a bucket width that keeps a window to a few buckets while letting the
// coarse tiers serve it: a day for windows of a day or more, else an hour, else a minute.
func stepFor(from, to time.Time) time.Duration {
	switch d := to.Sub(from); {
	case d >= 24*time.Hour:
		return 24 * time.Hour
	case d >= time.Hour:
		return time.Hour
	}
	return time.Minute
}

// foldSameCalls keeps one finding per set of calls: N+1, fan-out and chatty findings of one
// service and parent operation count (some of) the same child calls, so of those the one
// with the most avoidable calls stands and a fan-out or chatty finding beside it (or an N+1
// beside a fan-out or chatty one) is folded into it: kept at info with SeeAlso naming it.
// Two N+1 findings with different statements or routes are different calls and both stand.
func foldSameCalls(fs []Finding) {
	type key struct{ service, op string }
	groups := map[key][]int{}
	for i, f := range fs {
		switch f.Rule {
		case RuleNPlusOneQuery, RuleNPlusOneCalls, RuleFanOut, RuleChattyEdge:
			if f.Operation != "(parent not stored)" {
				k := key{f.Service, f.Operation}
				groups[k] = append(groups[k], i)
			}
		}
	}
	wide := func(r Rule) bool { return r == RuleFanOut || r == RuleChattyEdge }
	for _, idx := range groups {
		if len(idx) < 2 {
			continue
		}
		top := idx[0]
		for _, i := range idx[1:] {
			if fs[i].AvoidableCallsPerWeek > fs[top].AvoidableCallsPerWeek {
				top = i
			}
		}
		for _, i := range idx {
			if i == top || fs[i].Rule == fs[top].Rule || !(wide(fs[i].Rule) || wide(fs[top].Rule)) {
				continue
			}
			fs[i].Severity = SeverityInfo
			fs[i].Evidence.SeeAlso = string(fs[top].Rule) + " " + fs[top].Service + " " + fs[top].Operation
		}
	}
}

// FoldErrorBurn folds the error burn of a failing callee into the retry storms that call
// it: when a retry_storm finding's service C has failed calls to S in the service graph
// (edges: client C, server S, failed > 0) and S has an error_burn finding, the retry
// finding gets S's failed share and burn as evidence (Callee…) and the error_burn finding
// is kept at info with SeeAlso naming the retry storm, so one cause is not reported twice.
// failedCalls maps [client, server] to failed calls (the edges tiers; the report reads them
// once for this and for pricing).
func FoldErrorBurn(fs []Finding, failedCalls map[[2]string]uint64) {
	burn := map[string]int{}
	for i, f := range fs {
		if f.Rule == RuleErrorBurn {
			burn[f.Service] = i
		}
	}
	for i := range fs {
		if fs[i].Rule != RuleRetryStorm {
			continue
		}
		// The callee with the most failed calls from this caller; ties go to the first name,
		// so the result does not depend on map order.
		best, bestCalls, bestName := -1, uint64(0), ""
		for k, n := range failedCalls {
			j, ok := burn[k[1]]
			if !ok || k[0] != fs[i].Service {
				continue
			}
			if n > bestCalls || (n == bestCalls && k[1] < bestName) {
				best, bestCalls, bestName = j, n, k[1]
			}
		}
		if best < 0 {
			continue
		}
		b := &fs[best]
		fs[i].Evidence.Callee = b.Service
		fs[i].Evidence.CalleeFailedShare = b.Evidence.FailedRequestShare
		fs[i].Evidence.CalleeErrorBurn = b.ImpactPerWeek
		fs[i].Recommendation = recommendation(RuleRetryStorm, fs[i].Service, fs[i].Operation, fs[i].Evidence.Key, fs[i].Evidence)
		b.Severity = SeverityInfo
		b.Evidence.SeeAlso = string(RuleRetryStorm) + " " + fs[i].Service + " " + fs[i].Operation
	}
}
