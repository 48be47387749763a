package redconnector

import (
	"context"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/internal/sampleweight"
)

// overflowName is the span name of the series that takes a service's spans once it has
// max_series_per_service series.
const overflowName = "__overflow__"

// series is one RED series. Immutable but for lastSeen and the window cache.
type series struct {
	key      string
	service  string
	name     string
	kind     ptrace.SpanKind
	status   ptrace.StatusCode
	dimKeys  []string
	dimVals  []string
	lastSeen time.Time

	// The histogram of the series' last window, aggs[windowKey{win, s}], valid while gen
	// is the connector's aggGen (a flush empties aggs and moves aggGen on).
	win int64
	h   *hist
	gen uint64
}

type serviceSeries struct {
	series   map[string]*series
	overflow map[[2]uint8]*series
}

// dimValue is one dimension's value for a span; ok is false when neither the span nor its
// resource has the attribute.
type dimValue struct {
	v    pcommon.Value
	ok   bool
	pass uint32 // the readDims call that set it
}

// windowKey is a series in one window.
type windowKey struct {
	window int64 // window start, unix nanoseconds
	s      *series
}

// redConnector aggregates spans into RED series and service-graph edges. ConsumeTraces may
// be called concurrently; one mutex guards the state, and spans only pass through it briefly.
type redConnector struct {
	cfg    *Config
	next   consumer.Metrics
	logger *zap.Logger
	tel    *telemetry
	now    func() time.Time
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

	stop chan struct{}
	done chan struct{}
}

func newConnector(cfg *Config, set component.TelemetrySettings, next consumer.Metrics) (*redConnector, error) {
	tel, err := newTelemetry(set)
	if err != nil {
		return nil, err
	}
	c := &redConnector{
		cfg:      cfg,
		next:     next,
		logger:   set.Logger,
		tel:      tel,
		now:      time.Now,
		window:   int64(cfg.Window),
		services: map[string]*serviceSeries{},
		aggs:     map[windowKey]*hist{},
		dimIndex: map[string]int{},
		resDims:  make([]dimValue, len(cfg.Dimensions)),
		spanDims: make([]dimValue, len(cfg.Dimensions)),
	}
	for i, d := range cfg.Dimensions {
		c.dimIndex[d] = i
	}
	if cfg.ServiceGraph.Enabled {
		c.graph = newGraph(&cfg.ServiceGraph, cfg.Window)
	}
	return c, nil
}

func (c *redConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (c *redConnector) Start(context.Context, component.Host) error {
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go c.loop()
	c.logger.Info("weir_red started", zap.Duration("window", c.cfg.Window),
		zap.Strings("dimensions", c.cfg.Dimensions), zap.Bool("service_graph", c.graph != nil))
	return nil
}

// Shutdown emits everything accumulated, including half edges, so nothing counted is lost.
func (c *redConnector) Shutdown(ctx context.Context) error {
	if c.stop == nil {
		return nil
	}
	close(c.stop)
	<-c.done
	return c.flush(ctx, true)
}

func (c *redConnector) loop() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			if err := c.flush(context.Background(), false); err != nil {
				c.logger.Warn("emitting RED metrics failed", zap.Error(err))
			}
		}
	}
}

// ConsumeTraces counts every span of td. It does not change td.
func (c *redConnector) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	rss := td.ResourceSpans()
	for r := 0; r < rss.Len(); r++ {
		rs := rss.At(r)
		res := rs.Resource().Attributes()
		service := "unknown_service"
		if v, ok := res.Get("service.name"); ok {
			service = v.AsString()
		}
		clear(c.resDims)
		c.readDims(res, c.resDims)
		ss := c.services[service] // made at the resource's first span
		sss := rs.ScopeSpans()
		for s := 0; s < sss.Len(); s++ {
			spans := sss.At(s).Spans()
			for i := 0; i < spans.Len(); i++ {
				sp := spans.At(i)
				copy(c.spanDims, c.resDims)
				c.readDims(sp.Attributes(), c.spanDims)
				w := sampleweight.FromTraceState(sp.TraceState().AsRaw())
				end := int64(sp.EndTimestamp())
				dur := float64(end - int64(sp.StartTimestamp()))
				if ss == nil {
					ss = &serviceSeries{series: map[string]*series{}, overflow: map[[2]uint8]*series{}}
					c.services[service] = ss
				}
				se := c.seriesFor(ss, service, sp, now)
				win := end - end%c.window
				h := se.h
				if h == nil || se.win != win || se.gen != c.aggGen {
					h = c.aggFor(windowKey{window: win, s: se})
					se.win, se.h, se.gen = win, h, c.aggGen
				}
				h.add(dur, w)
				if c.graph != nil {
					c.graph.add(sp, service, w, now, c.cfg.ServiceGraph.VirtualNodeAttributes, c.tel)
				}
			}
		}
	}
	return nil
}

func (c *redConnector) aggFor(k windowKey) *hist {
	h, ok := c.aggs[k]
	if !ok {
		if n := len(c.histPool); n > 0 {
			h = c.histPool[n-1]
			c.histPool = c.histPool[:n-1]
		} else {
			h = &hist{}
		}
		c.aggs[k] = h
	}
	return h
}

// readDims sets dims from the attributes of m that are dimensions, in one pass over m
// rather than a Map.Get (a linear scan) per dimension. Span attributes are read over the
// resource's, so they win.
//
// Within m the first occurrence of a key wins, as with Map.Get. A few dimensions are matched
// by comparing names (mostly a length check), more through dimIndex.
func (c *redConnector) readDims(m pcommon.Map, dims []dimValue) {
	if len(dims) == 0 {
		return
	}
	c.pass++
	if c.pass == 0 {
		c.pass = 1
	}
	pass := c.pass
	if len(dims) > maxLinearDims {
		m.Range(func(k string, v pcommon.Value) bool {
			if i, ok := c.dimIndex[k]; ok && dims[i].pass != pass {
				dims[i] = dimValue{v, true, pass}
			}
			return true
		})
		return
	}
	names := c.cfg.Dimensions
	m.Range(func(k string, v pcommon.Value) bool {
		for i, d := range names {
			if d == k {
				if dims[i].pass != pass {
					dims[i] = dimValue{v, true, pass}
				}
				break
			}
		}
		return true
	})
}

// maxLinearDims is the most dimensions readDims matches by comparing names rather than
// through a map.
const maxLinearDims = 8

// seriesFor finds or creates the series of sp, whose dimensions are in c.spanDims, folding
// into the overflow series at the limit.
func (c *redConnector) seriesFor(ss *serviceSeries, service string, sp ptrace.Span, now time.Time) *series {
	b := c.keyBuf[:0]
	b = append(b, sp.Name()...)
	b = append(b, 0, byte(sp.Kind()), byte(sp.Status().Code()))
	for _, d := range c.spanDims {
		b = append(b, 0)
		if d.ok {
			b = append(b, 1)
			b = appendValue(b, d.v)
		}
	}
	c.keyBuf = b
	if se, ok := ss.series[string(b)]; ok { // no allocation: the compiler reuses b for lookup
		se.lastSeen = now
		return se
	}
	if len(ss.series) >= c.cfg.MaxSeriesPerService {
		c.tel.overflow.Add(context.Background(), 1)
		k := [2]uint8{uint8(sp.Kind()), uint8(sp.Status().Code())}
		se, ok := ss.overflow[k]
		if !ok {
			se = &series{service: service, name: overflowName, kind: sp.Kind(), status: sp.Status().Code()}
			ss.overflow[k] = se
		}
		se.lastSeen = now
		return se
	}
	se := &series{key: string(b), service: service, name: sp.Name(), kind: sp.Kind(), status: sp.Status().Code(), lastSeen: now}
	for i, d := range c.spanDims {
		if d.ok {
			se.dimKeys, se.dimVals = append(se.dimKeys, c.cfg.Dimensions[i]), append(se.dimVals, d.v.AsString())
		}
	}
	ss.series[se.key] = se
	return se
}

// appendValue appends v's text to the series key without allocating for strings.
func appendValue(b []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return append(b, v.Str()...)
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(b, v.Int(), 10)
	default:
		return append(b, v.AsString()...)
	}
}

// flush emits every accumulated window as delta points and expires idle series and half
// edges. final also emits half edges still waiting, at shutdown.
func (c *redConnector) flush(ctx context.Context, final bool) error {
	now := c.now()
	c.mu.Lock()
	md := pmetric.NewMetrics()
	byService := map[string]pmetric.MetricSlice{}
	points := 0
	for k, h := range c.aggs {
		ms, ok := byService[k.s.service]
		if !ok {
			rm := md.ResourceMetrics().AppendEmpty()
			rm.Resource().Attributes().PutStr("service.name", k.s.service)
			sm := rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(model.REDScope)
			m := sm.Metrics().AppendEmpty()
			m.SetName(model.REDMetric)
			m.SetUnit("ns")
			m.SetEmptyExponentialHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
			ms = sm.Metrics()
			byService[k.s.service] = ms
		}
		p := ms.At(0).ExponentialHistogram().DataPoints().AppendEmpty()
		p.SetStartTimestamp(pcommon.Timestamp(k.window))
		p.SetTimestamp(pcommon.Timestamp(k.window + c.window))
		a := p.Attributes()
		a.PutStr("span.name", k.s.name)
		a.PutInt("span.kind", int64(k.s.kind))
		a.PutInt("status.code", int64(k.s.status))
		for i, d := range k.s.dimKeys {
			a.PutStr(d, k.s.dimVals[i])
		}
		h.writeTo(p)
		h.reset()
		c.histPool = append(c.histPool, h)
		points++
	}
	clear(c.aggs)
	c.aggGen++
	if c.graph != nil {
		c.graph.expire(now, final, c.cfg.ServiceGraph.VirtualNodeAttributes, c.tel)
		points += c.graph.emit(md, c.window)
	}
	c.expireSeries(now)
	c.mu.Unlock()
	if points == 0 {
		return nil
	}
	return c.next.ConsumeMetrics(ctx, md)
}

// expireSeries forgets series idle for series_idle; their next span makes them anew.
func (c *redConnector) expireSeries(now time.Time) {
	for name, ss := range c.services {
		for k, se := range ss.series {
			if now.Sub(se.lastSeen) >= c.cfg.SeriesIdle {
				delete(ss.series, k)
			}
		}
		for k, se := range ss.overflow {
			if now.Sub(se.lastSeen) >= c.cfg.SeriesIdle {
				delete(ss.overflow, k)
			}
		}
		if len(ss.series) == 0 && len(ss.overflow) == 0 {
			delete(c.services, name)
		}
	}
}

// activeSeries counts the series held, overflow series included.
func (c *redConnector) activeSeries() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ss := range c.services {
		n += len(ss.series) + len(ss.overflow)
	}
	return int64(n)
}
