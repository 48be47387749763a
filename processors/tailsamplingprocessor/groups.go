package tailsamplingprocessor

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var (
	marshaler   = &ptrace.ProtoMarshaler{}
	unmarshaler = &ptrace.ProtoUnmarshaler{}
)

// group is the spans of one trace from one incoming batch.
type group struct {
	id   pcommon.TraceID
	td   ptrace.Traces
	sum  summary
	buf  []byte // td marshalled, when it goes to the store
	late bool   // the trace was decided already

	srcRS, srcSS int
	dstRS        ptrace.ResourceSpans
	dstSS        ptrace.ScopeSpans
}

// groups splits a batch by trace. Reused through a pool; not safe for concurrent use.
type groups struct {
	index   map[pcommon.TraceID]int
	list    []group
	scratch []byte // compression buffer, reused across batches
}

var groupsPool = sync.Pool{New: func() any { return &groups{index: map[pcommon.TraceID]int{}} }}

func getGroups() *groups { return groupsPool.Get().(*groups) }

func putGroups(g *groups) {
	clear(g.index)
	clear(g.list) // drop references to the batches' spans
	g.list = g.list[:0]
	groupsPool.Put(g)
}

// split moves every span of td into the group of its trace, keeping resource and scope, and
// folds it into the group's summary.
func (g *groups) split(td ptrace.Traces, m []attrMatcher) {
	rss := td.ResourceSpans()
	for r := 0; r < rss.Len(); r++ {
		rs := rss.At(r)
		res := rs.Resource()
		service := serviceName(res.Attributes())
		sss := rs.ScopeSpans()
		for s := 0; s < sss.Len(); s++ {
			ss := sss.At(s)
			spans := ss.Spans()
			for i := 0; i < spans.Len(); i++ {
				sp := spans.At(i)
				id := sp.TraceID()
				k, ok := g.index[id]
				if !ok {
					k = len(g.list)
					g.index[id] = k
					g.list = append(g.list, group{id: id, td: ptrace.NewTraces(), srcRS: -1, srcSS: -1})
				}
				gr := &g.list[k]
				if gr.srcRS != r {
					gr.srcRS, gr.srcSS = r, -1
					gr.dstRS = gr.td.ResourceSpans().AppendEmpty()
					res.CopyTo(gr.dstRS.Resource())
					gr.dstRS.SetSchemaUrl(rs.SchemaUrl())
				}
				if gr.srcSS != s {
					gr.srcSS = s
					gr.dstSS = gr.dstRS.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(gr.dstSS.Scope())
					gr.dstSS.SetSchemaUrl(ss.SchemaUrl())
				}
				gr.sum.addSpan(sp, service, res.Attributes(), m)
				sp.MoveTo(gr.dstSS.Spans().AppendEmpty())
			}
		}
	}
}

func serviceName(attrs pcommon.Map) string {
	if v, ok := attrs.Get("service.name"); ok {
		return v.Str()
	}
	return ""
}

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

// appendFrame appends src to dst as one frame: its s2-compressed length, then the block. The
// block is compressed into scratch first, so dst grows by the compressed size only: held
// memory is counted by capacity.
func appendFrame(dst, src []byte, scratch *[]byte) []byte {
	if need := s2.MaxEncodedLen(len(src)); cap(*scratch) < need {
		*scratch = make([]byte, need)
	}
	enc := s2.Encode((*scratch)[:cap(*scratch)], src)
	dst = binary.AppendUvarint(dst, uint64(len(enc)))
	return append(dst, enc...)
}

// appendDecoded appends the decompressed contents of frames to dst.
func appendDecoded(dst, frames []byte) ([]byte, error) {
	for len(frames) > 0 {
		size, n := binary.Uvarint(frames)
		if n <= 0 || uint64(len(frames)-n) < size {
			return dst, errors.New("tail sampler: corrupt frame in a held trace")
		}
		block := frames[n : n+int(size)]
		frames = frames[n+int(size):]
		dl, err := s2.DecodedLen(block)
		if err != nil {
			return dst, err
		}
		start := len(dst)
		dst = slices.Grow(dst, dl)[:start+dl]
		if _, err := s2.Decode(dst[start:], block); err != nil {
			return dst[:start], err
		}
	}
	return dst, nil
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
		annotateSpan(sp, d, ts.reasonName(d.reason), key)
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
		sp.TraceState().FromRaw(withThreshold(sp.TraceState().AsRaw(), d.threshold))
	}
}

// withThreshold records th in a W3C tracestate's ot entry. A stricter threshold already
// there wins: the span passed it, so it is the probability that span was kept with. A
// tracestate that does not parse is replaced, since a weight nobody can read would count the
// span once instead of 1/p times.
func withThreshold(raw string, th sampling.Threshold) string {
	if th == sampling.AlwaysSampleThreshold && !strings.Contains(raw, "th:") {
		return raw
	}
	if raw == "" {
		return "ot=th:" + th.TValue()
	}
	w3c, err := sampling.NewW3CTraceState(raw)
	if err != nil {
		return "ot=th:" + th.TValue()
	}
	if err := w3c.OTelValue().UpdateTValueWithSampling(th); err != nil {
		return raw
	}
	var sb strings.Builder
	if err := w3c.Serialize(&sb); err != nil {
		return raw
	}
	return sb.String()
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
