package tailsample

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
	upgrades     metric.Int64Counter
	invalidSpans metric.Int64Counter
	upgradedHeld metric.Int64Counter
	unreadable   metric.Int64Counter
	meter        metric.Meter

	// decidedOpts caches the attribute set of each (cause, kept, reason): building one per
	// decided trace was half the cost of a decision. pending counts decisions not yet added to
	// the counters: a locked section adds them once per key (flushDecided) instead of twice
	// per decided trace. Both guarded by the sampler's mutex.
	decidedOpts map[decidedKey]*decidedTally
	pending     []*decidedTally
}

type decidedKey struct {
	cause  string
	kept   bool
	reason uint8
}

type decidedTally struct {
	opt, spansOpt metric.AddOption
	traces, spans int64
}

var (
	keptOpt    = metric.WithAttributes(attribute.String("decision", "kept"))
	droppedOpt = metric.WithAttributes(attribute.String("decision", "dropped"))
)

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter("github.com/weirhq/weir/internal/tailsample")
	t := &telemetry{meter: m, decidedOpts: map[decidedKey]*decidedTally{}}
	var err error
	if t.traces, err = m.Int64Counter("weir_tailsampling_traces_decided", metric.WithUnit("{trace}"),
		metric.WithDescription("Traces decided, by decision, reason and cause (complete, max_wait, trace_cap, memory, journal, shutdown).")); err != nil {
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
	if t.invalidSpans, err = m.Int64Counter("weir_tailsampling_invalid_spans", metric.WithUnit("{span}"),
		metric.WithDescription("Spans dropped because they had no usable trace or span ID (missing, all zero or of the wrong length): no trace to judge them with.")); err != nil {
		return nil, err
	}
	if t.upgrades, err = m.Int64Counter("weir_tailsampling_traces_upgraded", metric.WithUnit("{trace}"),
		metric.WithDescription("Traces first dropped, then kept after all because late spans made a policy match (reason late_<policy>).")); err != nil {
		return nil, err
	}
	if t.upgradedHeld, err = m.Int64Counter("weir_tailsampling_spans_upgraded", metric.WithUnit("{span}"),
		metric.WithDescription("Spans of dropped traces, still held within late_window, that were kept when a late span upgraded their trace.")); err != nil {
		return nil, err
	}
	if t.unreadable, err = m.Int64Counter("weir_tailsampling_spans_unreadable", metric.WithUnit("{span}"),
		metric.WithDescription("Spans of kept traces that could not be read back from weir's ingest log (a read error or a damaged record): lost, and logged.")); err != nil {
		return nil, err
	}
	return t, nil
}

// upgraded counts a trace kept after its drop; held is how many of its spans it still held.
func (t *telemetry) upgraded(ctx context.Context, reason string, held int) {
	t.upgrades.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
	t.upgradedHeld.Add(ctx, int64(held))
}

// observe registers the gauges of what is held right now.
func (t *telemetry) observe(ts *Sampler) error {
	bytes, err := t.meter.Int64ObservableGauge("weir_tailsampling_buffered_bytes", metric.WithUnit("By"),
		metric.WithDescription("Bytes of spans held: waiting for a decision, or dropped and kept for late_window in case a late span keeps the trace after all."))
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
		b, n := ts.held, ts.pending
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

// decided counts one decision; flushDecided adds it to the counters. Callers hold the
// sampler's mutex. reason names d.reason.
func (t *telemetry) decided(cause string, d decision, reason string, spans int) {
	k := decidedKey{cause, d.keep, d.reason}
	e, ok := t.decidedOpts[k]
	if !ok {
		e = &decidedTally{
			opt:      metric.WithAttributes(attribute.String("cause", cause), attribute.Bool("kept", d.keep), attribute.String("reason", reason)),
			spansOpt: decisionAttr(d.keep),
		}
		t.decidedOpts[k] = e
	}
	if e.traces == 0 {
		t.pending = append(t.pending, e)
	}
	e.traces++
	e.spans += int64(spans)
}

// flushDecided adds the decisions counted since the last call to the counters. Callers hold
// the sampler's mutex, and call it before they release it.
func (t *telemetry) flushDecided() {
	ctx := context.Background()
	for _, e := range t.pending {
		t.traces.Add(ctx, e.traces, e.opt)
		t.spans.Add(ctx, e.spans, e.spansOpt)
		e.traces, e.spans = 0, 0
	}
	clear(t.pending)
	t.pending = t.pending[:0]
}
