package metricstage

import (
	"cmp"
	"slices"

	"github.com/weirhq/weir/internal/anyvalue"
	"github.com/weirhq/weir/internal/chblock"
	"github.com/weirhq/weir/internal/hashtable"
	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/internal/otlpwire"
)

// Why a point went to the overflow series.
const (
	ReasonMetric = "max_series_per_metric"
	ReasonTotal  = "max_series_total"
)

// metricSeries is the live series of one metric of one service.
type metricSeries struct {
	service, metric string
	// lastSeen is the time of each series' last point, by series hash, Unix ns. No pointers,
	// so the GC does not scan it.
	lastSeen *hashtable.Table[int64]
	// oldest is at or before the oldest lastSeen: until now-series_idle passes it, no series
	// of this metric can have expired, so a full metric is swept only when one can have.
	oldest int64
}

// limit admits p's series or moves p to the overflow series.
func (s *Stages) limit(c *chblock.MetricContext, p *otlpwire.Point, series *uint64, at int64) {
	if isOverflow(p.Attrs) {
		return // already overflow (an SDK's own limit): it takes no place
	}
	ms := s.ms
	if ms == nil {
		if ms = s.metrics[s.msKey]; ms == nil {
			ms = &metricSeries{service: string(c.Service), metric: string(c.Metric.Name), lastSeen: hashtable.New[int64](0), oldest: at}
			s.metrics[s.msKey] = ms
		}
		s.ms = ms
	}
	reason := s.admit(ms, *series, at)
	if reason == "" {
		return
	}
	s.counts.Overflowed[[2]string{ms.service, reason}]++
	p.Attrs = append(p.Attrs[:0], s.overKV[0])
	var h uint64
	h, s.scratch = otlpwire.HashKVs(p.Attrs, s.scratch)
	*series = model.Mix(s.seed, h)
	if ms.lastSeen.Len() == 0 {
		delete(s.metrics, s.msKey) // every point overflowed at max_series_total
		s.ms = nil
	}
}

// admit records a point of series h at now and returns "" when the series is live, or why it
// overflows.
func (s *Stages) admit(ms *metricSeries, h uint64, now int64) string {
	if seen := ms.lastSeen.Ref(h); seen != nil {
		*seen = now
		return ""
	}
	if ms.lastSeen.Len() >= s.cfg.MaxSeriesPerMetric {
		s.sweep(ms, now, int64(s.cfg.SeriesIdle))
		if ms.lastSeen.Len() >= s.cfg.MaxSeriesPerMetric {
			return ReasonMetric
		}
	}
	if s.total >= s.cfg.MaxSeriesTotal {
		return ReasonTotal
	}
	if ms.lastSeen.Len() == 0 {
		ms.oldest = now
	}
	ms.lastSeen.Put(h, now)
	s.total++
	return ""
}

// sweep forgets the expired series of ms and records when the next one can expire.
func (s *Stages) sweep(ms *metricSeries, now, idle int64) {
	if now-ms.oldest < idle {
		return
	}
	oldest := now
	s.total -= ms.lastSeen.DeleteFunc(func(_ uint64, seen int64) bool {
		if now-seen >= idle {
			return true
		}
		oldest = min(oldest, seen)
		return false
	})
	ms.oldest = oldest
}

func isOverflow(kvs []otlpwire.KV) bool {
	return len(kvs) == 1 && string(kvs[0].Key) == OverflowAttribute &&
		kvs[0].Value.Type == anyvalue.TypeBool && kvs[0].Value.Num != 0
}

// MetricCount is the live series of one metric of one service.
type MetricCount struct {
	Service, Metric string
	Series          int64
}

// Active is the live series of the top metrics with the most (at most top), and of each
// service, for telemetry.
func (s *Stages) Active(top int) ([]MetricCount, map[string]int64) {
	all := make([]MetricCount, 0, len(s.metrics))
	services := map[string]int64{}
	for _, ms := range s.metrics {
		n := int64(ms.lastSeen.Len())
		all = append(all, MetricCount{ms.service, ms.metric, n})
		services[ms.service] += n
	}
	slices.SortFunc(all, func(a, b MetricCount) int {
		if c := cmp.Compare(b.Series, a.Series); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return cmp.Compare(a.Metric, b.Metric)
	})
	return all[:min(len(all), top)], services
}
