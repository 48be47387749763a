package tailsample

import (
	"context"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weirhq/weir/internal/sampleweight"
)

// Decision is why the sampler kept a trace, to be recorded with its spans: the reason
// (policy name, "late_" + it when late spans made it match after a drop) and, when the
// probabilistic baseline kept it, the threshold to write into the spans' tracestate (th), so
// each span carries its adjusted count.
type Decision struct {
	Reason     string
	Threshold  sampling.Threshold
	ByBaseline bool
}

// Output receives what the sampler keeps.
type Output interface {
	// Keep takes kept spans, of one or more traces, as one OTLP TracesData message, and each
	// trace's decision. Neither is used after Keep returns.
	Keep(ctx context.Context, spans []byte, decisions map[pcommon.TraceID]Decision) error
}

// batch collects what a decision round or a batch of late spans keeps: spans as
// concatenated protobuf messages (which protobuf reads as one), and each trace's decision.
type batch struct {
	buf       []byte
	decisions map[pcommon.TraceID]Decision
}

// add queues a trace's spans held as frames, decompressed.
func (b *batch) add(id pcommon.TraceID, frames []byte, d Decision) error {
	var err error
	if b.buf, err = appendDecoded(b.buf, frames); err != nil {
		return err
	}
	b.decide(id, d)
	return nil
}

// addRaw queues spans given as a TracesData message.
func (b *batch) addRaw(id pcommon.TraceID, msg []byte, d Decision) {
	b.buf = append(b.buf, msg...)
	b.decide(id, d)
}

func (b *batch) decide(id pcommon.TraceID, d Decision) {
	if b.decisions == nil {
		b.decisions = map[pcommon.TraceID]Decision{}
	}
	b.decisions[id] = d
}

// flush hands b to the output.
func (s *Sampler) flush(ctx context.Context, b *batch) error {
	if len(b.buf) == 0 {
		return nil
	}
	return s.out.Keep(ctx, b.buf, b.decisions)
}

// PdataOutput is the Output of a collector processor: it decodes kept spans into pdata, marks
// each with its decision (the reason attribute reasonKey, "" for none, and th in tracestate)
// and passes them to next.
func PdataOutput(next consumer.Traces, reasonKey string) Output {
	return &pdataOutput{next: next, key: reasonKey}
}

type pdataOutput struct {
	next consumer.Traces
	key  string
}

func (o *pdataOutput) Keep(ctx context.Context, spans []byte, decisions map[pcommon.TraceID]Decision) error {
	td, err := unmarshaler.UnmarshalTraces(spans)
	if err != nil {
		// The sampler framed these bytes from messages that decoded: a bug, not bad input.
		return err
	}
	rss := td.ResourceSpans()
	for r := 0; r < rss.Len(); r++ {
		sss := rss.At(r).ScopeSpans()
		for i := 0; i < sss.Len(); i++ {
			sps := sss.At(i).Spans()
			for k := 0; k < sps.Len(); k++ {
				sp := sps.At(k)
				d := decisions[sp.TraceID()]
				if o.key != "" {
					sp.Attributes().PutStr(o.key, d.Reason)
				}
				if d.ByBaseline {
					sp.TraceState().FromRaw(sampleweight.WithThreshold(sp.TraceState().AsRaw(), d.Threshold))
				}
			}
		}
	}
	return o.next.ConsumeTraces(ctx, td)
}

var unmarshaler = &ptrace.ProtoUnmarshaler{}
