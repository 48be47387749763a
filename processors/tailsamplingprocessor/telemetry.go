package tailsamplingprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// telemetry is the sampler's own metrics, from the meter it is given.
type telemetry struct {
	traces       metric.Int64Counter
	spans        metric.Int64Counter
	lateSpans    metric.Int64Counter
	traceCapHits metric.Int64Counter
	meter        metric.Meter

	// decidedOpts caches the attribute set of each (cause, kept, reason): building one per
	// decided trace was half the cost of a decision. Guarded by the sampler's mutex.
	decidedOpts map[decidedKey]metric.AddOption
}

type decidedKey struct {
	cause  string
	kept   bool
	reason string
}

var (
	keptOpt    = metric.WithAttributes(attribute.String("decision", "kept"))
	droppedOpt = metric.WithAttributes(attribute.String("decision", "dropped"))
)

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter("github.com/weirhq/weir/processors/tailsamplingprocessor")
	t := &telemetry{meter: m, decidedOpts: map[decidedKey]metric.AddOption{}}
	var err error
	if t.traces, err = m.Int64Counter("weir_tailsampling_traces_decided", metric.WithUnit("{trace}"),
		metric.WithDescription("Traces decided, by decision, reason and cause (complete, max_wait, trace_cap, memory, shutdown).")); err != nil {
		return nil, err
	}
	if t.spans, err = m.Int64Counter("weir_tailsampling_spans_decided", metric.WithUnit("{span}"),
		metric.WithDescription("Spans held until their trace was decided, by decision.")); err != nil {
		return nil, err
	}
	if t.lateSpans, err = m.Int64Counter("weir_tailsampling_late_spans", metric.WithUnit("{span}"),
		metric.WithDescription("Spans that arrived after their trace was decided and followed the decision.")); err != nil {
		return nil, err
	}
	if t.traceCapHits, err = m.Int64Counter("weir_tailsampling_trace_cap_reached", metric.WithUnit("{trace}"),
		metric.WithDescription("Traces decided early because they reached max_trace_bytes; their later spans follow the decision.")); err != nil {
		return nil, err
	}
	return t, nil
}

// observe registers the gauges of what is held right now.
func (t *telemetry) observe(ts *tailSampler) error {
	bytes, err := t.meter.Int64ObservableGauge("weir_tailsampling_buffered_bytes", metric.WithUnit("By"),
		metric.WithDescription("Bytes of spans held waiting for a decision."))
	if err != nil {
		return err
	}
	traces, err := t.meter.Int64ObservableGauge("weir_tailsampling_buffered_traces", metric.WithUnit("{trace}"),
		metric.WithDescription("Traces held waiting for a decision."))
	if err != nil {
		return err
	}
	_, err = t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		ts.mu.Lock()
		b, n := ts.held, len(ts.traces)
		ts.mu.Unlock()
		o.ObserveInt64(bytes, b)
		o.ObserveInt64(traces, int64(n))
		return nil
	}, bytes, traces)
	return err
}

func decisionAttr(keep bool) metric.AddOption {
	if keep {
		return keptOpt
	}
	return droppedOpt
}

// decided counts one decision. Callers hold the sampler's mutex.
func (t *telemetry) decided(cause string, d decision, reason string, spans int) {
	ctx := context.Background()
	k := decidedKey{cause, d.keep, reason}
	opt, ok := t.decidedOpts[k]
	if !ok {
		opt = metric.WithAttributes(attribute.String("cause", cause), attribute.Bool("kept", d.keep), attribute.String("reason", reason))
		t.decidedOpts[k] = opt
	}
	t.traces.Add(ctx, 1, opt)
	t.spans.Add(ctx, int64(spans), decisionAttr(d.keep))
}
