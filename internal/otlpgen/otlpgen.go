// Package otlpgen makes random OTLP data for property tests and fuzz corpora: traces with
// every attribute value type (empty and very large ones, nested arrays and maps), events,
// links, many resources and scopes, zero and odd IDs; and metrics of all five types with
// exemplars, empty and huge attribute sets, NaN and infinities, histograms without buckets.
// The same seed gives the same data.
package otlpgen

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Gen draws random OTLP data. Not safe for concurrent use.
type Gen struct {
	R *rand.Rand
	// Big is the size of the "very large" strings and byte values (default 64 KiB).
	Big int
}

// New returns a Gen seeded with seed.
func New(seed uint64) *Gen {
	return &Gen{R: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), Big: 64 << 10}
}

func (g *Gen) n(k int) int { return g.R.IntN(k) }

// Str is a short random string; sometimes empty, sometimes with quotes, control characters
// or invalid UTF-8, rarely Big bytes long.
func (g *Gen) Str() string {
	switch g.n(20) {
	case 0:
		return ""
	case 1:
		return "quote\" back\\slash\nnew\tline\x01"
	case 2:
		return "\xff\xfeinvalid utf-8 \xc3"
	case 3:
		return "ünïcødé ✓ 日本"
	case 4:
		if g.n(4) == 0 {
			return strings.Repeat("x", g.Big)
		}
	}
	return "v" + strconv.Itoa(g.n(1000))
}

// Value fills v with a random AnyValue of any type, nesting up to depth.
func (g *Gen) Value(v pcommon.Value, depth int) {
	k := g.n(9)
	if depth <= 0 && k >= 6 {
		k = g.n(6)
	}
	switch k {
	case 0:
		v.SetStr(g.Str())
	case 1:
		v.SetInt([]int64{0, -1, 1, math.MaxInt64, math.MinInt64, g.R.Int64()}[g.n(6)])
	case 2:
		v.SetDouble([]float64{0, -0.5, 1e-300, 1.7976931348623157e308, math.NaN(), math.Inf(1), math.Inf(-1), g.R.NormFloat64()}[g.n(8)])
	case 3:
		v.SetBool(g.n(2) == 0)
	case 4:
		b := make([]byte, []int{0, 1, 16, g.Big}[g.n(4)])
		for i := range b {
			b[i] = byte(g.R.Uint32())
		}
		v.SetEmptyBytes().FromRaw(b)
	case 5:
		// Empty: no oneof set.
	case 6:
		s := v.SetEmptySlice()
		for i := g.n(4); i > 0; i-- {
			g.Value(s.AppendEmpty(), depth-1)
		}
	case 7, 8:
		m := v.SetEmptyMap()
		for i := g.n(4); i > 0; i-- {
			g.Value(m.PutEmpty("k"+strconv.Itoa(g.n(10))), depth-1)
		}
	}
}

// Attrs puts 0 to max random attributes into m (sometimes none, rarely 200).
func (g *Gen) Attrs(m pcommon.Map, max int) {
	n := g.n(max + 1)
	if g.n(30) == 0 {
		n = 200
	}
	for i := 0; i < n; i++ {
		g.Value(m.PutEmpty(g.key()), 3)
	}
}

func (g *Gen) key() string {
	if g.n(10) == 0 {
		return g.Str()
	}
	return []string{"service.name", "http.route", "http.request.method", "db.system", "peer.service", "rpc.method",
		"k" + strconv.Itoa(g.n(50))}[g.n(7)]
}

// TraceID is a random trace ID; sometimes all zero.
func (g *Gen) TraceID() pcommon.TraceID {
	var id pcommon.TraceID
	if g.n(15) != 0 {
		for i := range id {
			id[i] = byte(g.R.Uint32())
		}
	}
	return id
}

// SpanID is a random span ID; sometimes all zero.
func (g *Gen) SpanID() pcommon.SpanID {
	var id pcommon.SpanID
	if g.n(15) != 0 {
		for i := range id {
			id[i] = byte(g.R.Uint32())
		}
	}
	return id
}

// Traces draws up to resources ResourceSpans, each with up to scopes ScopeSpans of up to
// spans spans.
func (g *Gen) Traces(resources, scopes, spans int) ptrace.Traces {
	td := ptrace.NewTraces()
	for r := g.n(resources) + 1; r > 0; r-- {
		rs := td.ResourceSpans().AppendEmpty()
		if g.n(6) != 0 {
			rs.Resource().Attributes().PutStr("service.name", []string{"checkout", "cart", "", "payments"}[g.n(4)])
		}
		g.Attrs(rs.Resource().Attributes(), 6)
		rs.Resource().SetDroppedAttributesCount(uint32(g.n(3)))
		if g.n(3) == 0 {
			rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
		}
		for s := g.n(scopes) + 1; s > 0; s-- {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(g.Str())
			ss.Scope().SetVersion(g.Str())
			g.Attrs(ss.Scope().Attributes(), 2)
			ss.Scope().SetDroppedAttributesCount(uint32(g.n(2)))
			if g.n(4) == 0 {
				ss.SetSchemaUrl(g.Str())
			}
			trace := g.TraceID()
			for i := g.n(spans) + 1; i > 0; i-- {
				if g.n(3) == 0 {
					trace = g.TraceID()
				}
				g.span(ss.Spans().AppendEmpty(), trace)
			}
		}
	}
	return td
}

func (g *Gen) span(sp ptrace.Span, trace pcommon.TraceID) {
	sp.SetTraceID(trace)
	sp.SetSpanID(g.SpanID())
	if g.n(3) != 0 {
		sp.SetParentSpanID(g.SpanID())
	}
	sp.SetName(g.Str())
	sp.SetKind(ptrace.SpanKind(g.n(6)))
	start := uint64(1_700_000_000_000_000_000) + uint64(g.R.Int64N(1e15))
	sp.SetStartTimestamp(pcommon.Timestamp(start))
	sp.SetEndTimestamp(pcommon.Timestamp(start + uint64(g.n(1e9))))
	if g.n(4) == 0 {
		sp.SetFlags(uint32(g.R.Uint32()))
	}
	switch g.n(4) {
	case 0:
		sp.TraceState().FromRaw("ot=th:c;rv:1a2b3c4d5e6f70,vendor=x")
	case 1:
		sp.TraceState().FromRaw(g.Str())
	}
	g.Attrs(sp.Attributes(), 8)
	sp.SetDroppedAttributesCount(uint32(g.n(2)))
	for i := g.n(3); i > 0; i-- {
		ev := sp.Events().AppendEmpty()
		ev.SetTimestamp(pcommon.Timestamp(start + uint64(g.n(1e6))))
		ev.SetName(g.Str())
		g.Attrs(ev.Attributes(), 3)
		ev.SetDroppedAttributesCount(uint32(g.n(2)))
	}
	sp.SetDroppedEventsCount(uint32(g.n(2)))
	for i := g.n(3); i > 0; i-- {
		l := sp.Links().AppendEmpty()
		l.SetTraceID(g.TraceID())
		l.SetSpanID(g.SpanID())
		l.TraceState().FromRaw(g.Str())
		l.SetFlags(uint32(g.n(3)))
		g.Attrs(l.Attributes(), 3)
		l.SetDroppedAttributesCount(uint32(g.n(2)))
	}
	sp.SetDroppedLinksCount(uint32(g.n(2)))
	sp.Status().SetCode(ptrace.StatusCode(g.n(3)))
	if g.n(2) == 0 {
		sp.Status().SetMessage(g.Str())
	}
}

// Metrics draws up to resources ResourceMetrics, each with up to scopes ScopeMetrics of up to
// metrics metrics of any of the five types, each with up to 4 points.
func (g *Gen) Metrics(resources, scopes, metrics int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for r := g.n(resources) + 1; r > 0; r-- {
		rm := md.ResourceMetrics().AppendEmpty()
		if g.n(6) != 0 {
			rm.Resource().Attributes().PutStr("service.name", []string{"checkout", "cart", "", "payments"}[g.n(4)])
		}
		g.Attrs(rm.Resource().Attributes(), 5)
		rm.Resource().SetDroppedAttributesCount(uint32(g.n(2)))
		if g.n(3) == 0 {
			rm.SetSchemaUrl(g.Str())
		}
		for s := g.n(scopes) + 1; s > 0; s-- {
			sm := rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(g.Str())
			sm.Scope().SetVersion(g.Str())
			g.Attrs(sm.Scope().Attributes(), 2)
			if g.n(4) == 0 {
				sm.SetSchemaUrl(g.Str())
			}
			for i := g.n(metrics) + 1; i > 0; i-- {
				g.metric(sm.Metrics().AppendEmpty())
			}
		}
	}
	return md
}

func (g *Gen) metric(m pmetric.Metric) {
	m.SetName("m" + strconv.Itoa(g.n(20)))
	m.SetDescription(g.Str())
	m.SetUnit([]string{"", "ms", "By", "{request}"}[g.n(4)])
	if g.n(5) == 0 {
		g.Attrs(m.Metadata(), 2)
	}
	points := g.n(4) + 1
	temporality := pmetric.AggregationTemporality(g.n(3))
	switch g.n(5) {
	case 0:
		dps := m.SetEmptyGauge().DataPoints()
		for i := 0; i < points; i++ {
			g.number(dps.AppendEmpty())
		}
	case 1:
		s := m.SetEmptySum()
		s.SetAggregationTemporality(temporality)
		s.SetIsMonotonic(g.n(2) == 0)
		for i := 0; i < points; i++ {
			g.number(s.DataPoints().AppendEmpty())
		}
	case 2:
		h := m.SetEmptyHistogram()
		h.SetAggregationTemporality(temporality)
		for i := 0; i < points; i++ {
			p := h.DataPoints().AppendEmpty()
			g.head(p.Attributes(), p.SetStartTimestamp, p.SetTimestamp, p.SetFlags)
			nb := []int{0, 1, 4}[g.n(3)] // 0: a histogram without buckets
			var count uint64
			for j := 0; j < nb; j++ {
				p.ExplicitBounds().Append(float64(j) * 10)
			}
			if nb > 0 {
				for j := 0; j <= nb; j++ {
					c := uint64(g.n(100))
					p.BucketCounts().Append(c)
					count += c
				}
			}
			p.SetCount(count)
			if g.n(4) != 0 {
				p.SetSum(g.double())
			}
			if g.n(3) != 0 {
				p.SetMin(g.double())
				p.SetMax(g.double())
			}
			g.exemplars(p.Exemplars())
		}
	case 3:
		h := m.SetEmptyExponentialHistogram()
		h.SetAggregationTemporality(temporality)
		for i := 0; i < points; i++ {
			p := h.DataPoints().AppendEmpty()
			g.head(p.Attributes(), p.SetStartTimestamp, p.SetTimestamp, p.SetFlags)
			p.SetScale(int32(g.n(20) - 10))
			p.SetZeroCount(uint64(g.n(5)))
			if g.n(3) == 0 {
				p.SetZeroThreshold(1e-9)
			}
			var count = p.ZeroCount()
			for _, b := range []pmetric.ExponentialHistogramDataPointBuckets{p.Positive(), p.Negative()} {
				b.SetOffset(int32(g.n(40) - 20))
				for j := g.n(6); j > 0; j-- {
					c := uint64(g.n(50))
					b.BucketCounts().Append(c)
					count += c
				}
			}
			p.SetCount(count)
			if g.n(4) != 0 {
				p.SetSum(g.double())
			}
			if g.n(3) != 0 {
				p.SetMin(g.double())
				p.SetMax(g.double())
			}
			g.exemplars(p.Exemplars())
		}
	case 4:
		dps := m.SetEmptySummary().DataPoints()
		for i := 0; i < points; i++ {
			p := dps.AppendEmpty()
			g.head(p.Attributes(), p.SetStartTimestamp, p.SetTimestamp, p.SetFlags)
			p.SetCount(uint64(g.n(1000)))
			p.SetSum(g.double())
			for j := g.n(4); j > 0; j-- {
				q := p.QuantileValues().AppendEmpty()
				q.SetQuantile(float64(j) / 4)
				q.SetValue(g.double())
			}
		}
	}
}

func (g *Gen) double() float64 {
	return []float64{0, 1.5, -2.25, math.NaN(), math.Inf(1), math.Inf(-1), g.R.NormFloat64() * 1000}[g.n(7)]
}

func (g *Gen) head(attrs pcommon.Map, start, ts func(pcommon.Timestamp), flags func(pmetric.DataPointFlags)) {
	g.Attrs(attrs, 5)
	t := uint64(1_700_000_000_000_000_000) + uint64(g.R.Int64N(1e15))
	if g.n(4) != 0 {
		start(pcommon.Timestamp(t - uint64(g.n(1e9))))
	}
	ts(pcommon.Timestamp(t))
	if g.n(8) == 0 {
		flags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	}
}

func (g *Gen) number(p pmetric.NumberDataPoint) {
	g.head(p.Attributes(), p.SetStartTimestamp, p.SetTimestamp, p.SetFlags)
	if g.n(2) == 0 {
		p.SetIntValue(g.R.Int64N(1e6) - 5e5)
	} else {
		p.SetDoubleValue(g.double())
	}
	g.exemplars(p.Exemplars())
}

func (g *Gen) exemplars(es pmetric.ExemplarSlice) {
	for i := g.n(3); i > 0; i-- {
		e := es.AppendEmpty()
		e.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + uint64(g.n(1e9))))
		if g.n(2) == 0 {
			e.SetIntValue(int64(g.n(100)))
		} else {
			e.SetDoubleValue(g.double())
		}
		if g.n(2) == 0 {
			e.SetTraceID(g.TraceID())
			e.SetSpanID(g.SpanID())
		}
		g.Attrs(e.FilteredAttributes(), 2)
	}
}

// Telemetrygen is n spans shaped like telemetrygen's defaults (and bench/cmd/weirload's): one
// resource (service.name=telemetrygen), scope "telemetrygen", traces of two spans, a SERVER
// "lets-go" and a CLIENT child "okey-dokey", with net.sock.peer.addr and peer.service
// attributes. The shape the end-to-end benchmarks send, for Go benchmarks of the same.
func (g *Gen) Telemetrygen(n int) ptrace.Traces { return g.TelemetrygenTraces(n, 2) }

// TelemetrygenTraces is Telemetrygen with traces of perTrace spans (weirload's -trace-spans):
// a SERVER root "lets-go" and CLIENT children "okey-dokey" of it.
func (g *Gen) TelemetrygenTraces(n, perTrace int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "telemetrygen")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("telemetrygen")
	start := pcommon.Timestamp(1_700_000_000_000_000_000)
	var tid pcommon.TraceID
	var parent pcommon.SpanID
	for i := 0; i < n; i++ {
		sp := ss.Spans().AppendEmpty()
		var sid pcommon.SpanID
		for j := range sid {
			sid[j] = byte(g.R.Uint32())
		}
		root := i%perTrace == 0
		if root {
			for j := range tid {
				tid[j] = byte(g.R.Uint32())
			}
			parent = sid
		}
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		sp.SetStartTimestamp(start)
		sp.SetEndTimestamp(start + 123_000)
		sp.Attributes().PutStr("net.sock.peer.addr", "1.2.3.4")
		if !root {
			sp.SetParentSpanID(parent)
			sp.SetName("okey-dokey")
			sp.SetKind(ptrace.SpanKindClient)
			sp.Attributes().PutStr("peer.service", "telemetrygen-server")
		} else {
			sp.SetName("lets-go")
			sp.SetKind(ptrace.SpanKindServer)
			sp.Attributes().PutStr("peer.service", "telemetrygen-client")
		}
	}
	return td
}
