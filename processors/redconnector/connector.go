package redconnector

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/weirhq/weir/internal/sampleweight"
	"github.com/weirhq/weir/rollup"
)

// overflowName is the span name of the series that takes a service's spans once it has
// max_series_per_service series.
const overflowName = "__overflow__"

// series is one RED series. Immutable but for lastSeen.
type series struct {
	key      string
	service  string
	name     string
	kind     ptrace.SpanKind
	status   ptrace.StatusCode
	dimKeys  []string
	dimVals  []string
	lastSeen time.Time
}

type serviceSeries struct {
	series   map[string]*series
	overflow map[[2]uint8]*series
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
	graph    *graph
	keyBuf   []byte
	histPool []*hist

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
		sss := rs.ScopeSpans()
		for s := 0; s < sss.Len(); s++ {
			spans := sss.At(s).Spans()
			for i := 0; i < spans.Len(); i++ {
				sp := spans.At(i)
				w := sampleweight.FromTraceState(sp.TraceState().AsRaw())
				end := int64(sp.EndTimestamp())
				dur := float64(end - int64(sp.StartTimestamp()))
				se := c.seriesFor(service, sp, res, now)
				h := c.aggFor(windowKey{window: end - end%c.window, s: se})
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

// seriesFor finds or creates the series of sp, folding into the overflow series at the limit.
func (c *redConnector) seriesFor(service string, sp ptrace.Span, res pcommon.Map, now time.Time) *series {
	ss, ok := c.services[service]
	if !ok {
		ss = &serviceSeries{series: map[string]*series{}, overflow: map[[2]uint8]*series{}}
		c.services[service] = ss
	}
	attrs := sp.Attributes()
	b := c.keyBuf[:0]
	b = append(b, sp.Name()...)
	b = append(b, 0, byte(sp.Kind()), byte(sp.Status().Code()))
	for _, d := range c.cfg.Dimensions {
		b = append(b, 0)
		if v, ok := attrs.Get(d); ok {
			b = append(b, 1)
			b = append(b, v.AsString()...)
		} else if v, ok := res.Get(d); ok {
			b = append(b, 1)
			b = append(b, v.AsString()...)
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
	for _, d := range c.cfg.Dimensions {
		if v, ok := attrs.Get(d); ok {
			se.dimKeys, se.dimVals = append(se.dimKeys, d), append(se.dimVals, v.AsString())
		} else if v, ok := res.Get(d); ok {
			se.dimKeys, se.dimVals = append(se.dimKeys, d), append(se.dimVals, v.AsString())
		}
	}
	ss.series[se.key] = se
	return se
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
			sm.Scope().SetName(rollup.REDScope)
			m := sm.Metrics().AppendEmpty()
			m.SetName(rollup.REDMetric)
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

// activeSeries counts the series held, for telemetry.
func (c *redConnector) activeSeries() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ss := range c.services {
		n += len(ss.series) + len(ss.overflow)
	}
	return int64(n)
}
