package red

import (
	"context"
	"sync"
	"time"
	"unsafe"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/weirhq/weir/internal/anyvalue"
	"github.com/weirhq/weir/internal/otlpwire"
	"github.com/weirhq/weir/internal/sampleweight"
)

// OverflowName is the span name of the series that takes a service's spans once it has
// max_series_per_service series.
const OverflowName = "__overflow__"

// UnknownService names spans whose resource has no string service.name.
const UnknownService = "unknown_service"

// series is one RED series. Immutable but for lastSeen and the window cache.
type series struct {
	key      string
	service  string
	name     string
	kind     uint8
	status   uint8
	dimKeys  []string
	dimVals  []string
	lastSeen time.Time

	// The histogram of the series' last window, aggs[windowKey{win, s}], valid while gen
	// is the aggregator's aggGen (a flush empties aggs and moves aggGen on).
	win int64
	h   *hist
	gen uint64
}

type serviceSeries struct {
	name     string // the service, owned
	series   map[string]*series
	overflow map[[2]uint8]*series
}

// dimValue is one dimension's value for a span: its text (anyvalue's column form, as every
// attribute is stored); ok is false when neither the span nor its resource has it.
type dimValue struct {
	text []byte
	ok   bool
	pass uint32 // the readDims call that set it
}

// windowKey is a series in one window.
type windowKey struct {
	window int64 // window start, unix nanoseconds
	s      *series
}

// span is what the aggregator reads of one span, from either wire or pdata.
type span struct {
	name         []byte
	kind, status uint8
	start, end   uint64
	traceID      [16]byte
	spanID       [8]byte
	parentID     [8]byte
	weight       float64
	attrs        attrs
}

// Aggregator counts spans into RED series (requests, errors and a latency distribution per
// service, span name, kind, status and the configured dimensions, in windows of each span's
// end time) and service-graph edges. Consume may be called concurrently; one mutex guards the
// state, and spans only pass through it briefly. Flush takes the counts out.
type Aggregator struct {
	cfg    *Config
	logger *zap.Logger
	tel    *telemetry
	window int64

	mu       sync.Mutex
	services map[string]*serviceSeries
	aggs     map[windowKey]*hist
	aggGen   uint64 // moves on whenever aggs is emptied, invalidating series' window caches
	graph    *graph
	keyBuf   []byte
	histPool []*hist
	dimIndex map[string]int // dimension name -> position in cfg.Dimensions, for many dimensions
	pass     uint32         // readDims calls, never 0 (cleared dims have pass 0)
	resDims  []dimValue     // the current resource's dimension values
	spanDims []dimValue     // the current span's, resource values filled in
	text     []byte         // dimension values that are not strings, as text, per request
	reader   otlpwire.Traces
	spans    int64 // spans counted since the last Flush
}

// New returns an empty aggregator.
func New(cfg *Config, set component.TelemetrySettings) (*Aggregator, error) {
	tel, err := newTelemetry(set)
	if err != nil {
		return nil, err
	}
	a := &Aggregator{
		cfg:      cfg,
		logger:   set.Logger,
		tel:      tel,
		window:   int64(cfg.Window),
		services: map[string]*serviceSeries{},
		aggs:     map[windowKey]*hist{},
		dimIndex: map[string]int{},
		resDims:  make([]dimValue, len(cfg.Dimensions)),
		spanDims: make([]dimValue, len(cfg.Dimensions)),
	}
	for i, d := range cfg.Dimensions {
		a.dimIndex[d] = i
	}
	if cfg.ServiceGraph.Enabled {
		a.graph = newGraph(&cfg.ServiceGraph, cfg.Window)
	}
	return a, nil
}

// ConsumeWire counts every span of req, an OTLP TracesData or ExportTraceServiceRequest
// message that decodes (otlpwire.CheckTraces); spans without usable IDs are left out (weir's
// receiver refuses them). now is the arrival time, which series and half edges age by.
func (a *Aggregator) ConsumeWire(req []byte, now time.Time) error {
	return a.ConsumeWireVisit(req, now, nil)
}

// Visit sees each span ConsumeWireVisit reads, in order, with its resource, the resource's
// service.name (nil when it has none) and scope; spans without usable IDs too, which RED
// does not count (sp.ValidIDs). The views are valid during the call.
type Visit func(res *otlpwire.Resource, service []byte, sc *otlpwire.Scope, sp *otlpwire.Span)

// ConsumeWireVisit is ConsumeWire that hands every span to visit (when not nil) in the same
// pass over the request: a caller storing or sampling every span reads each one once.
func (a *Aggregator) ConsumeWireVisit(req []byte, now time.Time, visit Visit) error {
	return a.consumeWire(req, now, visit, nil)
}

// Staged is what one request adds to RED, read but not yet counted: ConsumeWireStaged fills
// it, Apply counts it. A caller that must read a request whole before it may count any of it
// (it refuses a request that does not decode, and reads it once) stages it. Reused from
// request to request; not safe for concurrent use.
type Staged struct {
	spans []stagedSpan
	now   time.Time
}

// stagedSpan is a span with what counting it needs that came from its attributes.
type stagedSpan struct {
	se       *series
	sp       span // attrs cleared: what they gave is se and peer
	peer     *peer
	peerType string
}

// Cap is how many spans st has room for without growing.
func (st *Staged) Cap() int { return cap(st.spans) }

// Reset empties st, letting go of what it refers to.
func (st *Staged) Reset() {
	clear(st.spans)
	st.spans = st.spans[:0]
}

// ConsumeWireStaged is ConsumeWireVisit that counts nothing: st takes what req adds, for
// Apply to count once the caller keeps the request. A request that does not decode leaves
// RED as it was but for the series its spans would have gone to, which expire idle. req must
// stay as it is until Apply or st.Reset.
func (a *Aggregator) ConsumeWireStaged(req []byte, now time.Time, visit Visit, st *Staged) error {
	st.Reset()
	st.now = now
	return a.consumeWire(req, now, visit, st)
}

// Apply counts what st holds and empties it.
func (a *Aggregator) Apply(st *Staged) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range st.spans {
		x := &st.spans[i]
		a.countSpan(x.se, &x.sp, st.now, x.peer, x.peerType)
	}
	st.Reset()
}

func (a *Aggregator) consumeWire(req []byte, now time.Time, visit Visit, st *Staged) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := &a.reader
	r.Reset(req)
	a.text = a.text[:0]
	for r.NextResource() {
		res := r.Resource()
		service, ok := otlpwire.ServiceName(res.Attrs)
		svc := UnknownService
		if ok {
			svc = bstr(service)
		} else {
			service = nil
		}
		clear(a.resDims)
		a.readDims(attrs{wire: res.Attrs}, a.resDims)
		ss := a.services[svc]
		for r.NextScope() {
			for r.NextSpan() {
				sp := r.Span()
				if !sp.ValidIDs() {
					if visit != nil {
						visit(res, service, r.Scope(), sp)
					}
					continue
				}
				v := span{name: sp.Name, kind: uint8(sp.Kind), status: uint8(sp.StatusCode), start: sp.Start, end: sp.End,
					traceID: [16]byte(sp.TraceID), spanID: [8]byte(sp.SpanID),
					weight: sampleweight.FromTraceStateBytes(sp.TraceState), attrs: attrs{wire: sp.Attrs}}
				copy(v.parentID[:], sp.ParentSpanID)
				ss = a.count(ss, svc, &v, now, st)
				if visit != nil {
					visit(res, service, r.Scope(), sp)
				}
			}
		}
	}
	return r.Err()
}

// ConsumePdata counts every span of td with a trace and a span ID (the others weir refuses).
// It does not change td.
func (a *Aggregator) ConsumePdata(td ptrace.Traces, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.text = a.text[:0]
	rss := td.ResourceSpans()
	for r := 0; r < rss.Len(); r++ {
		rs := rss.At(r)
		res := rs.Resource().Attributes()
		svc := UnknownService
		if v, ok := res.Get("service.name"); ok && v.Type() == pcommon.ValueTypeStr {
			svc = v.Str()
		}
		clear(a.resDims)
		a.readDims(attrs{pdata: res, isPdata: true}, a.resDims)
		ss := a.services[svc]
		sss := rs.ScopeSpans()
		for s := 0; s < sss.Len(); s++ {
			spans := sss.At(s).Spans()
			for i := 0; i < spans.Len(); i++ {
				sp := spans.At(i)
				if sp.TraceID().IsEmpty() || sp.SpanID().IsEmpty() {
					continue // as the wire path: weir refuses spans without usable IDs
				}
				name := sp.Name()
				v := span{name: unsafe.Slice(unsafe.StringData(name), len(name)), kind: uint8(sp.Kind()),
					status: uint8(sp.Status().Code()), start: uint64(sp.StartTimestamp()), end: uint64(sp.EndTimestamp()),
					traceID: sp.TraceID(), spanID: sp.SpanID(), parentID: sp.ParentSpanID(),
					weight: sampleweight.FromTraceState(sp.TraceState().AsRaw()),
					attrs:  attrs{pdata: sp.Attributes(), isPdata: true}}
				ss = a.count(ss, svc, &v, now, nil)
			}
		}
	}
}

// count adds one span of service svc (whose series are ss, nil before its first span), or
// stages it in st when st is not nil. What it needs of the span's attributes (the series, the
// peer it calls) is read here.
func (a *Aggregator) count(ss *serviceSeries, svc string, sp *span, now time.Time, st *Staged) *serviceSeries {
	copy(a.spanDims, a.resDims)
	a.readDims(sp.attrs, a.spanDims)
	if ss == nil {
		// svc may view the request's bytes: the map keeps a copy.
		ss = &serviceSeries{name: clone(svc), series: map[string]*series{}, overflow: map[[2]uint8]*series{}}
		a.services[ss.name] = ss
	}
	se := a.seriesFor(ss, sp, now)
	var p *peer
	var peerType string
	if a.graph != nil {
		p, peerType = a.graph.peerOf(a, sp)
	}
	if st != nil {
		x := stagedSpan{se: se, sp: *sp, peer: p, peerType: peerType}
		x.sp.attrs = attrs{}
		st.spans = append(st.spans, x)
		return ss
	}
	a.countSpan(se, sp, now, p, peerType)
	return ss
}

// countSpan adds sp to its series se and to the service graph.
func (a *Aggregator) countSpan(se *series, sp *span, now time.Time, p *peer, peerType string) {
	end := int64(sp.end)
	dur := float64(end - int64(sp.start))
	win := end - end%a.window
	h := se.h
	if h == nil || se.win != win || se.gen != a.aggGen {
		h = a.aggFor(windowKey{window: win, s: se})
		se.win, se.h, se.gen = win, h, a.aggGen
	}
	h.add(dur, sp.weight)
	if a.graph != nil {
		a.graph.add(sp, se.service, now, p, peerType)
	}
	a.spans++
}

func (a *Aggregator) aggFor(k windowKey) *hist {
	h, ok := a.aggs[k]
	if !ok {
		if n := len(a.histPool); n > 0 {
			h = a.histPool[n-1]
			a.histPool = a.histPool[:n-1]
		} else {
			h = &hist{}
		}
		a.aggs[k] = h
	}
	return h
}

// attrs is one attribute list, from wire or from pdata.
type attrs struct {
	wire    []otlpwire.KV
	pdata   pcommon.Map
	isPdata bool
}

// text is a value's column text: a string's bytes as they are, any other type through
// anyvalue, into the aggregator's per-request scratch.
func (a *Aggregator) textWire(v otlpwire.Value) []byte {
	if v.Type == anyvalue.TypeString {
		return v.Bytes
	}
	start := len(a.text)
	a.text = otlpwire.AppendText(a.text, v)
	return a.text[start:len(a.text):len(a.text)]
}

func (a *Aggregator) textPdata(v pcommon.Value) []byte {
	if v.Type() == pcommon.ValueTypeStr {
		s := v.Str()
		return unsafe.Slice(unsafe.StringData(s), len(s))
	}
	start := len(a.text)
	a.text = anyvalue.Append(a.text, v)
	return a.text[start:len(a.text):len(a.text)]
}

// get is the first attribute named key, as its text.
func (a *Aggregator) get(at attrs, key string) ([]byte, bool) {
	if at.isPdata {
		v, ok := at.pdata.Get(key)
		if !ok {
			return nil, false
		}
		return a.textPdata(v), true
	}
	for i := range at.wire {
		if string(at.wire[i].Key) == key {
			return a.textWire(at.wire[i].Value), true
		}
	}
	return nil, false
}

// readDims sets dims from the attributes of at that are dimensions, in one pass rather than a
// lookup (a linear scan) per dimension. Span attributes are read over the resource's, so they
// win. Within a list the first occurrence of a key wins, as with Map.Get. A few dimensions
// are matched by comparing names (mostly a length check), more through dimIndex.
func (a *Aggregator) readDims(at attrs, dims []dimValue) {
	if len(dims) == 0 {
		return
	}
	a.pass++
	if a.pass == 0 {
		a.pass = 1
	}
	pass := a.pass
	if at.isPdata {
		at.pdata.Range(func(k string, v pcommon.Value) bool {
			if i := a.dimOf(k, len(dims)); i >= 0 && dims[i].pass != pass {
				dims[i] = dimValue{a.textPdata(v), true, pass}
			}
			return true
		})
		return
	}
	for j := range at.wire {
		kv := &at.wire[j]
		if i := a.dimOf(bstr(kv.Key), len(dims)); i >= 0 && dims[i].pass != pass {
			dims[i] = dimValue{a.textWire(kv.Value), true, pass}
		}
	}
}

// dimOf is the position of dimension k among n, or -1.
func (a *Aggregator) dimOf(k string, n int) int {
	if n > maxLinearDims {
		if i, ok := a.dimIndex[k]; ok {
			return i
		}
		return -1
	}
	for i, d := range a.cfg.Dimensions {
		if d == k {
			return i
		}
	}
	return -1
}

// maxLinearDims is the most dimensions readDims matches by comparing names rather than
// through a map.
const maxLinearDims = 8

// seriesFor finds or creates the series of sp, whose dimensions are in a.spanDims, folding
// into the overflow series at the limit.
func (a *Aggregator) seriesFor(ss *serviceSeries, sp *span, now time.Time) *series {
	service := ss.name
	b := a.keyBuf[:0]
	b = append(b, sp.name...)
	b = append(b, 0, sp.kind, sp.status)
	for _, d := range a.spanDims {
		b = append(b, 0)
		if d.ok {
			b = append(b, 1)
			b = append(b, d.text...)
		}
	}
	a.keyBuf = b
	if se, ok := ss.series[string(b)]; ok { // no allocation: the compiler reuses b for lookup
		se.lastSeen = now
		return se
	}
	if len(ss.series) >= a.cfg.MaxSeriesPerService {
		a.tel.overflow.Add(context.Background(), 1)
		k := [2]uint8{sp.kind, sp.status}
		se, ok := ss.overflow[k]
		if !ok {
			se = &series{service: service, name: OverflowName, kind: sp.kind, status: sp.status}
			ss.overflow[k] = se
		}
		se.lastSeen = now
		return se
	}
	se := &series{key: string(b), service: service, name: string(sp.name), kind: sp.kind, status: sp.status, lastSeen: now}
	for i, d := range a.spanDims {
		if d.ok {
			se.dimKeys, se.dimVals = append(se.dimKeys, a.cfg.Dimensions[i]), append(se.dimVals, string(d.text))
		}
	}
	ss.series[se.key] = se
	return se
}

// Row is one RED data point: a series' requests, errors (Status 2) and latency in one window.
// Its slices and histogram belong to the aggregator and are valid only during the Output call.
type Row struct {
	Window           int64 // window start, Unix nanoseconds
	Service, Name    string
	Kind, Status     uint8
	DimKeys, DimVals []string
	Hist             *Histogram
}

// EdgeRow is one service-graph data point: calls from Client to Server over one connection
// type in one window, failed or not.
type EdgeRow struct {
	Window               int64
	Client, Server, Conn string
	Failed               bool
	Hist                 *Histogram
}

// Output takes what Flush emits.
type Output interface {
	RED(r *Row)
	Edge(e *EdgeRow)
}

// Flush gives every accumulated window to out as delta rows, and expires idle series and
// half edges; final also settles half edges still waiting, at shutdown. It returns the rows
// given. The aggregator is locked meanwhile: out must not call back into it.
func (a *Aggregator) Flush(now time.Time, final bool, out Output) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	rows := 0
	var hist Histogram
	for k, h := range a.aggs {
		h.export(&hist)
		out.RED(&Row{Window: k.window, Service: k.s.service, Name: k.s.name, Kind: k.s.kind, Status: k.s.status,
			DimKeys: k.s.dimKeys, DimVals: k.s.dimVals, Hist: &hist})
		h.reset()
		a.histPool = append(a.histPool, h)
		rows++
	}
	clear(a.aggs)
	a.aggGen++
	if a.graph != nil {
		a.graph.expire(now, final, a.tel)
		rows += a.graph.emit(out, &hist)
	}
	a.expireSeries(now)
	a.spans = 0
	return rows
}

// Window is the aggregation window.
func (a *Aggregator) Window() time.Duration { return time.Duration(a.window) }

// expireSeries forgets series idle for series_idle; their next span makes them anew.
func (a *Aggregator) expireSeries(now time.Time) {
	for name, ss := range a.services {
		for k, se := range ss.series {
			if now.Sub(se.lastSeen) >= a.cfg.SeriesIdle {
				delete(ss.series, k)
			}
		}
		for k, se := range ss.overflow {
			if now.Sub(se.lastSeen) >= a.cfg.SeriesIdle {
				delete(ss.overflow, k)
			}
		}
		if len(ss.series) == 0 && len(ss.overflow) == 0 {
			delete(a.services, name)
		}
	}
}

// activeSeries counts the series held, overflow series included.
func (a *Aggregator) activeSeries() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, ss := range a.services {
		n += len(ss.series) + len(ss.overflow)
	}
	return int64(n)
}

// bstr views b as a string for a lookup; it must not be kept.
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func clone(s string) string { return string([]byte(s)) }
