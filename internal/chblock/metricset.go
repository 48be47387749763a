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

// AppendBatch is AppendRequest for a request read whole (mb.Whole).
func (s *MetricSet) AppendBatch(mb *otlpwire.MetricsBatch, stage PointStage, at int64) int {
	var a pointAppender
	for ri := range mb.Resources {
		res := &mb.Resources[ri]
		a.resource(s, &res.Resource)
		for si := res.First; si < res.End; si++ {
			sc := &mb.Scopes[si]
			a.scope(s, &sc.Scope)
			for mi := sc.First; mi < sc.End; mi++ {
				m := &mb.Metrics[mi]
				if !a.metric(s, &m.Metric, stage) {
					continue
				}
				for pi := m.First; pi < m.End; pi++ {
					a.point(s, &mb.Points[pi], stage, at)
				}
			}
		}
	}
	return a.n
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
	a.b = s.Blocks[m.Type]
	a.seed = s.h.SeedBytes(a.c.Scope.Name, m.Name, a.resHash)
	if stage != nil {
		stage.Metric(&a.c, a.seed)
	}
	return true
}

func (a *pointAppender) point(s *MetricSet, p *otlpwire.Point, stage PointStage, at int64) {
	var ph uint64
	ph, s.scratch = otlpwire.HashKVs(p.Attrs, s.scratch)
	a.series, a.temporality = model.Mix(a.seed, ph), a.c.Metric.Temporality
	if stage != nil && !stage.Point(&a.c, p, &a.series, &a.temporality, at) {
		return
	}
	a.b.Append(&a.c, p, a.series, a.temporality)
	s.Series.Add(&a.c, p, a.series, a.temporality)
	a.n++
}
