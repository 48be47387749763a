package demo

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// tally counts, weighted, what the generated traffic holds: the model side of the truth.
type tally struct {
	requests  map[string]float64    // SERVER and CONSUMER spans per service
	calls     map[[2]string]float64 // client → server calls (services and the database)
	failed    map[[2]string]float64 // of which failed
	spanBytes map[string]float64    // logical bytes × weight per service (rollup.TelemetryByService)
	nPlusOne  float64               // avoidable SELECTs (calls − 1 per affected request)
	chatty    float64               // calls beyond the chatty threshold
	retries   float64               // resent payment calls
	traces    int
	spans     int
}

func newTally() *tally {
	return &tally{requests: map[string]float64{}, calls: map[[2]string]float64{}, failed: map[[2]string]float64{},
		spanBytes: map[string]float64{}}
}

// chattyThreshold is hotspot.DefaultThresholds().ChattyMinClientCalls: calls beyond
// threshold − 1 are the avoidable ones.
const chattyThreshold = 15

// batch accumulates traces into one OTLP request, one ResourceSpans per service.
type batch struct {
	td    ptrace.Traces
	byRes map[string]ptrace.SpanSlice
	spans int
}

func newBatch() *batch {
	return &batch{td: ptrace.NewTraces(), byRes: map[string]ptrace.SpanSlice{}}
}

func (b *batch) slice(service string) ptrace.SpanSlice {
	if s, ok := b.byRes[service]; ok {
		return s
	}
	rs := b.td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	rs.Resource().Attributes().PutStr("deployment.environment.name", "demo")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("weir-demo")
	b.byRes[service] = ss.Spans()
	return ss.Spans()
}

// gen builds the traces of one week.
type gen struct {
	rng        *rand.Rand
	week       int // 0: the week before the report, 1: the report week
	t          *tally
	b          *batch
	traceID    pcommon.TraceID
	tracestate string
	weight     float64
}

type attr struct{ k, v string }

// span appends one span and tallies it. Integer attributes are given as strings and stored
// as ints when intKeys names them.
func (g *gen) span(service, name string, kind ptrace.SpanKind, parent pcommon.SpanID, start time.Time, dur time.Duration,
	failed bool, attrs ...attr) pcommon.SpanID {
	s := g.b.slice(service).AppendEmpty()
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], g.rng.Uint64()|1)
	s.SetTraceID(g.traceID)
	s.SetSpanID(id)
	s.SetParentSpanID(parent)
	s.TraceState().FromRaw(g.tracestate)
	s.SetName(name)
	s.SetKind(kind)
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(dur)))
	// The logical size the report measures (rollup.TelemetryByService): 72 fixed bytes,
	// service, name, tracestate, status message, attribute keys and values, resource ones.
	size := 72 + len(service) + len(name) + len(g.tracestate) + len("service.name") + len(service) +
		len("deployment.environment.name") + len("demo")
	for _, a := range attrs {
		if a.k == "http.request.resend_count" || a.k == "http.response.status_code" {
			n, _ := strconv.ParseInt(a.v, 10, 64)
			s.Attributes().PutInt(a.k, n)
		} else {
			s.Attributes().PutStr(a.k, a.v)
		}
		size += len(a.k) + len(a.v)
	}
	if failed {
		s.Status().SetCode(ptrace.StatusCodeError)
		s.Status().SetMessage("upstream failed")
		size += len("upstream failed")
	}
	g.t.spanBytes[service] += float64(size) * g.weight
	if kind == ptrace.SpanKindServer || kind == ptrace.SpanKindConsumer {
		g.count(func(t *tally) { t.requests[service] += g.weight })
	}
	g.b.spans++
	return id
}

// count applies f to the week's tally.
func (g *gen) count(f func(*tally)) { f(g.t) }

// call is a client span in from and, unless to is a database, the server span of to.
func (g *gen) call(from, to, route string, parent pcommon.SpanID, start time.Time, dur time.Duration, failed bool,
	attrs ...attr) pcommon.SpanID {
	client := g.span(from, route, ptrace.SpanKindClient, parent, start, dur, failed,
		append([]attr{{"server.address", to}}, attrs...)...)
	g.count(func(t *tally) {
		t.calls[[2]string{from, to}] += g.weight
		if failed {
			t.failed[[2]string{from, to}] += g.weight
		}
	})
	code := "200"
	if failed {
		code = "503"
	}
	return g.span(to, route, ptrace.SpanKindServer, client, start.Add(time.Millisecond), dur-2*time.Millisecond, failed,
		attr{"http.route", route}, attr{"http.response.status_code", code})
}

// query is a database client span.
func (g *gen) query(from, system, statement string, parent pcommon.SpanID, start time.Time, dur time.Duration) {
	g.span(from, strings.Fields(statement)[0]+" "+system, ptrace.SpanKindClient, parent, start, dur, false,
		attr{"db.system", system}, attr{"db.statement", statement})
	if system == sharedDBNode {
		g.count(func(t *tally) { t.calls[[2]string{from, sharedDBNode}] += g.weight })
	}
}

func (g *gen) ms(lo, hi int) time.Duration {
	return time.Duration(lo+g.rng.IntN(hi-lo+1)) * time.Millisecond
}

// trace builds one request of r starting at start.
func (g *gen) trace(r route, start time.Time) {
	// The SDK's head sampling kept this trace at 1/weight: its randomness (the trace ID's
	// low 56 bits) is at or above the threshold, as consistent sampling requires.
	binary.BigEndian.PutUint64(g.traceID[:8], g.rng.Uint64())
	binary.BigEndian.PutUint64(g.traceID[8:], g.rng.Uint64())
	g.traceID[9] = 0xff
	if r.weight == weightSearch {
		g.traceID[10] |= 0xc0
	}
	g.tracestate = "ot=th:" + r.th
	g.weight = r.weight
	g.t.traces++

	total := g.ms(40, 160)
	root := g.span("gateway", r.name, ptrace.SpanKindServer, pcommon.SpanID{}, start, total, false,
		attr{"http.route", r.name}, attr{"http.request.method", strings.Fields(r.name)[0]})
	at := start.Add(time.Millisecond)
	auth := g.call("gateway", "auth", "POST /verify", root, at, g.ms(4, 9), false)
	g.query("auth", "redis", "GET session:?", auth, at.Add(time.Millisecond), g.ms(1, 2))
	at = at.Add(10 * time.Millisecond)
	backendDur := total - 12*time.Millisecond

	switch r.service {
	case "catalog":
		s := g.call("gateway", "catalog", "GET /products", root, at, backendDur, false)
		g.query("catalog", "redis", "GET products:?", s, at.Add(time.Millisecond), g.ms(1, 2))
		g.query("catalog", sharedDBNode, "SELECT * FROM products WHERE category = $1 LIMIT 20", s, at.Add(3*time.Millisecond), g.ms(5, 15))
	case "search":
		s := g.call("gateway", "search", "GET /search", root, at, backendDur, false)
		var extra []attr
		if g.week == 1 {
			extra = append(extra, attr{"search.debug.response", debugPayload})
		}
		g.span("search", "search products", ptrace.SpanKindClient, s, at.Add(time.Millisecond), backendDur/2, false,
			append([]attr{{"db.system", "elasticsearch"}, {"db.statement", "products/_search"}}, extra...)...)
		if g.week == 1 {
			// The debug payload on the server span too.
			srv := g.b.slice("search")
			last := srv.At(srv.Len() - 2)
			last.Attributes().PutStr("search.debug.request", debugPayload)
			g.t.spanBytes["search"] += float64(len("search.debug.request")+len(debugPayload)) * g.weight
		}
	case "cart":
		s := g.call("gateway", "cart", "GET /cart", root, at, backendDur, false)
		q := at.Add(time.Millisecond)
		g.query("cart", sharedDBNode, "SELECT * FROM carts WHERE user_id = $1", s, q, g.ms(2, 4))
		q = q.Add(5 * time.Millisecond)
		if g.rng.Float64() < nPlusOneShare {
			for i := range nPlusOneItems {
				g.query("cart", sharedDBNode, "SELECT * FROM items WHERE id = "+strconv.Itoa(1000+g.rng.IntN(9000)), s,
					q.Add(time.Duration(i)*3*time.Millisecond), 2*time.Millisecond)
			}
			g.count(func(t *tally) { t.nPlusOne += (nPlusOneItems - 1) * g.weight })
		} else {
			g.query("cart", sharedDBNode, "SELECT * FROM items WHERE id IN ($1, $2, $3)", s, q, g.ms(3, 6))
		}
	case "checkout":
		s := g.call("gateway", "checkout", "POST /checkout", root, at, backendDur, false)
		c := at.Add(time.Millisecond)
		inv := g.call("checkout", "inventory", "POST /reserve", s, c, g.ms(5, 10), false)
		g.query("inventory", sharedDBNode, "UPDATE stock SET reserved = reserved + $1 WHERE sku = $2", inv, c.Add(time.Millisecond), g.ms(2, 4))
		c = c.Add(12 * time.Millisecond)
		for attempt := 0; attempt <= maxRetries; attempt++ {
			fail := g.rng.Float64() < paymentFailure
			var extra []attr
			if attempt > 0 {
				extra = append(extra, attr{"http.request.resend_count", strconv.Itoa(attempt)})
				g.count(func(t *tally) { t.retries += g.weight })
			}
			p := g.call("checkout", "payments", "POST /charge", s, c, g.ms(8, 14), fail, extra...)
			g.span("payments", "POST /v1/charges", ptrace.SpanKindClient, p, c.Add(2*time.Millisecond), g.ms(3, 6), fail,
				attr{"peer.service", "stripe"})
			c = c.Add(15 * time.Millisecond)
			if !fail {
				break
			}
		}
		prod := g.span("checkout", "orders publish", ptrace.SpanKindProducer, s, c, time.Millisecond, false,
			attr{"messaging.system", "kafka"}, attr{"messaging.destination.name", "orders"})
		cons := g.span("notifications", "orders process", ptrace.SpanKindConsumer, prod, c.Add(20*time.Millisecond), g.ms(5, 20), false,
			attr{"messaging.system", "kafka"}, attr{"messaging.destination.name", "orders"})
		g.span("notifications", "POST /send", ptrace.SpanKindClient, cons, c.Add(22*time.Millisecond), g.ms(2, 5), false,
			attr{"peer.service", "email-provider"})
	case "recommendations":
		s := g.call("gateway", "recommendations", "GET /home-feed", root, at, backendDur, false)
		c := at.Add(time.Millisecond)
		for round := range 3 {
			for _, hc := range homeCalls {
				srv := g.call("recommendations", hc.service, hc.route, s, c, 2*time.Millisecond+g.ms(1, 3), false)
				if hc.service == "inventory" {
					g.query("inventory", sharedDBNode, "SELECT qty FROM stock WHERE sku = $1", srv, c.Add(time.Millisecond), time.Millisecond)
				}
				c = c.Add(time.Duration(1+round) * time.Millisecond)
			}
		}
		g.count(func(t *tally) { t.chatty += float64(chattyCalls-(chattyThreshold-1)) * g.weight })
	}
}

// debugPayload is what search logs into its spans in the report week: a response dump.
var debugPayload = func() string {
	var b strings.Builder
	for i := 0; b.Len() < debugPayloadBytes; i++ {
		b.WriteString(`{"id":`)
		b.WriteString(strconv.Itoa(100000 + i*7919%900000))
		b.WriteString(`,"score":0.`)
		b.WriteString(strconv.Itoa(i * 31 % 1000))
		b.WriteString(`,"title":"product `)
		b.WriteString(strconv.Itoa(i))
		b.WriteString(`"},`)
	}
	return b.String()[:debugPayloadBytes]
}()
