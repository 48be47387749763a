package tailsample

import (
	"errors"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weirhq/weir/internal/otlpwire"
)

// group is the spans of one trace from one incoming batch.
type group struct {
	id   pcommon.TraceID
	sum  summary
	buf  []byte // the group's spans as one frame, when it goes to the store
	size int    // what the group's spans take held: their bytes by reference, else the frame's
	late bool   // the trace was decided already
	// uncached: no decision was in the cache when Consume first looked.
	uncached bool

	head, tail int // the group's spans: indexes into groups.refs, linked by next; -1 for none
}

// groups splits a batch by trace. Each trace's spans are byte ranges of the batch's protobuf,
// re-framed per trace (message) without building pdata per trace: building a ptrace.Traces
// per trace and marshalling each was most of the work (bench/tailsampling
// BenchmarkIngest_Weir, 2.7 allocations a span before, 0.3 after).
// Reused through a pool; not safe for concurrent use.
type groups struct {
	index   map[pcommon.TraceID]int
	list    []group
	scratch []byte // compression buffer, reused across batches

	reader   otlpwire.Traces
	req      []byte  // the batch
	spanOf   []int32 // group of each span, in the batch's order; -1 for none
	refs     []spanRef
	resource []wireMsg   // each ResourceSpans of req: its fields other than scope_spans
	scope    []wireMsg   // each ScopeSpans of req: its fields other than spans
	rsFields []byteRange // the fields resource point into
	ssFields []byteRange // the fields scope point into
	runs     []run
	msg      []byte // one group's TracesData, reused
	want     []bool // ordinals wanted by a batch (readBack), reused

	// While splitting (begin to end):
	matchers []attrMatcher
	lastID   pcommon.TraceID // the trace of the span before, and its group (-1: none)
	last     int
	invalid  int // spans without usable IDs
	visit    func(res *otlpwire.Resource, service []byte, sc *otlpwire.Scope, sp *otlpwire.Span)
}

// byteRange is [off, end) of groups.req.
type byteRange struct{ off, end int }

// spanRef is one span of req: its Span message, and where it was.
type spanRef struct {
	span   byteRange
	rs, ss int // indexes into groups.resource and groups.scope
	next   int // next span of the same group, -1 at the end
}

// wireMsg is a ResourceSpans or ScopeSpans message without its repeated children: the fields
// in rsFields or ssFields [first:end], of which the first pre come before the first child.
// Written back in that order with some of the children in between, it is the message the
// marshaler writes for a copy holding only those children.
type wireMsg struct{ first, pre, end int }

// run is spans of one group next to each other in one ScopeSpans.
type run struct {
	rs, ss     int
	first, n   int  // first ref, and how many spans from there on (following next)
	ssLen      int  // the ScopeSpans message's length
	rsLen      int  // for the first run of a ResourceSpans: that message's length; else 0
	rsContinue bool // same ResourceSpans as the run before
}

// maxPooledBuf bounds the scratch message a pooled groups keeps: one giant trace should not
// pin its size in every pooled groups.
const maxPooledBuf = 4 << 20

var groupsPool = sync.Pool{New: func() any {
	g := &groups{index: map[pcommon.TraceID]int{}}
	g.visit = func(res *otlpwire.Resource, service []byte, _ *otlpwire.Scope, sp *otlpwire.Span) {
		g.add(res, service, sp)
	}
	return g
}}

func getGroups() *groups { return groupsPool.Get().(*groups) }

func putGroups(g *groups) {
	clear(g.index)
	clear(g.list)
	g.list = g.list[:0]
	g.req = nil // the batch's bytes may be large; let them go
	g.matchers = nil
	if cap(g.msg) > maxPooledBuf {
		g.msg = nil
	}
	groupsPool.Put(g)
}

// split reads req, an OTLP TracesData (or ExportTraceServiceRequest) message, assigns every
// span with usable IDs to the group of its trace, folding it into the group's summary, and
// finds each span's bytes in req. Spans without usable IDs (otlpwire.Span.ValidIDs) belong to
// no group; invalid counts them. req is read, not changed, and must stay as it is until
// g is put back.
func (g *groups) split(req []byte, m []attrMatcher) (invalid int, err error) {
	g.begin(req, m)
	r := &g.reader
	r.Reset(req)
	for r.NextResource() {
		res := r.Resource()
		service, ok := otlpwire.ServiceName(res.Attrs)
		if !ok {
			service = nil
		}
		for r.NextScope() {
			for r.NextSpan() {
				g.add(res, service, r.Span())
			}
		}
	}
	if err := r.Err(); err != nil {
		return g.invalid, err
	}
	return g.invalid, g.end()
}

// begin starts splitting req, whose spans are then given to add in the order otlpwire reads
// them, then end. split does the reading itself; Split lets another reader of the request
// (RED) do it, so the request is read once.
func (g *groups) begin(req []byte, m []attrMatcher) {
	g.spanOf = g.spanOf[:0]
	g.req = req
	g.matchers = m
	g.last, g.invalid = -1, 0
}

// add takes the next span of the request: service is its resource's service.name, nil when
// it has none.
func (g *groups) add(res *otlpwire.Resource, service []byte, sp *otlpwire.Span) {
	if !sp.ValidIDs() {
		g.invalid++
		g.spanOf = append(g.spanOf, -1)
		return
	}
	id := pcommon.TraceID(sp.TraceID)
	if g.last < 0 || id != g.lastID {
		k, ok := g.index[id]
		if !ok {
			k = len(g.list)
			g.index[id] = k
			g.list = append(g.list, group{id: id, head: -1, tail: -1})
		}
		g.last, g.lastID = k, id
	}
	g.list[g.last].sum.addSpan(sp, service, res.Attrs, g.matchers)
	g.spanOf = append(g.spanOf, int32(g.last))
}

// end finds the bytes of the spans given to add.
func (g *groups) end() error { return g.slice() }

// Protobuf field numbers of the OTLP messages walked here; each is the repeated child.
const (
	fieldResourceSpans protowire.Number = 1 // TracesData.resource_spans
	fieldScopeSpans    protowire.Number = 2 // ResourceSpans.scope_spans
	fieldSpans         protowire.Number = 2 // ScopeSpans.spans
	// ResourceSpans.instrumentation_library_spans, deprecated since OTLP 0.15. As pdata reads
	// it (and otlpwire), it stands for scope_spans in a ResourceSpans that has none, and is
	// ignored otherwise; a trace's message carries it as scope_spans.
	fieldDeprecatedScopeSpans protowire.Number = 1000
)

var errWire = errors.New("tail sampler: the batch's spans were not where its first reading found them")

// slice walks g.req to each span, and links each span to its group (spanOf, in the order
// otlpwire read them in split).
func (g *groups) slice() error {
	if err := g.walk(); err != nil {
		return err
	}
	if len(g.refs) != len(g.spanOf) {
		return errWire
	}
	for i := range g.refs {
		if g.spanOf[i] < 0 {
			continue // no usable IDs: in no group
		}
		gr := &g.list[g.spanOf[i]]
		if gr.tail < 0 {
			gr.head = i
		} else {
			g.refs[gr.tail].next = i
		}
		gr.tail = i
	}
	return nil
}

// walk finds every span of g.req (refs, in the order otlpwire reads them) and the fields
// of the messages around them.
func (g *groups) walk() error {
	g.refs, g.resource, g.scope = g.refs[:0], g.resource[:0], g.scope[:0]
	g.rsFields, g.ssFields = g.rsFields[:0], g.ssFields[:0]
	req := g.req
	pos := 0
	for pos < len(req) {
		num, typ, vOff, vEnd, err := nextField(req, pos)
		if err != nil {
			return err
		}
		pos = vEnd
		if num != fieldResourceSpans || typ != protowire.BytesType {
			continue // TracesData has no other field the marshaler writes
		}
		if err := g.sliceResource(vOff, vEnd); err != nil {
			return err
		}
	}
	return nil
}

// spanBytes is the size of gr's spans in the request.
func (g *groups) spanBytes(gr *group) int {
	n := 0
	for i := gr.head; i >= 0; i = g.refs[i].next {
		n += g.refs[i].span.end - g.refs[i].span.off
	}
	return n
}

// messageOf is message for the spans of g.req at the ordinals marked in want (in the order
// walk found them): what a batch keeps of one request it refers to.
func (g *groups) messageOf(want []bool) []byte {
	gr := group{head: -1, tail: -1}
	for i, ok := range want {
		if !ok {
			continue
		}
		g.refs[i].next = -1
		if gr.tail < 0 {
			gr.head = i
		} else {
			g.refs[gr.tail].next = i
		}
		gr.tail = i
	}
	if gr.head < 0 {
		return nil
	}
	return g.message(&gr)
}

func (g *groups) sliceResource(off, end int) error {
	rs := len(g.resource)
	g.resource = append(g.resource, wireMsg{first: len(g.rsFields), pre: -1})
	scopes := fieldScopeSpans
	if !hasField(g.req[off:end], fieldScopeSpans) {
		scopes = fieldDeprecatedScopeSpans
	}
	for pos := off; pos < end; {
		num, typ, vOff, vEnd, err := nextField(g.req[:end], pos)
		if err != nil {
			return err
		}
		if num == fieldDeprecatedScopeSpans && scopes != fieldDeprecatedScopeSpans {
			pos = vEnd
			continue
		}
		if num == scopes && typ == protowire.BytesType {
			if g.resource[rs].pre < 0 {
				g.resource[rs].pre = len(g.rsFields) - g.resource[rs].first
			}
			if err := g.sliceScope(rs, vOff, vEnd); err != nil {
				return err
			}
		} else {
			g.rsFields = append(g.rsFields, byteRange{pos, vEnd})
		}
		pos = vEnd
	}
	g.resource[rs].end = len(g.rsFields)
	if g.resource[rs].pre < 0 {
		g.resource[rs].pre = g.resource[rs].end - g.resource[rs].first
	}
	return nil
}

func (g *groups) sliceScope(rs, off, end int) error {
	ss := len(g.scope)
	g.scope = append(g.scope, wireMsg{first: len(g.ssFields), pre: -1})
	for pos := off; pos < end; {
		num, typ, vOff, vEnd, err := nextField(g.req[:end], pos)
		if err != nil {
			return err
		}
		if num == fieldSpans && typ == protowire.BytesType {
			if g.scope[ss].pre < 0 {
				g.scope[ss].pre = len(g.ssFields) - g.scope[ss].first
			}
			g.refs = append(g.refs, spanRef{span: byteRange{vOff, vEnd}, rs: rs, ss: ss, next: -1})
		} else {
			g.ssFields = append(g.ssFields, byteRange{pos, vEnd})
		}
		pos = vEnd
	}
	g.scope[ss].end = len(g.ssFields)
	if g.scope[ss].pre < 0 {
		g.scope[ss].pre = g.scope[ss].end - g.scope[ss].first
	}
	return nil
}

// hasField reports whether the message b has a length-delimited field num.
func hasField(b []byte, num protowire.Number) bool {
	for pos := 0; pos < len(b); {
		n, typ, _, end, err := nextField(b, pos)
		if err != nil {
			return false
		}
		if n == num && typ == protowire.BytesType {
			return true
		}
		pos = end
	}
	return false
}

// nextField reads the field at b[pos:]: its number and wire type, and where its value is
// (for a length-delimited field, its contents; vEnd is where the next field starts).
func nextField(b []byte, pos int) (num protowire.Number, typ protowire.Type, vOff, vEnd int, err error) {
	num, typ, contents, n := otlpwire.ConsumeField(b[pos:])
	if n < 0 {
		return 0, 0, 0, 0, errWire
	}
	vEnd = pos + n
	vOff = vEnd // a field without contents: nothing in it to walk
	if typ == protowire.BytesType {
		vOff = vEnd - len(contents)
	}
	return num, typ, vOff, vEnd, nil
}

// message returns gr's spans as one TracesData message, in a buffer reused by the next call:
// a ResourceSpans per run of its spans in one ResourceSpans of the batch, a ScopeSpans per run
// in one ScopeSpans, their other fields copied: the bytes the marshaler writes for a
// ptrace.Traces of those spans alone, built that way (TestSplitBytesEqualsPdataSplit).
func (g *groups) message(gr *group) []byte {
	// Lengths first: each message is prefixed by its length.
	g.runs = g.runs[:0]
	rsRun := -1
	for i := gr.head; i >= 0; i = g.refs[i].next {
		ref := &g.refs[i]
		if n := len(g.runs); n > 0 && g.runs[n-1].rs == ref.rs && g.runs[n-1].ss == ref.ss {
			g.runs[n-1].n++
			g.runs[n-1].ssLen += sizeField(ref.span.end - ref.span.off)
			continue
		}
		r := run{rs: ref.rs, ss: ref.ss, first: i, n: 1, ssLen: sizeField(ref.span.end - ref.span.off)}
		r.ssLen += fieldsLen(g.ssFields, g.scope[ref.ss])
		if n := len(g.runs); n > 0 && g.runs[n-1].rs == ref.rs {
			r.rsContinue = true
		}
		g.runs = append(g.runs, r)
	}
	for i := range g.runs {
		if !g.runs[i].rsContinue {
			rsRun = i
			g.runs[i].rsLen = fieldsLen(g.rsFields, g.resource[g.runs[i].rs])
		}
		g.runs[rsRun].rsLen += sizeField(g.runs[i].ssLen)
	}
	b := g.msg[:0]
	for i := 0; i < len(g.runs); {
		rsm := g.resource[g.runs[i].rs]
		b = appendLen(b, fieldResourceSpans, g.runs[i].rsLen)
		b = g.appendFields(b, g.rsFields, rsm.first, rsm.first+rsm.pre)
		for {
			r := &g.runs[i]
			ssm := g.scope[r.ss]
			b = appendLen(b, fieldScopeSpans, r.ssLen)
			b = g.appendFields(b, g.ssFields, ssm.first, ssm.first+ssm.pre)
			for j, k := r.first, 0; k < r.n; j, k = g.refs[j].next, k+1 {
				sp := g.refs[j].span
				b = appendLen(b, fieldSpans, sp.end-sp.off)
				b = append(b, g.req[sp.off:sp.end]...)
			}
			b = g.appendFields(b, g.ssFields, ssm.first+ssm.pre, ssm.end)
			i++
			if i == len(g.runs) || !g.runs[i].rsContinue {
				break
			}
		}
		b = g.appendFields(b, g.rsFields, rsm.first+rsm.pre, rsm.end)
	}
	g.msg = b
	return b
}

func fieldsLen(fields []byteRange, m wireMsg) int {
	n := 0
	for _, f := range fields[m.first:m.end] {
		n += f.end - f.off
	}
	return n
}

func (g *groups) appendFields(b []byte, fields []byteRange, from, to int) []byte {
	for _, f := range fields[from:to] {
		b = append(b, g.req[f.off:f.end]...)
	}
	return b
}

// sizeField is the size of a length-delimited field of n bytes with a one-byte tag.
func sizeField(n int) int { return 1 + protowire.SizeBytes(n) }

// appendLen appends the tag and length of a length-delimited field numbered num.
func appendLen(b []byte, num protowire.Number, n int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(n))
}
