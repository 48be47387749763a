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
	n := 0
	var c MetricContext
	// Declared once: the stage takes their addresses through an interface, so they live on
	// the heap, and inside the loop they would cost two allocations per point.
	var series uint64
	var temporality int32
	for r.NextResource() {
		c.Resource = r.Resource()
		var ok bool
		if c.Service, ok = otlpwire.ServiceName(c.Resource.Attrs); !ok {
			c.Service = unknownService
		}
		var resHash uint64
		resHash, s.scratch = otlpwire.HashKVs(&s.h, c.Resource.Attrs, s.scratch)
		for r.NextScope() {
			c.Scope = r.Scope()
			for r.NextMetric() {
				m := r.Metric()
				c.Metric = m
				if m.Type == otlpwire.MetricEmpty {
					continue // no data: nothing to store, as pdata's exporters skip it
				}
				b := s.Blocks[m.Type]
				seed := s.h.SeedBytes(c.Scope.Name, m.Name, resHash)
				if stage != nil {
					stage.Metric(&c, seed)
				}
				for r.NextPoint() {
					p := r.Point()
					var ph uint64
					ph, s.scratch = otlpwire.HashKVs(&s.h, p.Attrs, s.scratch)
					series, temporality = model.Mix(seed, ph), m.Temporality
					if stage != nil && !stage.Point(&c, p, &series, &temporality, at) {
						continue
					}
					b.Append(&c, p, series, temporality)
					s.Series.Add(&c, p, series, temporality)
					n++
				}
			}
		}
	}
	return n, r.Err()
}
