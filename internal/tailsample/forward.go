package tailsample

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

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
// Spans held by reference are read back from the Source when the batch is flushed, each
// request once.
type batch struct {
	buf       []byte
	decisions map[pcommon.TraceID]Decision
	refs      []heldRef
	ords      []int // the ordinals of refs, back to back
}

// batches are reused from flush to flush: a batch's buffer grew anew each time
// (BenchmarkEngine_Traces/sampled10 allocated 18 % fewer bytes a request with them pooled).
var batches = sync.Pool{New: func() any { return new(batch) }}

func getBatch() *batch { return batches.Get().(*batch) }

// putBatch empties b and pools it, unless a burst made it large.
func putBatch(b *batch) {
	if cap(b.buf) > maxPooledBuf || len(b.decisions) > 4096 || cap(b.refs) > 1<<14 || cap(b.ords) > 1<<18 {
		return
	}
	b.buf, b.refs, b.ords = b.buf[:0], b.refs[:0], b.ords[:0]
	clear(b.decisions)
	batches.Put(b)
}

// heldRef is spans of a kept trace still in the caller's log: the request at pos, the
// ordinals ords[from:to] in it.
type heldRef struct {
	pos      uint64
	from, to int
}

// add queues a trace's spans held as frames: decompressed, or to be read back.
func (b *batch) add(id pcommon.TraceID, frames []byte, d Decision) error {
	for len(frames) > 0 {
		kind, payload, rest, err := nextFrame(frames)
		if err != nil {
			return err
		}
		frames = rest
		if kind == frameS2 {
			if b.buf, err = appendDecoded(b.buf, payload); err != nil {
				return err
			}
			continue
		}
		from := len(b.ords)
		var pos uint64
		if pos, b.ords, err = readRef(payload, b.ords); err != nil {
			return err
		}
		b.refs = append(b.refs, heldRef{pos: pos, from: from, to: len(b.ords)})
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

// flush hands b to the output, reading back the spans it refers to first. Spans that cannot
// be read back are counted and logged, not returned: they belong to requests taken and
// acknowledged earlier, and the caller may be taking another request, already journaled and
// counted, which an error would have its sender send again, and stored twice.
func (ts *Sampler) flush(ctx context.Context, b *batch) error {
	if len(b.refs) > 0 {
		if lost, err := ts.readBack(b); err != nil {
			ts.tel.unreadable.Add(ctx, int64(lost))
			ts.logger.Error("kept spans could not be read back from the ingest log; they are lost",
				zap.Int("spans", lost), zap.Error(err))
		}
	}
	if len(b.buf) == 0 {
		return nil
	}
	return ts.out.Keep(ctx, b.buf, b.decisions)
}

// readBack appends to b.buf the spans b refers to, reading each request from the Source once.
// A request that cannot be read loses its kept spans: they are counted in lost and the error,
// and the others still go.
func (ts *Sampler) readBack(b *batch) (lost int, _ error) {
	slices.SortFunc(b.refs, func(x, y heldRef) int { return cmp.Compare(x.pos, y.pos) })
	g := getGroups()
	defer putGroups(g)
	bp := readBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledBuf {
			readBufs.Put(bp)
		}
	}()
	var errs []error
	var req []byte
	for i := 0; i < len(b.refs); {
		pos := b.refs[i].pos
		j := i + 1
		for j < len(b.refs) && b.refs[j].pos == pos {
			j++
		}
		group := b.refs[i:j]
		i = j
		var err error
		if req, err = ts.src.ReadRequest(pos, bp); err == nil {
			g.req = req
			err = g.walk()
		}
		if err == nil {
			want := slices.Grow(g.want[:0], len(g.refs))[:len(g.refs)]
			clear(want)
			for _, r := range group {
				for _, o := range b.ords[r.from:r.to] {
					if o >= len(want) {
						err = fmt.Errorf("span %d of a request of %d: %w", o, len(want), errFrame)
						break
					}
					want[o] = true
				}
			}
			g.want = want
			if err == nil {
				b.buf = append(b.buf, g.messageOf(want)...)
			}
		}
		if err != nil {
			n := 0
			for _, r := range group {
				n += r.to - r.from
			}
			lost += n
			errs = append(errs, fmt.Errorf("%d kept spans in the request at %d: %w", n, pos, err))
		}
	}
	return lost, errors.Join(errs...)
}

// readBufs are readBack's buffers for the requests it reads.
var readBufs = sync.Pool{New: func() any { return new([]byte) }}

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
