package chblock

import (
	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/internal/otlpwire"
)

// PointStage transforms a point before it is stored (cumulative to delta, the series limit):
// it may change the point in place, its series hash and its temporality, or drop it (false).
// at is when the request arrived (Unix ns).
type PointStage interface {
	// Metric comes before the points of each metric; seed is their series hashes' common part.
	Metric(c *MetricContext, seed uint64)
	Point(c *MetricContext, p *otlpwire.Point, series *uint64, temporality *int32, at int64) bool
}

// MetricSet is the blocks of one batch of metric points: one per metric table and series_1m.
type MetricSet struct {
	Blocks [len(MetricTables)]*MetricBlock // by type; [0] is nil (empty metrics are not stored)
	Series *SeriesBlock

	r       otlpwire.Metrics
	h       model.Hasher
	scratch []byte
	seq     uint64 // numbers resources and scopes for MetricContext
	// AppendBatch's series hashes of the request's points and seeds of its metrics.
	hashes, seeds []uint64
}

// NewMetricSet returns empty blocks; lowCardinality is as for NewSpanBlock.
func NewMetricSet(lowCardinality bool) *MetricSet {
	s := &MetricSet{Series: NewSeriesBlock(lowCardinality)}
	for t := 1; t < len(MetricTables); t++ {
		s.Blocks[t] = NewMetricBlock(uint8(t), lowCardinality)
	}
	return s
}

// Rows is the points held.
func (s *MetricSet) Rows() int {
	n := 0
	for _, b := range s.Blocks[1:] {
		n += b.Rows()
	}
	return n
}

// Bytes estimates the points' size.
func (s *MetricSet) Bytes() int {
	n := 0
	for _, b := range s.Blocks[1:] {
		n += b.Bytes()
	}
	return n
}

// Reset empties every block.
func (s *MetricSet) Reset() {
	for _, b := range s.Blocks[1:] {
		b.Reset()
	}
	s.Series.Reset()
}

// AppendRequest adds every point of req (an ExportMetricsServiceRequest that CheckMetrics
// accepted) through stage (nil: none), and returns how many points it stored.
func (s *MetricSet) AppendRequest(req []byte, stage PointStage, at int64) (int, error) {
	r := &s.r
	r.Reset(req)
	var a pointAppender
	for r.NextResource() {
		a.resource(s, r.Resource())
		for r.NextScope() {
			a.scope(s, r.Scope())
			for r.NextMetric() {
				if !a.metric(s, r.Metric(), stage) {
					continue
				}
				for r.NextPoint() {
					a.point(s, r.Point(), stage, at)
				}
			}
		}
	}
	return a.n, r.Err()
}

// AppendBatch is AppendRequest for a request read whole (mb.Whole). It takes a scope's
// metrics warmPoints points at a time: it hashes their series, has the stages (when they are a
// PointWarmer) and series_1m load the table slots those points will look up, then stores them.
// Each lookup is otherwise a cache miss taken alone: between two points of a series every other
// series is touched, and on the same cores ClickHouse and gRPC evict the tables in between. The
// three lookups were 13 % of weir's CPU at 50k points/s (bench-e2e, 2026-12-07 16:41).
func (s *MetricSet) AppendBatch(mb *otlpwire.MetricsBatch, stage PointStage, at int64) int {
	var a pointAppender
	w, _ := stage.(PointWarmer)
	s.hashes = resized(s.hashes, len(mb.Points))
	s.seeds = resized(s.seeds, len(mb.Metrics))
	for ri := range mb.Resources {
		res := &mb.Resources[ri]
		a.resource(s, &res.Resource)
		for si := res.First; si < res.End; si++ {
			sc := &mb.Scopes[si]
			a.scope(s, &sc.Scope)
			for mi := sc.First; mi < sc.End; {
				end := a.warm(s, mb, mi, sc.End, w)
				for ; mi < end; mi++ {
					m := &mb.Metrics[mi]
					if !a.metricSeeded(s, &m.Metric, stage, s.seeds[mi]) {
						continue
					}
					for pi := m.First; pi < m.End; pi++ {
						a.pointHashed(s, &mb.Points[pi], s.hashes[pi], stage, at)
					}
				}
			}
		}
	}
	return a.n
}

// warmPoints is how many points AppendBatch warms at once: their slots, a few cache lines a
// point, stay in the core's cache until the points are stored.
const warmPoints = 128

// PointWarmer is a PointStage that can load what its Point will look up before it is called.
type PointWarmer interface {
	PointStage
	// Warm notes what Point will look up for p, a point of the metric of the last Metric call.
	Warm(p *otlpwire.Point, series uint64)
	// Touch loads what Warm noted since the last Touch.
	Touch()
}

// warm hashes the points of the metrics of mb from from on, to at most to and until it has
// warmPoints of them, into s.seeds and s.hashes; has w and series_1m load what storing them
// will look up; and returns where it stopped. The hashing comes first and the loads in a loop
// of their own, so that many loads are in flight at once.
func (a *pointAppender) warm(s *MetricSet, mb *otlpwire.MetricsBatch, from, to int, w PointWarmer) int {
	mi, n := from, 0
	for ; mi < to && n < warmPoints; mi++ {
		m := &mb.Metrics[mi]
		if m.Type == otlpwire.MetricEmpty {
			continue
		}
		seed := s.h.SeedBytes(a.c.Scope.Name, m.Name, a.resHash)
		s.seeds[mi] = seed
		for pi := m.First; pi < m.End; pi++ {
			var ph uint64
			ph, s.scratch = otlpwire.HashKVs(mb.Points[pi].Attrs, s.scratch)
			s.hashes[pi] = model.Mix(seed, ph)
		}
		n += m.End - m.First
	}
	for k := from; k < mi; k++ {
		m := &mb.Metrics[k]
		if m.Type == otlpwire.MetricEmpty {
			continue
		}
		if w != nil {
			a.c.Metric = &m.Metric
			w.Metric(&a.c, s.seeds[k])
		}
		for pi := m.First; pi < m.End; pi++ {
			p := &mb.Points[pi]
			if w != nil {
				w.Warm(p, s.hashes[pi])
			}
			s.Series.Warm(p, s.hashes[pi], m.Type)
		}
	}
	if w != nil {
		w.Touch()
	}
	s.Series.Touch()
	return mi
}

// resized is b with length n, its contents undefined.
func resized(b []uint64, n int) []uint64 {
	if cap(b) < n {
		return make([]uint64, n)
	}
	return b[:n]
}

// pointAppender is AppendRequest's and AppendBatch's walk over one request.
type pointAppender struct {
	c       MetricContext
	resHash uint64
	b       *MetricBlock
	seed    uint64
	n       int
	// Fields rather than locals: the stage takes their addresses through an interface, so
	// they live on the heap, and as locals of the point loop they cost two allocations a point.
	series      uint64
	temporality int32
}

func (a *pointAppender) resource(s *MetricSet, res *otlpwire.Resource) {
	a.c.Resource = res
	s.seq++
	a.c.ResourceSeq = s.seq
	var ok bool
	if a.c.Service, ok = otlpwire.ServiceName(res.Attrs); !ok {
		a.c.Service = unknownService
	}
	a.resHash, s.scratch = otlpwire.HashKVs(res.Attrs, s.scratch)
}

func (a *pointAppender) scope(s *MetricSet, sc *otlpwire.Scope) {
	a.c.Scope = sc
	s.seq++
	a.c.ScopeSeq = s.seq
}

// metric starts the points of m; false when it has none to store.
func (a *pointAppender) metric(s *MetricSet, m *otlpwire.Metric, stage PointStage) bool {
	a.c.Metric = m
	if m.Type == otlpwire.MetricEmpty {
		return false // no data: nothing to store, as pdata's exporters skip it
	}
	return a.metricSeeded(s, m, stage, s.h.SeedBytes(a.c.Scope.Name, m.Name, a.resHash))
}

// metricSeeded is metric with the seed computed already.
func (a *pointAppender) metricSeeded(s *MetricSet, m *otlpwire.Metric, stage PointStage, seed uint64) bool {
	a.c.Metric = m
	if m.Type == otlpwire.MetricEmpty {
		return false
	}
	a.b = s.Blocks[m.Type]
	a.seed = seed
	if stage != nil {
		stage.Metric(&a.c, a.seed)
	}
	return true
}

func (a *pointAppender) point(s *MetricSet, p *otlpwire.Point, stage PointStage, at int64) {
	var ph uint64
	ph, s.scratch = otlpwire.HashKVs(p.Attrs, s.scratch)
	a.pointHashed(s, p, model.Mix(a.seed, ph), stage, at)
}

// pointHashed is point with its series hash computed already.
func (a *pointAppender) pointHashed(s *MetricSet, p *otlpwire.Point, series uint64, stage PointStage, at int64) {
	a.series, a.temporality = series, a.c.Metric.Temporality
	if stage != nil && !stage.Point(&a.c, p, &a.series, &a.temporality, at) {
		return
	}
	a.b.Append(&a.c, p, a.series, a.temporality)
	s.Series.Add(&a.c, p, a.series, a.temporality)
	a.n++
}
