package serieslimitprocessor

import (
	"context"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/weirhq/weir/internal/anyvalue"
	"github.com/weirhq/weir/internal/model"
)

// OverflowAttribute is the only attribute of a point whose series was over the limit: the
// OpenTelemetry SDK's cardinality-limit convention.
const OverflowAttribute = "otel.metric.overflow"

// Why a point went to the overflow series, the reason attribute of weir_series_overflow_points.
const (
	reasonMetric = "max_series_per_metric"
	reasonTotal  = "max_series_total"
)

// metricKey is one metric of one service: the unit the limit counts in.
type metricKey struct {
	service string
	metric  string
}

// metricSeries is the live series of one metric of one service.
type metricSeries struct {
	// lastSeen is the time of the last point of each series, by series hash, unix ns. No
	// pointers, so the GC does not scan it.
	lastSeen map[uint64]int64
	// oldest is at or before the oldest lastSeen: until now-series_idle passes it, no series
	// of this metric can have expired, so a full metric is swept only when one can have.
	oldest int64
}

// limiter is the processor. processMetrics may be called concurrently; one mutex guards the
// series, and a batch passes through it once.
type limiter struct {
	cfg    *Config
	logger *zap.Logger
	tel    *telemetry
	now    func() time.Time
	idle   int64

	mu      sync.Mutex
	metrics map[metricKey]*metricSeries
	total   int          // live series of all metrics
	hasher  model.Hasher // guarded by mu
	text    []byte       // attribute value text, guarded by mu

	stop chan struct{}
	done chan struct{}
}

func newLimiter(cfg *Config, set component.TelemetrySettings) (*limiter, error) {
	l := &limiter{
		cfg:     cfg,
		logger:  set.Logger,
		now:     time.Now,
		idle:    int64(cfg.SeriesIdle),
		metrics: map[metricKey]*metricSeries{},
	}
	tel, err := newTelemetry(set, l)
	if err != nil {
		return nil, err
	}
	l.tel = tel
	return l, nil
}

// sweepInterval is how often series idle for series_idle are forgotten: a series lives at
// most a quarter of series_idle longer in memory and telemetry. A full metric also sweeps its
// own series before it overflows a point, so room frees exactly on time.
func (l *limiter) sweepInterval() time.Duration {
	return min(max(l.cfg.SeriesIdle/4, time.Second), time.Minute)
}

func (l *limiter) start(context.Context, component.Host) error {
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.loop()
	l.logger.Info("weir_series_limit started", zap.Int("max_series_per_metric", l.cfg.MaxSeriesPerMetric),
		zap.Int("max_series_total", l.cfg.MaxSeriesTotal), zap.Duration("series_idle", l.cfg.SeriesIdle))
	return nil
}

func (l *limiter) shutdown(context.Context) error {
	if l.stop != nil {
		close(l.stop)
		<-l.done
		l.stop = nil
	}
	l.tel.unregister()
	l.logger.Info("weir_series_limit stopped")
	return nil
}

func (l *limiter) loop() {
	defer close(l.done)
	t := time.NewTicker(l.sweepInterval())
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.expire()
		}
	}
}

// expire forgets every series idle for series_idle.
func (l *limiter) expire() {
	now := l.now().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, ms := range l.metrics {
		l.sweep(ms, now)
		if len(ms.lastSeen) == 0 {
			delete(l.metrics, k)
		}
	}
}

// sweep forgets the expired series of ms and records when the next one can expire.
func (l *limiter) sweep(ms *metricSeries, now int64) {
	if now-ms.oldest < l.idle {
		return
	}
	oldest := now
	for h, seen := range ms.lastSeen {
		if now-seen >= l.idle {
			delete(ms.lastSeen, h)
			l.total--
			continue
		}
		oldest = min(oldest, seen)
	}
	ms.oldest = oldest
}

// overflowCount is the points of one metric that overflowed in a batch, for telemetry.
type overflowCount struct {
	service, reason string
	points          int64
}

// processMetrics replaces the attributes of points beyond the limit, in place.
func (l *limiter) processMetrics(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	over := l.limit(md, l.now().UnixNano())
	for _, o := range over { // counted outside the lock
		l.tel.overflowed(o.service, o.reason, o.points)
	}
	return md, nil
}

// limit admits or overflows every point of md at now and returns what overflowed.
func (l *limiter) limit(md pmetric.Metrics, now int64) []overflowCount {
	var over []overflowCount
	l.mu.Lock()
	defer l.mu.Unlock()
	rms := md.ResourceMetrics()
	for r := 0; r < rms.Len(); r++ {
		rm := rms.At(r)
		res := rm.Resource().Attributes()
		service := "unknown_service"
		if v, ok := res.Get("service.name"); ok && v.Type() == pcommon.ValueTypeStr {
			service = v.Str()
		}
		resHash := l.attrsHash(res)
		sms := rm.ScopeMetrics()
		for s := 0; s < sms.Len(); s++ {
			sm := sms.At(s)
			ms := sm.Metrics()
			for i := 0; i < ms.Len(); i++ {
				m := ms.At(i)
				over = l.limitMetric(over, service, l.hasher.Seed(sm.Scope().Name(), m.Name(), resHash), m, now)
			}
		}
	}
	return over
}

// limitMetric admits or overflows every point of m, and appends to over what overflowed.
func (l *limiter) limitMetric(over []overflowCount, service string, seed uint64, m pmetric.Metric, now int64) []overflowCount {
	var ms *metricSeries // found or made at the first point that is not overflow already
	var overMetric, overTotal int64
	admit := func(attrs pcommon.Map) {
		if isOverflow(attrs) {
			return // already overflow (an SDK's own limit): it takes no place
		}
		if ms == nil {
			ms = l.metricSeries(service, m.Name(), now)
		}
		switch l.admit(ms, model.Mix(seed, l.attrsHash(attrs)), now) {
		case "":
			return
		case reasonMetric:
			overMetric++
		default:
			overTotal++
		}
		attrs.Clear()
		attrs.PutBool(OverflowAttribute, true)
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		dps := m.Gauge().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			admit(dps.At(i).Attributes())
		}
	case pmetric.MetricTypeSum:
		dps := m.Sum().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			admit(dps.At(i).Attributes())
		}
	case pmetric.MetricTypeHistogram:
		dps := m.Histogram().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			admit(dps.At(i).Attributes())
		}
	case pmetric.MetricTypeExponentialHistogram:
		dps := m.ExponentialHistogram().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			admit(dps.At(i).Attributes())
		}
	case pmetric.MetricTypeSummary:
		dps := m.Summary().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			admit(dps.At(i).Attributes())
		}
	}
	if overMetric > 0 {
		over = append(over, overflowCount{service, reasonMetric, overMetric})
	}
	if overTotal > 0 {
		over = append(over, overflowCount{service, reasonTotal, overTotal})
	}
	if ms != nil && len(ms.lastSeen) == 0 {
		delete(l.metrics, metricKey{service, m.Name()}) // every point overflowed at max_series_total
	}
	return over
}

func (l *limiter) metricSeries(service, metric string, now int64) *metricSeries {
	if ms, ok := l.metrics[metricKey{service, metric}]; ok { // no allocation for the lookup
		return ms
	}
	// pdata strings may share the request's buffer; keep copies of what outlives the batch.
	ms := &metricSeries{lastSeen: map[uint64]int64{}, oldest: now}
	l.metrics[metricKey{strings.Clone(service), strings.Clone(metric)}] = ms
	return ms
}

// admit records a point of series h at now and returns "" when the series is live, or why it
// overflows.
func (l *limiter) admit(ms *metricSeries, h uint64, now int64) string {
	if _, ok := ms.lastSeen[h]; ok {
		ms.lastSeen[h] = now
		return ""
	}
	if len(ms.lastSeen) >= l.cfg.MaxSeriesPerMetric {
		l.sweep(ms, now)
		if len(ms.lastSeen) >= l.cfg.MaxSeriesPerMetric {
			return reasonMetric
		}
	}
	if l.total >= l.cfg.MaxSeriesTotal {
		return reasonTotal
	}
	if len(ms.lastSeen) == 0 {
		ms.oldest = now
	}
	ms.lastSeen[h] = now
	l.total++
	return ""
}

func isOverflow(attrs pcommon.Map) bool {
	if attrs.Len() != 1 {
		return false
	}
	v, ok := attrs.Get(OverflowAttribute)
	return ok && v.Type() == pcommon.ValueTypeBool && v.Bool()
}

// attrsHash is the series hash of an attribute map (model.Hasher); called under mu.
func (l *limiter) attrsHash(m pcommon.Map) uint64 {
	var h uint64
	h, l.text = anyvalue.HashMap(&l.hasher, m, l.text)
	return h
}
