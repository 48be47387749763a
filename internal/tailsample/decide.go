package tailsample

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Reasons a trace is kept; their order is the order policies run in.
const (
	reasonDropped uint8 = iota
	reasonError
	reasonLatency
	reasonSpanCount
	reasonBaseline
	reasonAttributeBase // reasonAttributeBase+i: attribute policy i
)

// decision is the outcome for one trace. threshold is set when the baseline kept it. late is
// set when a trace first dropped was kept after all because spans that came after the
// decision made a policy match (a late error, say): its reason is then "late_<policy>".
type decision struct {
	keep      bool
	late      bool
	reason    uint8
	threshold sampling.Threshold
	byBase    bool
}

// encode packs d for the decision cache: keep and late, reason, and the threshold's 56 bits.
func (d decision) encode(dst []byte) []byte {
	var b [10]byte
	if d.keep {
		b[0] = 1
	}
	if d.late {
		b[0] |= 2
	}
	b[1] = d.reason
	if d.byBase {
		binary.LittleEndian.PutUint64(b[2:], d.threshold.Unsigned()+1) // +1: 0 means none
	}
	return append(dst, b[:]...)
}

func decodeDecision(b []byte) (decision, bool) {
	if len(b) != 10 {
		return decision{}, false
	}
	d := decision{keep: b[0]&1 != 0, late: b[0]&2 != 0, reason: b[1]}
	if u := binary.LittleEndian.Uint64(b[2:]); u > 0 {
		th, err := sampling.UnsignedToThreshold(u - 1)
		if err != nil {
			return decision{}, false
		}
		d.threshold, d.byBase = th, true
	}
	return d, true
}

// policies are the compiled, immutable parts of the config.
type policies struct {
	errors    bool
	traceLat  uint64
	spanLat   uint64
	attrs     []attrMatcher
	spanCount int
	baseline  float64
	budgets   BudgetPolicy
}

func newPolicies(cfg *Config) *policies {
	return &policies{
		errors:    cfg.Errors.Enabled,
		traceLat:  uint64(cfg.Latency.TraceThreshold),
		spanLat:   uint64(cfg.Latency.SpanThreshold),
		attrs:     newAttrMatchers(cfg.Attributes),
		spanCount: cfg.SpanCount.Min,
		baseline:  cfg.Baseline.Probability,
		budgets:   cfg.Budgets,
	}
}

// mustKeep runs the policies that keep a trace whatever its randomness, in order.
func (p *policies) mustKeep(s *summary) (uint8, bool) {
	if p.errors && s.hasError {
		return reasonError, true
	}
	if p.traceLat > 0 && s.maxEnd > s.minStart && s.maxEnd-s.minStart > p.traceLat {
		return reasonLatency, true
	}
	if p.spanLat > 0 && s.maxSpanDur > p.spanLat {
		return reasonLatency, true
	}
	if s.attrMask != 0 {
		for i := range p.attrs {
			if s.attrMask&(1<<i) != 0 {
				return reasonAttributeBase + uint8(i), true
			}
		}
	}
	if p.spanCount > 0 && s.spans >= p.spanCount {
		return reasonSpanCount, true
	}
	return reasonDropped, false
}

// baselineDecision applies the consistent-probability baseline with probability prob.
func baselineDecision(id pcommon.TraceID, s *summary, prob float64) decision {
	if prob <= 0 {
		return decision{}
	}
	th, err := thresholdFor(prob)
	if err != nil {
		return decision{}
	}
	rnd := sampling.TraceIDToRandomness(id)
	if s.hasRV {
		rnd = s.rv
	}
	if !th.ShouldSample(rnd) {
		return decision{}
	}
	return decision{keep: true, reason: reasonBaseline, threshold: th, byBase: true}
}

// thresholdFor rounds prob to a threshold with 4 significant hex digits, so th values stay
// short in tracestate and a budget that moves a little does not change them at every trace.
func thresholdFor(prob float64) (sampling.Threshold, error) {
	if prob >= 1 {
		return sampling.AlwaysSampleThreshold, nil
	}
	return sampling.ProbabilityToThresholdWithPrecision(prob, 4)
}

// budget estimates the rate of spans reaching the baseline for one service and turns the
// configured cap into a probability. Not safe for concurrent use; the store's lock guards it.
type budget struct {
	limit       float64 // spans per second the baseline may keep
	windowStart time.Time
	windowSpans float64
	rate        float64 // spans per second reaching the baseline, smoothed
}

const budgetWindow = time.Second

// probability returns the baseline probability capped so the expected kept spans per second
// stay within the limit, after counting spans into the rate estimate.
func (b *budget) probability(now time.Time, spans int, base float64) float64 {
	if b.windowStart.IsZero() {
		b.windowStart = now
	}
	b.windowSpans += float64(spans)
	if el := now.Sub(b.windowStart); el >= budgetWindow {
		r := b.windowSpans / el.Seconds()
		if b.rate == 0 {
			b.rate = r
		} else {
			b.rate = 0.5*b.rate + 0.5*r
		}
		b.windowStart, b.windowSpans = now, 0
	}
	// Until a full window has passed, the spans seen so far are the best estimate of a
	// second's worth: a burst at start-up is capped instead of let through.
	rate := math.Max(b.rate, b.windowSpans)
	if rate <= 0 || b.limit <= 0 {
		return base
	}
	return math.Min(base, b.limit/rate)
}
