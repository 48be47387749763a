package report

import (
	"slices"
	"sort"
	"strings"

	"github.com/weirhq/weir/analyzer/costmap"
	"github.com/weirhq/weir/analyzer/hotspot"
	"github.com/weirhq/weir/rollup"
)

// A trace-pattern finding names calls a fix would avoid. An avoided call saves what the
// callee spends on it, so the report prices it at the callee's cost per call:
//
//   - a service: its spend this week / its requests this week;
//   - a shared resource's node (a database in the service graph): the resource's pool this
//     week / the calls to the node that split it;
//   - anything else (a broker, an external API without spend): 0.
//
// Which callees: an N+1 finding's own peer (the database its statement runs on, from the
// spans) when that peer has a price; otherwise the caller's edges this week, weighted by
// calls. An N+1 query reads the caller's database edges; N+1 calls, fan-out and chatty findings its other edges; a retry
// storm the edges with failed calls (weighted by failures), since the retried calls are the
// failing ones. CostPerCall is that weighted mean, Callees lists them.

type edge struct {
	server, conn  string
	calls, failed uint64
}

type pricer struct {
	perCall map[string]float64 // callee -> cost per call
	edges   map[string][]edge  // client -> its edges, by calls descending
}

// newPricer prices callees from the week's per-service table (rows), its shared resources
// (cur.Shared) and its service-graph edges.
func newPricer(rows map[string]*ServiceRow, cur costmap.Result, edges []rollup.Row) *pricer {
	p := &pricer{perCall: map[string]float64{}, edges: map[string][]edge{}}
	for s, r := range rows {
		if r.Requests > 0 {
			p.perCall[s] = r.Spend / float64(r.Requests)
		}
	}
	for _, sh := range cur.Shared {
		var calls uint64
		for _, s := range sh.Shares {
			calls += s.Weight
		}
		if sh.Node != "" && sh.SplitBy == costmap.SplitByCalls && calls > 0 {
			p.perCall[sh.Node] += sh.Cost.Float64() / float64(calls)
		}
	}
	type k struct{ c, s, t string }
	sum := map[k]*edge{}
	for _, r := range edges {
		key := k{r.Series.Client, r.Series.Server, r.Series.ConnectionType}
		e := sum[key]
		if e == nil {
			e = &edge{server: key.s, conn: key.t}
			sum[key] = e
		}
		e.calls += r.Requests
		e.failed += r.Errors
	}
	for key, e := range sum {
		p.edges[key.c] = append(p.edges[key.c], *e)
	}
	for c := range p.edges {
		es := p.edges[c]
		sort.Slice(es, func(i, j int) bool {
			if es[i].calls != es[j].calls {
				return es[i].calls > es[j].calls
			}
			return es[i].server < es[j].server
		})
	}
	return p
}

// price returns a finding's cost per avoidable call and the callees it was priced at. An
// N+1 finding whose calls name their peer (the statement's database) is priced at that
// peer when it has a price.
func (p *pricer) price(f hotspot.Finding) (float64, []string) {
	if peer := f.Evidence.Peer; peer != "" && (f.Rule == hotspot.RuleNPlusOneQuery || f.Rule == hotspot.RuleNPlusOneCalls) {
		if c, ok := p.perCall[peer]; ok {
			return c, []string{peer}
		}
	}
	var total, weighted float64
	var callees []string
	for _, e := range p.edges[f.Service] {
		var w uint64
		switch f.Rule {
		case hotspot.RuleNPlusOneQuery:
			if e.conn == "database" {
				w = e.calls
			}
		case hotspot.RuleRetryStorm:
			w = e.failed
		default:
			if e.conn != "database" {
				w = e.calls
			}
		}
		if w == 0 {
			continue
		}
		total += float64(w)
		weighted += float64(w) * p.perCall[e.server]
		// One server can come as several edges (paired calls and unpaired ones, say): name it once.
		if !slices.Contains(callees, e.server) {
			callees = append(callees, e.server)
		}
	}
	if total == 0 {
		return 0, nil
	}
	return weighted / total, callees
}

func joinCallees(c []string) string { return strings.Join(c, ", ") }

// failedCalls are the failed calls per {client, server} edge of the week, for
// hotspot.FoldErrorBurn.
func (p *pricer) failedCalls() map[[2]string]uint64 {
	out := map[[2]string]uint64{}
	for client, es := range p.edges {
		for _, e := range es {
			if e.failed > 0 {
				out[[2]string{client, e.server}] += e.failed
			}
		}
	}
	return out
}
