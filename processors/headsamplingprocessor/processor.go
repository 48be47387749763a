package headsamplingprocessor

import (
	"context"
	"fmt"
	"strings"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// declarer writes each listed service's threshold into the tracestate of its spans. It holds
// no state that changes, so it is safe for concurrent use.
type declarer struct {
	thresholds map[string]sampling.Threshold
}

func newDeclarer(cfg *Config) (*declarer, error) {
	d := &declarer{thresholds: make(map[string]sampling.Threshold, len(cfg.Services))}
	for s, p := range cfg.Services {
		th, err := sampling.ProbabilityToThresholdWithPrecision(p, 4)
		if err != nil {
			return nil, fmt.Errorf("services[%s]: %w", s, err)
		}
		d.thresholds[s] = th
	}
	return d, nil
}

func (d *declarer) process(_ context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	if len(d.thresholds) == 0 {
		return td, nil
	}
	rss := td.ResourceSpans()
	for r := 0; r < rss.Len(); r++ {
		rs := rss.At(r)
		svc, ok := rs.Resource().Attributes().Get("service.name")
		if !ok {
			continue
		}
		th, ok := d.thresholds[svc.Str()]
		if !ok {
			continue
		}
		sss := rs.ScopeSpans()
		for s := 0; s < sss.Len(); s++ {
			spans := sss.At(s).Spans()
			for i := 0; i < spans.Len(); i++ {
				ts := spans.At(i).TraceState()
				if raw, changed := declare(ts.AsRaw(), th); changed {
					ts.FromRaw(raw)
				}
			}
		}
	}
	return td, nil
}

// declare returns raw with the threshold th in its ot entry, unless a threshold is there
// already. A tracestate that does not parse is left alone: weir counts such a span as 1, and
// overwriting another vendor's entries would lose them.
func declare(raw string, th sampling.Threshold) (string, bool) {
	if raw == "" {
		return "ot=th:" + th.TValue(), true
	}
	w3c, err := sampling.NewW3CTraceState(raw)
	if err != nil || w3c.OTelValue().TValue() != "" {
		return raw, false
	}
	if err := w3c.OTelValue().UpdateTValueWithSampling(th); err != nil {
		return raw, false
	}
	var sb strings.Builder
	if err := w3c.Serialize(&sb); err != nil {
		return raw, false
	}
	// The ot entry can take a tracestate past the limits (32 entries, 1024 bytes, 256 for the
	// ot value), and then nobody could read it: leave such a tracestate alone.
	if _, err := sampling.NewW3CTraceState(sb.String()); err != nil {
		return raw, false
	}
	return sb.String(), true
}
