package tailsamplingprocessor

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weirhq/weir/internal/sampleweight"
)

// batch collects what a decision round forwards: kept traces as concatenated protobuf, and
// late spans of kept traces as they came.
type batch struct {
	buf       []byte
	decisions map[pcommon.TraceID]decision
	direct    []ptrace.Traces
}

// add queues a kept trace: its frames are decompressed into b.buf, one protobuf message.
func (b *batch) add(id pcommon.TraceID, frames []byte, d decision) error {
	if b.decisions == nil {
		b.decisions = map[pcommon.TraceID]decision{}
	}
	var err error
	if b.buf, err = appendDecoded(b.buf, frames); err != nil {
		return err
	}
	b.decisions[id] = d
	return nil
}

// flush sends b downstream: one ConsumeTraces for all kept traces, one per late batch.
func (ts *tailSampler) flush(ctx context.Context, b *batch) error {
	var errs []error
	if len(b.buf) > 0 {
		td, err := unmarshaler.UnmarshalTraces(b.buf)
		if err != nil {
			// Our own marshalling made these bytes; failing here is a bug, not bad input.
			errs = append(errs, err)
		} else {
			ts.annotateAll(td, b.decisions)
			errs = append(errs, ts.next.ConsumeTraces(ctx, td))
		}
	}
	for _, td := range b.direct {
		errs = append(errs, ts.next.ConsumeTraces(ctx, td))
	}
	return errors.Join(errs...)
}

// annotateAll marks every span of td with its trace's decision.
func (ts *tailSampler) annotateAll(td ptrace.Traces, ds map[pcommon.TraceID]decision) {
	key := ts.cfg.ReasonAttribute
	forEachSpan(td, func(sp ptrace.Span) {
		d := ds[sp.TraceID()]
		annotateSpan(sp, d, ts.reasonOf(d), key)
	})
}

// annotate marks every span of td with d.
func annotate(td ptrace.Traces, d decision, reason, key string) {
	forEachSpan(td, func(sp ptrace.Span) { annotateSpan(sp, d, reason, key) })
}

func annotateSpan(sp ptrace.Span, d decision, reason, key string) {
	if key != "" {
		sp.Attributes().PutStr(key, reason)
	}
	if d.byBase {
		sp.TraceState().FromRaw(sampleweight.WithThreshold(sp.TraceState().AsRaw(), d.threshold))
	}
}

func forEachSpan(td ptrace.Traces, f func(ptrace.Span)) {
	rss := td.ResourceSpans()
	for r := 0; r < rss.Len(); r++ {
		sss := rss.At(r).ScopeSpans()
		for s := 0; s < sss.Len(); s++ {
			spans := sss.At(s).Spans()
			for i := 0; i < spans.Len(); i++ {
				f(spans.At(i))
			}
		}
	}
}
