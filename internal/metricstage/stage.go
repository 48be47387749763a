package metricstage

import (
	"errors"
	"fmt"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/weirhq/weir/internal/anyvalue"
	"github.com/weirhq/weir/internal/chblock"
	"github.com/weirhq/weir/internal/hashtable"
	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/internal/otlpwire"
)

// OverflowAttribute is the attribute of the overflow series.
const OverflowAttribute = "otel.metric.overflow"

// Temporalities (pmetric.AggregationTemporality).
const (
	temporalityDelta      = 1
	temporalityCumulative = 2
)

// Config selects and bounds the stages.
type Config struct {
	// Delta turns cumulative monotonic sums and histograms into deltas.
	Delta bool `mapstructure:"cumulative_to_delta"`
	// MaxStaleness forgets a cumulative stream silent for this long (0: never).
	MaxStaleness time.Duration `mapstructure:"max_staleness"`
	// Limit bounds the series (0 turns it off).
	MaxSeriesPerMetric int           `mapstructure:"max_series_per_metric"`
	MaxSeriesTotal     int           `mapstructure:"max_series_total"`
	SeriesIdle         time.Duration `mapstructure:"series_idle"`
}

// DefaultConfig is the shipped configuration's.
func DefaultConfig() Config {
	return Config{Delta: true, MaxStaleness: time.Hour, MaxSeriesPerMetric: 1000, MaxSeriesTotal: 1_000_000, SeriesIdle: 10 * time.Minute}
}

// Validate reports every mistake at once.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxStaleness < 0 {
		errs = append(errs, fmt.Errorf("max_staleness must not be negative, got %s", c.MaxStaleness))
	}
	if c.MaxSeriesPerMetric < 0 {
		errs = append(errs, fmt.Errorf("max_series_per_metric must not be negative (0 turns the limit off), got %d", c.MaxSeriesPerMetric))
	}
	if c.MaxSeriesPerMetric > 0 {
		if c.MaxSeriesTotal < c.MaxSeriesPerMetric {
			errs = append(errs, fmt.Errorf("max_series_total must be at least max_series_per_metric (%d), got %d", c.MaxSeriesPerMetric, c.MaxSeriesTotal))
		}
		if c.SeriesIdle < time.Second {
			errs = append(errs, fmt.Errorf("series_idle must be at least 1s, got %s", c.SeriesIdle))
		}
	}
	return errors.Join(errs...)
}

// Counts is what the stages did since the last Drain, for telemetry: counted once per batch.
type Counts struct {
	Converted  int64
	Dropped    map[string]int64    // by reason: initial, reset, bucket_mismatch, no_value
	Overflowed map[[2]string]int64 // by service and reason
}

// Stages is the two stages over one state. Not safe for concurrent use.
type Stages struct {
	cfg     Config
	started uint64 // when weir started, Unix ns: a stream that started before has no first delta

	streams *hashtable.Table[*stream]
	metrics map[uint64]*metricSeries
	total   int

	scratch []byte
	counts  Counts
	overKV  [1]otlpwire.KV
	sweptAt int64
	// An exponential histogram point's bucket differences, before they are copied into it.
	dpos, dneg []uint64

	// Of the metric whose points come next (Metric).
	convert  bool   // its points are converted to deltas
	identity uint64 // what its streams' identities share beyond the series
	ms       *metricSeries
	msAbsent bool // Warm found no ms for msKey
	msKey    uint64
	seed     uint64
	d        xxhash.Digest

	// Warm's notes for Touch: the streams and series of the points to come.
	warmStreams []uint64
	warmSeries  []warmed
	sink        uint64
}

type warmed struct {
	t *hashtable.Table[int64]
	h uint64
}

// New returns empty stages; started is when weir started (Unix ns).
func New(cfg Config, started time.Time) *Stages {
	s := &Stages{cfg: cfg, started: uint64(started.UnixNano()), streams: hashtable.New[*stream](0),
		metrics: map[uint64]*metricSeries{}}
	s.counts.Dropped, s.counts.Overflowed = map[string]int64{}, map[[2]string]int64{}
	s.overKV[0] = otlpwire.KV{Key: []byte(OverflowAttribute), Value: otlpwire.Value{Type: anyvalue.TypeBool, Num: 1}}
	return s
}

// Drain returns the counts since the last Drain and starts new ones.
func (s *Stages) Drain() Counts {
	c := s.counts
	s.counts = Counts{Dropped: map[string]int64{}, Overflowed: map[[2]string]int64{}}
	return c
}

// Metric implements chblock.PointStage: what the points of c.Metric share.
func (s *Stages) Metric(c *chblock.MetricContext, seed uint64) {
	m := c.Metric
	s.convert = s.cfg.Delta && m.Temporality == temporalityCumulative &&
		(m.Type == otlpwire.MetricSum && m.Monotonic || m.Type == otlpwire.MetricHistogram || m.Type == otlpwire.MetricExponentialHistogram)
	if s.convert {
		var scopeAttrs uint64
		scopeAttrs, s.scratch = otlpwire.HashKVs(c.Scope.Attrs, s.scratch)
		d := &s.d
		d.Reset()
		_, _ = d.Write(c.Scope.Version)
		_, _ = d.Write([]byte{0, m.Type, boolByte(m.Monotonic), 0})
		_, _ = d.Write(m.Unit)
		s.identity = model.Mix(d.Sum64(), scopeAttrs)
	}
	if s.cfg.MaxSeriesPerMetric > 0 {
		d := &s.d
		d.Reset()
		_, _ = d.Write(c.Service)
		_, _ = d.Write([]byte{0})
		_, _ = d.Write(m.Name)
		s.msKey, s.ms, s.msAbsent, s.seed = d.Sum64(), nil, false, seed
	}
}

// Point implements chblock.PointStage.
func (s *Stages) Point(c *chblock.MetricContext, p *otlpwire.Point, series *uint64, temporality *int32, at int64) bool {
	if s.convert && !s.delta(c, p, *series, temporality) {
		return false
	}
	if s.cfg.MaxSeriesPerMetric > 0 {
		s.limit(c, p, series, at)
	}
	return true
}

// Warm implements chblock.PointWarmer: it notes the stream and the series Point will look up.
func (s *Stages) Warm(p *otlpwire.Point, series uint64) {
	if s.convert {
		s.warmStreams = append(s.warmStreams, s.streamKey(p, series))
	}
	if s.cfg.MaxSeriesPerMetric > 0 {
		if s.ms == nil && !s.msAbsent {
			// As limit finds it. A metric not seen yet has nothing to load: one lookup says so
			// for all its points.
			s.ms = s.metrics[s.msKey]
			s.msAbsent = s.ms == nil
		}
		if s.ms != nil {
			s.warmSeries = append(s.warmSeries, warmed{s.ms.lastSeen, series})
		}
	}
}

// Touch implements chblock.PointWarmer: one load of each noted slot, and of each stream found
// there, in loops where nothing else waits on a load, so that the misses of different points
// overlap (a stream's loads wait on its slot's). The four fields read sit at bytes 0, 64,
// 128 and 168 of the 176-byte stream: no two more than a cache line apart, so they reach
// every line it spans wherever it starts (TestStages_TouchReachesEveryLine).
func (s *Stages) Touch() {
	for _, k := range s.warmStreams {
		if key, st := s.streams.Home(k); key == k && st != nil { // key 0 marks an empty slot
			s.sink += st.observed + uint64(len(st.exp.pos.counts)) + uint64(cap(st.exp.neg.counts))
			if st.counts != nil { // its pointer word, at byte 64
				s.sink++
			}
		}
	}
	for _, w := range s.warmSeries {
		key, _ := w.t.Home(w.h)
		s.sink += key
	}
	clear(s.warmSeries) // no table kept alive by a note
	s.warmStreams, s.warmSeries = s.warmStreams[:0], s.warmSeries[:0]
}

// Sweep forgets streams stale at now and idle series; the engine calls it now and then.
func (s *Stages) Sweep(now int64) {
	if s.cfg.MaxStaleness > 0 {
		before := uint64(now - int64(s.cfg.MaxStaleness))
		s.streams.DeleteFunc(func(_ uint64, st *stream) bool { return st.observed < before })
	}
	if s.cfg.MaxSeriesPerMetric > 0 {
		idle := int64(s.cfg.SeriesIdle)
		for k, ms := range s.metrics {
			s.sweep(ms, now, idle)
			if ms.lastSeen.Len() == 0 {
				delete(s.metrics, k)
			}
		}
	}
	s.sweptAt = now
}

// Streams is how many cumulative streams are tracked; Series how many series are live.
func (s *Stages) Streams() int { return s.streams.Len() }
func (s *Stages) Series() int  { return s.total }

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

var _ chblock.PointWarmer = (*Stages)(nil)
