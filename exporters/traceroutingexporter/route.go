package traceroutingexporter

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// rendezvous assigns trace IDs to endpoints by highest random weight: each (trace ID,
// endpoint) pair gets a score and the endpoint with the highest wins. Removing an endpoint
// only reassigns the trace IDs it won; the others keep their winner. Scores depend on the
// endpoint's address, not its position, so every process with the same set of addresses
// agrees. Safe for concurrent use; it is never modified after newRendezvous.
type rendezvous struct {
	// seeds holds xxhash(address) per endpoint, in configuration order.
	seeds []uint64
}

func newRendezvous(endpoints []string) rendezvous {
	seeds := make([]uint64, len(endpoints))
	for i, e := range endpoints {
		seeds[i] = xxhash.Sum64String(e)
	}
	return rendezvous{seeds: seeds}
}

// pick returns the index of the endpoint that owns tid. An all-zero trace ID goes to 0.
func (r rendezvous) pick(tid pcommon.TraceID) int {
	if len(r.seeds) == 1 || tid.IsEmpty() {
		return 0
	}
	var key [24]byte
	copy(key[:16], tid[:])
	best, bestScore := 0, uint64(0)
	for i, seed := range r.seeds {
		binary.LittleEndian.PutUint64(key[16:], seed)
		score := xxhash.Sum64(key[:])
		// Ties (practically never) go to the smaller seed, so order still does not matter.
		if i == 0 || score > bestScore || (score == bestScore && seed < r.seeds[best]) {
			best, bestScore = i, score
		}
	}
	return best
}

// splitter moves the spans of a batch into one batch per endpoint. It keeps each span's
// resource and scope, moves whole ResourceSpans or ScopeSpans when all their spans go to one
// endpoint, and moves single spans otherwise; spans are never copied. Not safe for
// concurrent use: take one per call.
type splitter struct {
	ring rendezvous
	// routes holds the endpoint of each span of the current ResourceSpans, in order.
	routes []int
	// dstRS and dstSS are the current resource's and scope's copies per endpoint; valid
	// where hasRS / hasSS is set.
	dstRS []ptrace.ResourceSpans
	hasRS []bool
	dstSS []ptrace.ScopeSpans
	hasSS []bool
}

func newSplitter(ring rendezvous) *splitter {
	n := len(ring.seeds)
	return &splitter{
		ring:  ring,
		dstRS: make([]ptrace.ResourceSpans, n),
		hasRS: make([]bool, n),
		dstSS: make([]ptrace.ScopeSpans, n),
		hasSS: make([]bool, n),
	}
}

// split moves every span of td into parts[endpoint], which must have one ptrace.Traces per
// endpoint. td keeps only the emptied husks of what was moved out of it and must not be used
// afterwards. Resources and scopes without spans are dropped.
func (s *splitter) split(td ptrace.Traces, parts []ptrace.Traces) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		if !s.route(rs) {
			continue
		}
		if e, ok := same(s.routes); ok {
			rs.MoveTo(parts[e].ResourceSpans().AppendEmpty())
			continue
		}
		clear(s.hasRS)
		sss := rs.ScopeSpans()
		off := 0
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			spans := ss.Spans()
			if spans.Len() == 0 {
				continue
			}
			routes := s.routes[off : off+spans.Len()]
			off += spans.Len()
			if e, ok := same(routes); ok {
				ss.MoveTo(s.resource(e, rs, parts).ScopeSpans().AppendEmpty())
				continue
			}
			clear(s.hasSS)
			for k, e := range routes {
				if !s.hasSS[e] {
					dst := s.resource(e, rs, parts).ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(dst.Scope())
					dst.SetSchemaUrl(ss.SchemaUrl())
					s.dstSS[e], s.hasSS[e] = dst, true
				}
				spans.At(k).MoveTo(s.dstSS[e].Spans().AppendEmpty())
			}
		}
	}
}

// route fills s.routes with the endpoint of every span of rs and reports whether rs has any
// span. Consecutive spans of one trace are hashed once.
func (s *splitter) route(rs ptrace.ResourceSpans) bool {
	s.routes = s.routes[:0]
	var last pcommon.TraceID
	lastRoute := -1
	sss := rs.ScopeSpans()
	for j := 0; j < sss.Len(); j++ {
		spans := sss.At(j).Spans()
		for k := 0; k < spans.Len(); k++ {
			tid := spans.At(k).TraceID()
			if lastRoute < 0 || tid != last {
				last, lastRoute = tid, s.ring.pick(tid)
			}
			s.routes = append(s.routes, lastRoute)
		}
	}
	return len(s.routes) > 0
}

// resource returns endpoint e's copy of rs's resource in parts[e], creating it on first use.
func (s *splitter) resource(e int, rs ptrace.ResourceSpans, parts []ptrace.Traces) ptrace.ResourceSpans {
	if !s.hasRS[e] {
		dst := parts[e].ResourceSpans().AppendEmpty()
		rs.Resource().CopyTo(dst.Resource())
		dst.SetSchemaUrl(rs.SchemaUrl())
		s.dstRS[e], s.hasRS[e] = dst, true
	}
	return s.dstRS[e]
}

// same reports whether all routes are equal, and to what; routes is not empty.
func same(routes []int) (int, bool) {
	for _, e := range routes[1:] {
		if e != routes[0] {
			return 0, false
		}
	}
	return routes[0], true
}
