package otlpwire

import (
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weirhq/weir/internal/anyvalue"
)

// Field numbers of opentelemetry.proto.trace.v1 and .resource.v1 / .common.v1.
const (
	fTracesResourceSpans = 1 // TracesData / ExportTraceServiceRequest

	fRSResource        = 1 // ResourceSpans
	fRSScopeSpans      = 2
	fRSSchemaURL       = 3
	fRSDeprecatedScope = 1000 // instrumentation_library_spans

	fResourceAttributes = 1 // Resource
	fResourceDropped    = 2
	fResourceEntityRefs = 3 // checked (as pdata decodes them), not stored

	fSSScope     = 1 // ScopeSpans
	fSSSpans     = 2
	fSSSchemaURL = 3

	fScopeName       = 1 // InstrumentationScope
	fScopeVersion    = 2
	fScopeAttributes = 3
	fScopeDropped    = 4

	fSpanTraceID       = 1
	fSpanSpanID        = 2
	fSpanTraceState    = 3
	fSpanParentSpanID  = 4
	fSpanName          = 5
	fSpanKind          = 6
	fSpanStart         = 7
	fSpanEnd           = 8
	fSpanAttributes    = 9
	fSpanDroppedAttrs  = 10
	fSpanEvents        = 11
	fSpanDroppedEvents = 12
	fSpanLinks         = 13
	fSpanDroppedLinks  = 14
	fSpanStatus        = 15
	fSpanFlags         = 16

	fStatusMessage = 2
	fStatusCode    = 3

	fEventTime    = 1
	fEventName    = 2
	fEventAttrs   = 3
	fEventDropped = 4

	fLinkTraceID    = 1
	fLinkSpanID     = 2
	fLinkTraceState = 3
	fLinkAttrs      = 4
	fLinkDropped    = 5
	fLinkFlags      = 6
)

// Resource is a resource's attributes; the ResourceSpans' schema URL comes with it.
type Resource struct {
	Attrs     []KV
	Dropped   uint32
	SchemaURL []byte
}

// Scope is an instrumentation scope; the ScopeSpans' schema URL comes with it.
type Scope struct {
	Name, Version []byte
	Attrs         []KV
	Dropped       uint32
	SchemaURL     []byte
}

// Event is a span event; Attrs are indexes into Span.EventAttrs.
type Event struct {
	Time       uint64
	Name       []byte
	Attrs      [2]int // [from, to) of Span.EventAttrs
	Dropped    uint32
	attrsStart int
}

// Link is a span link; Attrs are indexes into Span.LinkAttrs.
type Link struct {
	TraceID, SpanID []byte
	TraceState      []byte
	Flags           uint32
	Attrs           [2]int // [from, to) of Span.LinkAttrs
	Dropped         uint32
}

// Span is one span. IDs are as on the wire: empty (all zero for pdata), or of any length
// (ValidIDs says whether they are usable).
type Span struct {
	TraceID, SpanID, ParentSpanID []byte
	TraceState, Name              []byte
	Kind                          int32
	Flags                         uint32
	Start, End                    uint64
	Attrs                         []KV
	DroppedAttrs                  uint32
	Events                        []Event
	EventAttrs                    []KV
	DroppedEvents                 uint32
	Links                         []Link
	LinkAttrs                     []KV
	DroppedLinks                  uint32
	StatusCode                    int32
	StatusMessage                 []byte
	// Raw is the Span message itself.
	Raw []byte
}

// ValidIDs reports whether the span has a 16-byte trace ID and an 8-byte span ID, not all
// zero, and a parent span ID that is empty or 8 bytes, with links' IDs empty or of their size.
func (s *Span) ValidIDs() bool {
	if len(s.TraceID) != 16 || len(s.SpanID) != 8 || allZero(s.TraceID) || allZero(s.SpanID) {
		return false
	}
	if n := len(s.ParentSpanID); n != 0 && n != 8 {
		return false
	}
	for i := range s.Links {
		l := &s.Links[i]
		if n := len(l.TraceID); n != 0 && n != 16 {
			return false
		}
		if n := len(l.SpanID); n != 0 && n != 8 {
			return false
		}
	}
	return true
}

// IsRoot reports whether the span has no parent (an empty or all-zero parent span ID).
func (s *Span) IsRoot() bool { return allZero(s.ParentSpanID) }

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Traces reads a TracesData or ExportTraceServiceRequest:
//
//	var r otlpwire.Traces
//	r.Reset(req)
//	for r.NextResource() {
//		for r.NextScope() {
//			for r.NextSpan() {
//				sp := r.Span() // r.Resource(), r.Scope() describe it
//			}
//		}
//	}
//	if err := r.Err(); err != nil { ... }
//
// A Traces is reused from request to request; it is not safe for concurrent use.
type Traces struct {
	rest []byte // the fields of the request not read yet
	err  error

	header
	scopes  [][]byte // the current ResourceSpans' ScopeSpans messages
	scopeAt int
	spans   [][]byte // the current ScopeSpans' Span messages
	spanAt  int
	span    Span
}

// header is the resource and scope being read, shared by the traces and metrics readers.
type header struct {
	res                  Resource
	scope                Scope
	resAttrs, scopeAttrs []KV
}

// Reset starts reading req. req is not copied: views point into it.
func (r *Traces) Reset(req []byte) {
	r.rest, r.err = req, nil
	r.scopes, r.spans = r.scopes[:0], r.spans[:0]
	r.scopeAt, r.spanAt = 0, 0
}

// Err is the first decoding error, which ends the reading.
func (r *Traces) Err() error { return r.err }

// Resource is the current resource; valid until the next NextResource.
func (r *Traces) Resource() *Resource { return &r.res }

// Scope is the current scope; valid until the next NextScope.
func (r *Traces) Scope() *Scope { return &r.scope }

// Span is the current span; valid until the next NextSpan.
func (r *Traces) Span() *Span { return &r.span }

// NextResource moves to the next ResourceSpans; false at the end or on error.
func (r *Traces) NextResource() bool {
	if r.err != nil {
		return false
	}
	it := iterFields(r.rest, "ExportTraceServiceRequest")
	for it.next() {
		if it.f.num != fTracesResourceSpans {
			continue
		}
		if !it.want(protowire.BytesType) {
			break
		}
		r.rest = it.buf
		if err := r.readResourceSpans(it.f.b); err != nil {
			r.err = err
			return false
		}
		return true
	}
	r.err, r.rest = it.err, nil
	return false
}

func (r *Traces) readResourceSpans(b []byte) error {
	r.res = Resource{}
	r.resAttrs = r.resAttrs[:0]
	r.scopes, r.scopeAt = r.scopes[:0], 0
	// r.scopes holds field 1000's messages until a field 2 comes, then field 2's only: pdata
	// reads the deprecated field only when there is no scope_spans. Dropping them once, at the
	// first scope_spans, keeps the reading linear (no insertion in front of them per entry).
	var haveScopes bool
	it := iterFields(b, "ResourceSpans")
	for it.next() {
		switch it.f.num {
		case fRSResource:
			if it.want(protowire.BytesType) {
				if err := r.readResource(it.f.b); err != nil {
					it.fail(err)
				}
			}
		case fRSScopeSpans:
			if it.want(protowire.BytesType) {
				if !haveScopes {
					r.scopes, haveScopes = r.scopes[:0], true
				}
				r.scopes = append(r.scopes, it.f.b)
			}
		case fRSSchemaURL:
			if it.want(protowire.BytesType) {
				r.res.SchemaURL = it.f.b
			}
		case fRSDeprecatedScope:
			// Its wire type is checked even when its messages are not read.
			if it.want(protowire.BytesType) && !haveScopes {
				r.scopes = append(r.scopes, it.f.b)
			}
		}
	}
	if it.err != nil {
		return it.err
	}
	r.res.Attrs = r.resAttrs
	return nil
}

func (r *header) readResource(b []byte) error {
	it := iterFields(b, "Resource")
	for it.next() {
		switch it.f.num {
		case fResourceAttributes:
			if it.want(protowire.BytesType) {
				var err error
				if r.resAttrs, err = appendKV(r.resAttrs, it.f.b, 0); err != nil {
					it.fail(err)
				}
			}
		case fResourceDropped:
			if it.want(protowire.VarintType) {
				r.res.Dropped = uint32(it.f.u)
			}
		case fResourceEntityRefs:
			if it.want(protowire.BytesType) {
				if err := checkEntityRef(it.f.b); err != nil {
					it.fail(err)
				}
			}
		}
	}
	return it.err
}

// checkEntityRef checks a Resource's EntityRef: its four fields are strings.
func checkEntityRef(b []byte) error {
	it := iterFields(b, "EntityRef")
	for it.next() {
		if it.f.num >= 1 && it.f.num <= 4 {
			it.want(protowire.BytesType)
		}
	}
	return it.err
}

// NextScope moves to the next ScopeSpans of the current resource.
func (r *Traces) NextScope() bool {
	if r.err != nil || r.scopeAt >= len(r.scopes) {
		return false
	}
	b := r.scopes[r.scopeAt]
	r.scopeAt++
	if err := r.readScopeSpans(b); err != nil {
		r.err = err
		return false
	}
	return true
}

func (r *Traces) readScopeSpans(b []byte) error {
	r.scope = Scope{}
	r.scopeAttrs = r.scopeAttrs[:0]
	r.spans, r.spanAt = r.spans[:0], 0
	it := iterFields(b, "ScopeSpans")
	for it.next() {
		switch it.f.num {
		case fSSScope:
			if it.want(protowire.BytesType) {
				if err := r.readScope(it.f.b); err != nil {
					it.fail(err)
				}
			}
		case fSSSpans:
			if it.want(protowire.BytesType) {
				r.spans = append(r.spans, it.f.b)
			}
		case fSSSchemaURL:
			if it.want(protowire.BytesType) {
				r.scope.SchemaURL = it.f.b
			}
		}
	}
	r.scope.Attrs = r.scopeAttrs
	return it.err
}

func (r *header) readScope(b []byte) error {
	it := iterFields(b, "InstrumentationScope")
	for it.next() {
		switch it.f.num {
		case fScopeName:
			if it.want(protowire.BytesType) {
				r.scope.Name = it.f.b
			}
		case fScopeVersion:
			if it.want(protowire.BytesType) {
				r.scope.Version = it.f.b
			}
		case fScopeAttributes:
			if it.want(protowire.BytesType) {
				var err error
				if r.scopeAttrs, err = appendKV(r.scopeAttrs, it.f.b, 0); err != nil {
					it.fail(err)
				}
			}
		case fScopeDropped:
			if it.want(protowire.VarintType) {
				r.scope.Dropped = uint32(it.f.u)
			}
		}
	}
	return it.err
}

// NextSpan moves to the next span of the current scope.
func (r *Traces) NextSpan() bool {
	if r.err != nil || r.spanAt >= len(r.spans) {
		return false
	}
	b := r.spans[r.spanAt]
	r.spanAt++
	if err := r.readSpan(b); err != nil {
		r.err = err
		return false
	}
	return true
}

func (r *Traces) readSpan(b []byte) error {
	sp := &r.span
	*sp = Span{Raw: b, Attrs: sp.Attrs[:0], Events: sp.Events[:0], EventAttrs: sp.EventAttrs[:0],
		Links: sp.Links[:0], LinkAttrs: sp.LinkAttrs[:0]}
	it := iterFields(b, "Span")
	for it.next() {
		f := &it.f
		var err error
		switch f.num {
		case fSpanTraceID:
			if it.want(protowire.BytesType) {
				sp.TraceID = f.b
			}
		case fSpanSpanID:
			if it.want(protowire.BytesType) {
				sp.SpanID = f.b
			}
		case fSpanTraceState:
			if it.want(protowire.BytesType) {
				sp.TraceState = f.b
			}
		case fSpanParentSpanID:
			if it.want(protowire.BytesType) {
				sp.ParentSpanID = f.b
			}
		case fSpanName:
			if it.want(protowire.BytesType) {
				sp.Name = f.b
			}
		case fSpanKind:
			if it.want(protowire.VarintType) {
				sp.Kind = int32(f.u)
			}
		case fSpanStart:
			if it.want(protowire.Fixed64Type) {
				sp.Start = f.u
			}
		case fSpanEnd:
			if it.want(protowire.Fixed64Type) {
				sp.End = f.u
			}
		case fSpanAttributes:
			if it.want(protowire.BytesType) {
				sp.Attrs, err = appendKV(sp.Attrs, f.b, 0)
			}
		case fSpanDroppedAttrs:
			if it.want(protowire.VarintType) {
				sp.DroppedAttrs = uint32(f.u)
			}
		case fSpanEvents:
			if it.want(protowire.BytesType) {
				err = r.readEvent(f.b)
			}
		case fSpanDroppedEvents:
			if it.want(protowire.VarintType) {
				sp.DroppedEvents = uint32(f.u)
			}
		case fSpanLinks:
			if it.want(protowire.BytesType) {
				err = r.readLink(f.b)
			}
		case fSpanDroppedLinks:
			if it.want(protowire.VarintType) {
				sp.DroppedLinks = uint32(f.u)
			}
		case fSpanStatus:
			// A status given twice merges field by field.
			if it.want(protowire.BytesType) {
				err = r.readStatus(f.b)
			}
		case fSpanFlags:
			if it.want(protowire.Fixed32Type) {
				sp.Flags = uint32(f.u)
			}
		}
		if err != nil {
			it.fail(err)
		}
	}
	if it.err != nil {
		return it.err
	}
	// pdata rejects IDs of the wrong length for the whole request; here they only make the
	// span invalid (ValidIDs). Everything else about the span decoded.
	return nil
}

func (r *Traces) readStatus(b []byte) error {
	sp := &r.span
	it := iterFields(b, "Status")
	for it.next() {
		switch it.f.num {
		case fStatusMessage:
			if it.want(protowire.BytesType) {
				sp.StatusMessage = it.f.b
			}
		case fStatusCode:
			if it.want(protowire.VarintType) {
				sp.StatusCode = int32(it.f.u)
			}
		}
	}
	return it.err
}

func (r *Traces) readEvent(b []byte) error {
	sp := &r.span
	ev := Event{}
	ev.Attrs[0] = len(sp.EventAttrs)
	it := iterFields(b, "Span.Event")
	for it.next() {
		switch it.f.num {
		case fEventTime:
			if it.want(protowire.Fixed64Type) {
				ev.Time = it.f.u
			}
		case fEventName:
			if it.want(protowire.BytesType) {
				ev.Name = it.f.b
			}
		case fEventAttrs:
			if it.want(protowire.BytesType) {
				var err error
				if sp.EventAttrs, err = appendKV(sp.EventAttrs, it.f.b, 0); err != nil {
					it.fail(err)
				}
			}
		case fEventDropped:
			if it.want(protowire.VarintType) {
				ev.Dropped = uint32(it.f.u)
			}
		}
	}
	ev.Attrs[1] = len(sp.EventAttrs)
	sp.Events = append(sp.Events, ev)
	return it.err
}

func (r *Traces) readLink(b []byte) error {
	sp := &r.span
	l := Link{}
	l.Attrs[0] = len(sp.LinkAttrs)
	it := iterFields(b, "Span.Link")
	for it.next() {
		switch it.f.num {
		case fLinkTraceID:
			if it.want(protowire.BytesType) {
				l.TraceID = it.f.b
			}
		case fLinkSpanID:
			if it.want(protowire.BytesType) {
				l.SpanID = it.f.b
			}
		case fLinkTraceState:
			if it.want(protowire.BytesType) {
				l.TraceState = it.f.b
			}
		case fLinkAttrs:
			if it.want(protowire.BytesType) {
				var err error
				if sp.LinkAttrs, err = appendKV(sp.LinkAttrs, it.f.b, 0); err != nil {
					it.fail(err)
				}
			}
		case fLinkDropped:
			if it.want(protowire.VarintType) {
				l.Dropped = uint32(it.f.u)
			}
		case fLinkFlags:
			if it.want(protowire.Fixed32Type) {
				l.Flags = uint32(it.f.u)
			}
		}
	}
	l.Attrs[1] = len(sp.LinkAttrs)
	sp.Links = append(sp.Links, l)
	return it.err
}

// TracesStats is what CheckTraces found in a request.
type TracesStats struct {
	Spans   int // every span
	Invalid int // spans without usable IDs (see Span.ValidIDs)
}

// CheckTraces reads req through, as pdata would decode it, and counts its spans. A request
// that does not decode is refused whole: check it before anything of it is used.
func CheckTraces(r *Traces, req []byte) (TracesStats, error) {
	var st TracesStats
	r.Reset(req)
	for r.NextResource() {
		for r.NextScope() {
			for r.NextSpan() {
				st.Spans++
				if !r.span.ValidIDs() {
					st.Invalid++
				}
			}
		}
	}
	return st, r.Err()
}

// ServiceName is the resource's service.name attribute (the first one) when it is a string;
// ok is false without one. The OpenTelemetry spec has every SDK set it.
func ServiceName(attrs []KV) (name []byte, ok bool) {
	for i := range attrs {
		if string(attrs[i].Key) == "service.name" {
			return attrs[i].Value.Bytes, attrs[i].Value.Type == anyvalue.TypeString
		}
	}
	return nil, false
}
