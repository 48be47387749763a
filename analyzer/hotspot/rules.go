package hotspot

import (
	"fmt"
	"sort"

	"github.com/weirhq/weir/rollup"
)

type detector struct {
	th    Thresholds
	scale float64 // window → week
}

// agg accumulates one (rule, service, parent operation, key) finding. Weighted sums are over
// the window; finding scales them to a week.
type agg struct {
	rule        Rule
	service     string
	parentOp    rollup.Operation
	parentFound bool
	key         string

	peers    map[string]float64 // what the calls call (rollup.CallGroup.Peer) → weighted calls
	traces   map[string]float64 // affected trace → its weight
	spansW   float64            // weighted affected parent spans
	callsW   float64            // weighted calls (children) under them
	avoidW   float64            // weighted avoidable calls
	maxCalls uint64
	stored   uint64
	examples []string
}

type aggKey struct {
	rule            Rule
	service, parent string
	parentSvc, key  string
	parentFound     bool
}

type aggSet struct {
	m     map[aggKey]*agg
	order []*agg
}

func (s *aggSet) get(k aggKey) *agg {
	if s.m == nil {
		s.m = map[aggKey]*agg{}
	}
	a := s.m[k]
	if a == nil {
		a = &agg{rule: k.rule, service: k.service, parentOp: rollup.Operation{Service: k.parentSvc, Name: k.parent},
			parentFound: k.parentFound, key: k.key, traces: map[string]float64{}, peers: map[string]float64{}}
		s.m[k] = a
		s.order = append(s.order, a)
	}
	return a
}

func (a *agg) add(traceID string, w float64, calls uint64, avoidable float64, maxEx int) {
	if _, ok := a.traces[traceID]; !ok {
		a.traces[traceID] = w
		if len(a.examples) < maxEx {
			a.examples = append(a.examples, traceID)
		}
	}
	a.spansW += w
	a.callsW += w * float64(calls)
	a.avoidW += w * avoidable
	a.maxCalls = max(a.maxCalls, calls)
	a.stored++
}

// sequential is the largest number of calls no two of which overlap in time (a call that
// starts when or after another ends does not overlap it): greedy by end time.
func sequential(starts []uint64, durations []int64) int {
	type iv struct{ s, e uint64 }
	ivs := make([]iv, len(starts))
	for i := range starts {
		d := uint64(0)
		if i < len(durations) && durations[i] > 0 {
			d = uint64(durations[i])
		}
		ivs[i] = iv{starts[i], starts[i] + d}
	}
	sort.Slice(ivs, func(i, j int) bool {
		if ivs[i].e != ivs[j].e {
			return ivs[i].e < ivs[j].e
		}
		return ivs[i].s < ivs[j].s
	})
	n := 0
	var last uint64
	for i, v := range ivs {
		if i == 0 || v.s >= last {
			n++
			last = v.e
		}
	}
	return n
}

// nPlusOne applies the N+1 rules to the call groups.
func (d *detector) nPlusOne(groups []rollup.CallGroup) []*agg {
	var set aggSet
	for _, g := range groups {
		n := len(g.Starts)
		var rule Rule
		switch {
		case g.IsDB && n >= d.th.NPlusOneMinStatements && sequential(g.Starts, g.Durations) >= d.th.NPlusOneMinStatements:
			rule = RuleNPlusOneQuery
		case !g.IsDB && n >= d.th.NPlusOneMinRouteCalls &&
			(!d.th.NPlusOneRouteSequential || sequential(g.Starts, g.Durations) >= d.th.NPlusOneMinRouteCalls):
			rule = RuleNPlusOneCalls
		default:
			continue
		}
		a := set.get(aggKey{rule: rule, service: g.Service, parent: g.Parent.Name, parentSvc: g.Parent.Service,
			key: g.Key, parentFound: g.Parent.Found})
		a.add(g.TraceID, g.Weight, uint64(n), float64(n-1), d.th.MaxExamples)
		if g.Peer != "" {
			a.peers[g.Peer] += g.Weight * float64(n)
		}
	}
	return set.order
}

// children applies the fan-out and chatty-edge rules to the child counts.
func (d *detector) children(counts []rollup.ChildCount) (fan, chatty []*agg) {
	var fanSet, chattySet aggSet
	for _, c := range counts {
		if c.Children > uint64(d.th.FanOutMaxChildren) {
			a := fanSet.get(aggKey{rule: RuleFanOut, service: c.Parent.Service, parent: c.Parent.Name,
				parentSvc: c.Parent.Service, parentFound: c.Parent.Found})
			a.add(c.TraceID, c.Weight, c.Children, float64(c.Children)-float64(d.th.FanOutMaxChildren), d.th.MaxExamples)
		}
		if !c.Parent.Found || c.Parent.Kind != 2 {
			continue
		}
		var own uint64
		for _, s := range c.ClientServices {
			if s == c.Parent.Service {
				own++
			}
		}
		if own >= uint64(d.th.ChattyMinClientCalls) {
			a := chattySet.get(aggKey{rule: RuleChattyEdge, service: c.Parent.Service, parent: c.Parent.Name,
				parentSvc: c.Parent.Service, parentFound: true})
			a.add(c.TraceID, c.Weight, own, float64(own)-float64(d.th.ChattyMinClientCalls-1), d.th.MaxExamples)
		}
	}
	return fanSet.order, chattySet.order
}

// retryAgg accumulates one (service, call key) retry finding.
type retryAgg struct {
	service, key       string
	repeatedW, resentW float64
	stored             uint64
	examples           []string
	seen               map[string]bool
	// peers weighs what the retried calls call (the callee, as the service graph names it);
	// callsW and failedW are the retried groups' calls and failed calls, weighted.
	peers           map[string]float64
	callsW, failedW float64
}

func (r *retryAgg) example(id string, maxEx int) {
	if !r.seen[id] && len(r.examples) < maxEx {
		r.seen[id] = true
		r.examples = append(r.examples, id)
	}
}

// retries applies the retry-storm rule. Calls carrying a resend count are counted from
// resent only, never twice.
func (d *detector) retries(groups []rollup.CallGroup, resent []rollup.ResentCalls) []*retryAgg {
	m := map[[2]string]*retryAgg{}
	var order []*retryAgg
	get := func(service, key string) *retryAgg {
		k := [2]string{service, key}
		r := m[k]
		if r == nil {
			r = &retryAgg{service: service, key: key, seen: map[string]bool{}, peers: map[string]float64{}}
			m[k] = r
			order = append(order, r)
		}
		return r
	}
	for _, g := range groups {
		n := len(g.Starts)
		if n < d.th.RetryMinAttempts {
			continue
		}
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(i, j int) bool { return g.Starts[idx[i]] < g.Starts[idx[j]] })
		retried := 0
		for k := 1; k < n; k++ {
			resent := idx[k] < len(g.ResendCounts) && g.ResendCounts[idx[k]] >= uint64(d.th.RetryMinResendCount)
			if g.Statuses[idx[k-1]] == 2 && !resent {
				retried++
			}
		}
		if retried < d.th.RetryMinAttempts-1 {
			continue
		}
		r := get(g.Service, g.Key)
		r.repeatedW += g.Weight * float64(retried)
		failed := 0
		for _, st := range g.Statuses {
			if st == 2 {
				failed++
			}
		}
		r.callsW += g.Weight * float64(n)
		r.failedW += g.Weight * float64(failed)
		if g.Peer != "" {
			r.peers[g.Peer] += g.Weight * float64(n)
		}
		r.stored += uint64(retried)
		r.example(g.TraceID, d.th.MaxExamples)
	}
	for _, rc := range resent {
		r := get(rc.Service, rc.Key)
		r.resentW += rc.Weighted
		r.stored += rc.Spans
		for _, id := range rc.Examples {
			r.example(id, d.th.MaxExamples)
		}
	}
	return order
}

func (d *detector) finding(a *agg, traces map[rollup.Operation]float64, sev SeverityThresholds) Finding {
	var affected float64
	for _, w := range a.traces {
		affected += w
	}
	ev := Evidence{
		ParentOperation:       a.parentOp.Name,
		Key:                   a.key,
		Peer:                  topPeer(a.peers),
		AffectedTracesPerWeek: affected * d.scale,
		AffectedSpansPerWeek:  a.spansW * d.scale,
		MaxCalls:              a.maxCalls,
		StoredSpans:           a.stored,
	}
	if a.spansW > 0 {
		ev.CallsPerAffectedSpan = a.callsW / a.spansW
	}
	if affected > 0 {
		ev.AvoidableCallsPerTrace = a.avoidW / affected
	}
	hasShare := false
	if total := traces[a.parentOp]; a.parentFound && total > 0 {
		ev.TracesPerWeek = total * d.scale
		ev.ShareOfTraces = min(1, affected/total)
		hasShare = true
	}
	perWeek := a.avoidW * d.scale
	op := a.parentOp.Name
	if !a.parentFound {
		op = "(parent not stored)"
	}
	return Finding{
		Rule:                  a.rule,
		Service:               a.service,
		Operation:             op,
		Severity:              sev.of(perWeek, ev.ShareOfTraces, hasShare),
		Evidence:              ev,
		ExampleTraceIDs:       a.examples,
		AvoidableCallsPerWeek: perWeek,
		Recommendation:        recommendation(a.rule, a.service, op, a.key, ev),
	}
}

func (d *detector) retryFinding(r *retryAgg, burns map[string]ServiceErrors) Finding {
	burn := burns[r.service]
	ev := Evidence{
		Key:                         r.key,
		RepeatedFailureCallsPerWeek: r.repeatedW * d.scale,
		ResentCallsPerWeek:          r.resentW * d.scale,
		RetriedCallsPerWeek:         (r.repeatedW + r.resentW) * d.scale,
		ServiceRequestsPerWeek:      float64(burn.Requests) * d.scale,
		FailedRequestsPerWeek:       float64(burn.Errors) * d.scale,
		FailedRequestShare:          burn.FailedShare(),
		StoredSpans:                 r.stored,
	}
	if r.callsW > 0 {
		ev.RetriedCallsFailedShare = r.failedW / r.callsW
	}
	// The callee's own failure rate is what explains the storm: lead with it when the calls'
	// peer is a service weir counts.
	if callee := topPeer(r.peers); callee != "" && burns[callee].Requests > 0 {
		ev.Callee, ev.CalleeFailedShare = callee, burns[callee].FailedShare()
	}
	return Finding{
		Rule:                  RuleRetryStorm,
		Service:               r.service,
		Operation:             r.key,
		Severity:              d.th.RetrySeverity.of(ev.RetriedCallsPerWeek, 0, false),
		Evidence:              ev,
		ExampleTraceIDs:       r.examples,
		AvoidableCallsPerWeek: ev.RetriedCallsPerWeek,
		Recommendation:        recommendation(RuleRetryStorm, r.service, r.key, r.key, ev),
	}
}

func recommendation(rule Rule, service, op, key string, ev Evidence) string {
	switch rule {
	case RuleNPlusOneQuery:
		return fmt.Sprintf("%s runs %q %.1f times per %s on average (%.0f%% of its traces): "+
			"fetch the rows in one query (a JOIN or WHERE … IN (…)) or batch/cache the lookups.",
			service, key, ev.CallsPerAffectedSpan, op, 100*ev.ShareOfTraces)
	case RuleNPlusOneCalls:
		return fmt.Sprintf("%s calls %s %.1f times per %s on average (%.0f%% of its traces): "+
			"use a batch endpoint, fetch once and reuse, or cache the responses.",
			service, key, ev.CallsPerAffectedSpan, op, 100*ev.ShareOfTraces)
	case RuleFanOut:
		return fmt.Sprintf("%s %s has %.1f direct children on average (up to %d): "+
			"batch the work, bound the concurrency, or move it to an asynchronous job.",
			service, op, ev.CallsPerAffectedSpan, ev.MaxCalls)
	case RuleChattyEdge:
		return fmt.Sprintf("%s %s makes %.1f outbound calls per request on average (up to %d): "+
			"aggregate them behind one coarser API, batch, or cache what does not change per request.",
			service, op, ev.CallsPerAffectedSpan, ev.MaxCalls)
	case RuleRetryStorm:
		const fix = "cap attempts, use exponential backoff with jitter and a retry budget or circuit breaker"
		switch {
		case ev.Callee != "":
			return fmt.Sprintf("%s retries %s about %.0f times a week because %s fails %.1f%% of its requests "+
				"(%s's own failure rate: %.1f%%): fix %s first; %s.",
				service, key, ev.RetriedCallsPerWeek, ev.Callee, 100*ev.CalleeFailedShare, service,
				100*ev.FailedRequestShare, ev.Callee, fix)
		case ev.RetriedCallsFailedShare > 0:
			return fmt.Sprintf("%s retries %s about %.0f times a week; %.1f%% of those calls fail "+
				"(%s's own failure rate: %.1f%%): fix the failing dependency; %s.",
				service, key, ev.RetriedCallsPerWeek, 100*ev.RetriedCallsFailedShare, service,
				100*ev.FailedRequestShare, fix)
		}
		return fmt.Sprintf("%s retries %s about %.0f times a week (%s's own failure rate: %.1f%%): "+
			"fix the failing dependency; %s.", service, key, ev.RetriedCallsPerWeek, service, 100*ev.FailedRequestShare, fix)
	}
	return ""
}

// topPeer is the peer with the most weighted calls (” for none; ties to the first name).
func topPeer(peers map[string]float64) string {
	best, bestW := "", 0.0
	for p, w := range peers {
		if w > bestW || (w == bestW && p < best) {
			best, bestW = p, w
		}
	}
	return best
}
