// Package hotspot applies the trace-pattern hotspot rules to the sampled spans in ClickHouse:
// N+1 calls, excessive fan-out, chatty edges and retry storms. Every count is weighted by the
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
//     least RetryMinResendCount (1). Evidence carries the error burn of the service: the
//     share of its requests (SERVER and CONSUMER spans of red_*) that failed, so the report
//     multiplies it by the service's spend (Evidence.FailedRequestShare).
//
// Severity: a finding is critical when its AvoidableCallsPerWeek reaches the rule's
// Severity.CriticalPerWeek, warning when it reaches WarningPerWeek, else info; an N+1,
// fan-out or chatty finding whose share of traces is below Severity.MinShare stays info.
package hotspot

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

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
	WarningPerWeek  float64 // warning from this many avoidable calls per week
	CriticalPerWeek float64 // critical from this many
	// MinShare: below this share of the parent operation's traces a finding stays info
	// (rules without a share ignore it).
	MinShare float64
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
	NPlusOneMinStatements   int  // sequential same-statement calls under one parent (5)
	NPlusOneMinRouteCalls   int  // client calls to the same route under one parent (10)
	NPlusOneRouteSequential bool // count only sequential route calls (false)
	FanOutMaxChildren       int  // a span with more direct children is a fan-out (20)
	ChattyMinClientCalls    int  // direct client calls per server span (15)
	RetryMinAttempts        int  // calls to one operation under one parent, failures between (3)
	RetryMinResendCount     int  // http.request.resend_count that marks a retried span (1)
	MaxExamples             int  // example trace IDs per finding (5)

	NPlusOneSeverity, FanOutSeverity, ChattySeverity, RetrySeverity SeverityThresholds
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
	return nil
}

// Evidence holds the numbers behind a finding. Weighted counts are per week; fields a rule
// does not use are zero.
type Evidence struct {
	// ParentOperation is the operation the calls hang under (N+1, fan-out, chatty); "" when
	// the parent span is not stored.
	ParentOperation string `json:"parent_operation,omitempty"`
	// Key is the normalized DB statement or the call key (route) repeated (N+1, retries).
	Key string `json:"key,omitempty"`

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
	Recommendation        string   `json:"recommendation"`
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
			out = append(out, d.retryFinding(r, burn[r.service]))
		}
	}
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
		SpanKinds: []uint8{2, 5}, GroupBy: []string{rollup.GroupService},
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
