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

// AppendBatch is AppendRequest for a request read whole (mb.Whole). It takes a scope's points
// WarmPoints at a time: it hashes their series, has the stages (when they are a PointWarmer)
// and series_1m load the table slots those points will look up, then stores them. Each
// lookup is otherwise a cache miss taken alone: between two points of a series every other
// series is touched, and on the same cores ClickHouse and gRPC evict the tables in between.
// The three lookups were 13 % of weir's CPU at 50k points/s (bench-e2e, 2026-12-07 16:41).
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
			if sc.First == sc.End {
				continue
			}
			c := chunk{end: sc.End, to: cursor{sc.First, mb.Metrics[sc.First].First}}
			for c.to.m < sc.End {
				c.next(mb)
				a.warm(s, mb, c, w)
				for m := c.from.m; m <= c.to.m && m < c.end; m++ {
					lo, hi, ok := c.points(mb, m)
					if !ok || !a.metricSeeded(s, &mb.Metrics[m].Metric, stage, s.seeds[m]) {
						continue
					}
					for pi := lo; pi < hi; pi++ {
						a.pointHashed(s, &mb.Points[pi], s.hashes[pi], stage, at)
					}
				}
			}
		}
	}
	return a.n
}

// WarmPoints is how many points AppendBatch warms at once: their slots, a few cache lines a
// point, stay in the core's cache until the points are stored.
const WarmPoints = 128

// PointWarmer is a PointStage that can load what its Point will look up before it is called.
// AppendBatch calls Metric and Warm for up to WarmPoints points, then Touch, then Metric again
// and Point for the same points: Metric may be called for metrics ahead of those stored, and
// more than once for a metric, so it may only set what the next Warm or Point calls read.
type PointWarmer interface {
	PointStage
	// Warm notes what Point will look up for p, a point of the metric of the last Metric call.
	Warm(p *otlpwire.Point, series uint64)
	// Touch loads what Warm noted since the last Touch.
	Touch()
}

// cursor is a place in a MetricsBatch: metric m and its next point p (its End when none).
type cursor struct{ m, p int }

// chunk is the points from from to to (not included) of a scope whose metrics end at end.
type chunk struct {
	from, to cursor
	end      int
}

// next moves c to the WarmPoints points after it, or as many as are left in the scope. A
// metric of many points can be split between chunks; metrics without points are passed.
func (c *chunk) next(mb *otlpwire.MetricsBatch) {
	c.from = c.to
	n := 0
	for c.to.m < c.end && n < WarmPoints {
		m := &mb.Metrics[c.to.m]
		take := min(m.End-c.to.p, WarmPoints-n)
		c.to.p += take
		n += take
		if c.to.p < m.End {
			return // the chunk is full in the middle of m
		}
		c.to.m++
		if c.to.m < c.end {
			c.to.p = mb.Metrics[c.to.m].First
		}
	}
}

// points is the range of metric m's points in c; ok is false when m is not in c (it is
// c.to's metric and its points are all in the next chunk).
func (c *chunk) points(mb *otlpwire.MetricsBatch, m int) (lo, hi int, ok bool) {
	lo, hi = mb.Metrics[m].First, mb.Metrics[m].End
	if m == c.from.m {
		lo = c.from.p
	}
	if m == c.to.m {
		hi = c.to.p
		return lo, hi, hi > lo
	}
	return lo, hi, true
}

// warm hashes the points of c into s.seeds and s.hashes, then has w and series_1m load what
// storing them will look up. The hashing comes first and the loads in a loop of their own,
// so that many loads are in flight at once.
func (a *pointAppender) warm(s *MetricSet, mb *otlpwire.MetricsBatch, c chunk, w PointWarmer) {
	for m := c.from.m; m <= c.to.m && m < c.end; m++ {
		lo, hi, ok := c.points(mb, m)
		mt := &mb.Metrics[m]
		if !ok || mt.Type == otlpwire.MetricEmpty {
			continue
		}
		seed := s.h.SeedBytes(a.c.Scope.Name, mt.Name, a.resHash)
		s.seeds[m] = seed
		for pi := lo; pi < hi; pi++ {
			var ph uint64
			ph, s.scratch = otlpwire.HashKVs(mb.Points[pi].Attrs, s.scratch)
			s.hashes[pi] = model.Mix(seed, ph)
		}
	}
	for m := c.from.m; m <= c.to.m && m < c.end; m++ {
		lo, hi, ok := c.points(mb, m)
		mt := &mb.Metrics[m]
		if !ok || mt.Type == otlpwire.MetricEmpty || lo == hi {
			continue
		}
		if w != nil {
			a.c.Metric = &mt.Metric
			w.Metric(&a.c, s.seeds[m])
		}
		for pi := lo; pi < hi; pi++ {
			p := &mb.Points[pi]
			if w != nil {
				w.Warm(p, s.hashes[pi])
			}
			s.Series.Warm(p, s.hashes[pi], mt.Type)
		}
	}
	if w != nil {
		w.Touch()
	}
	s.Series.Touch()
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
	s.seq++
	a.c.MetricSeq = s.seq
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
