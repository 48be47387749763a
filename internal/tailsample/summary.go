package tailsample

import (
	"bytes"
	"regexp"
	"slices"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"

	"github.com/weirhq/weir/internal/anyvalue"
	"github.com/weirhq/weir/internal/otlpwire"
)

// summary is what the policies need to know about a trace, kept up to date as spans arrive.
// Every field merges with an order-independent operation (or, min, max, sum), so a decision
// does not depend on the order spans arrive in.
type summary struct {
	spans      int
	hasError   bool
	hasRoot    bool
	minStart   uint64
	maxEnd     uint64
	maxSpanDur uint64
	attrMask   uint64 // bit i: attribute policy i matched some span

	// rootService is the service of the root span; minService the smallest service name seen,
	// used when the root has not arrived (smallest, not first, so arrival order cannot matter).
	rootService string
	minService  string

	// rv is the explicit randomness from an rv: in tracestate, if any span carried one.
	rv    sampling.Randomness
	hasRV bool
}

func (s *summary) merge(o *summary) {
	if o.spans == 0 {
		return
	}
	if s.spans == 0 || o.minStart < s.minStart {
		s.minStart = o.minStart
	}
	if s.spans == 0 || o.minService < s.minService {
		s.minService = o.minService
	}
	s.spans += o.spans
	s.hasError = s.hasError || o.hasError
	if o.hasRoot {
		s.hasRoot = true
		s.rootService = o.rootService
	}
	s.maxEnd = max(s.maxEnd, o.maxEnd)
	s.maxSpanDur = max(s.maxSpanDur, o.maxSpanDur)
	s.attrMask |= o.attrMask
	if o.hasRV && (!s.hasRV || o.rv.Unsigned() < s.rv.Unsigned()) {
		s.rv, s.hasRV = o.rv, true
	}
}

func (s *summary) service() string {
	if s.hasRoot {
		return s.rootService
	}
	return s.minService
}

// addSpan folds one span into s; service and resAttrs are its resource's.
func (s *summary) addSpan(sp *otlpwire.Span, service []byte, resAttrs []otlpwire.KV, m []attrMatcher) {
	start, end := sp.Start, sp.End
	if s.spans == 0 || start < s.minStart {
		s.minStart = start
	}
	if s.spans == 0 || string(service) < s.minService {
		s.minService = string(service)
	}
	s.spans++
	s.maxEnd = max(s.maxEnd, end)
	if end > start {
		s.maxSpanDur = max(s.maxSpanDur, end-start)
	}
	if sp.StatusCode == statusError {
		s.hasError = true
	}
	if sp.IsRoot() {
		s.hasRoot = true
		s.rootService = string(service)
	}
	for i := range m {
		if s.attrMask&(1<<i) != 0 {
			continue
		}
		attrs := sp.Attrs
		if m[i].resource {
			attrs = resAttrs
		}
		if m[i].match(attrs) {
			s.attrMask |= 1 << i
		}
	}
	if bytes.Contains(sp.TraceState, rvKey) {
		if w3c, err := sampling.NewW3CTraceState(string(sp.TraceState)); err == nil {
			if rnd, ok := w3c.OTelValue().RValueRandomness(); ok && (!s.hasRV || rnd.Unsigned() < s.rv.Unsigned()) {
				s.rv, s.hasRV = rnd, true
			}
		}
	}
}

// statusError is opentelemetry.proto.trace.v1.Status.StatusCode STATUS_CODE_ERROR.
const statusError = 2

var rvKey = []byte("rv:")

// attrMatcher is a compiled AttributePolicy.
type attrMatcher struct {
	name     string
	key      string
	resource bool
	values   map[string]struct{}
	re       *regexp.Regexp
	min, max *float64
}

func newAttrMatchers(ps []AttributePolicy) []attrMatcher {
	out := make([]attrMatcher, len(ps))
	for i, p := range ps {
		m := attrMatcher{name: p.Name, key: p.Key, resource: p.Resource, min: p.Min, max: p.Max}
		if len(p.Values) > 0 {
			m.values = make(map[string]struct{}, len(p.Values))
			for _, v := range p.Values {
				m.values[v] = struct{}{}
			}
		}
		if p.Regex != "" {
			m.re = regexp.MustCompile(p.Regex) // Validate compiled it already
		}
		out[i] = m
	}
	return out
}

// match reports whether attrs has the policy's key (its first occurrence, as pcommon.Map.Get
// finds it) with a matching value.
func (m *attrMatcher) match(attrs []otlpwire.KV) bool {
	i := slices.IndexFunc(attrs, func(kv otlpwire.KV) bool { return string(kv.Key) == m.key })
	if i < 0 {
		return false
	}
	v := attrs[i].Value
	switch {
	case m.values != nil:
		if v.Type != anyvalue.TypeString {
			return false
		}
		_, ok := m.values[string(v.Bytes)]
		return ok
	case m.re != nil:
		return v.Type == anyvalue.TypeString && m.re.Match(v.Bytes)
	default:
		var f float64
		switch v.Type {
		case anyvalue.TypeInt:
			f = float64(v.Int())
		case anyvalue.TypeDouble:
			f = v.Double()
		default:
			return false
		}
		return (m.min == nil || f >= *m.min) && (m.max == nil || f <= *m.max)
	}
}
