package otlpwire

import "unsafe"

// MetricsBatch is a request of metric points read whole, for a caller that must check all of
// a request before it takes any of it: reading it once into a batch replaces a check pass and
// a second reading (the two readings were a fifth of weir's CPU on the metric path). Resources,
// scopes, metrics and points are in the order of the request; what they view lives in arenas
// that the batch reuses from request to request, or in the request itself.
type MetricsBatch struct {
	Resources []BatchResource
	Scopes    []BatchScope
	Metrics   []BatchMetric
	Points    []Point

	// Whole is false when the request had more points than the batch keeps, or would take
	// more memory (MaxBatchPoints, MaxBatchBytes): the batch then holds nothing, and the
	// request is to be read again (Metrics).
	Whole bool
	size  int // what the request takes in the batch so far, estimated in bytes

	r Metrics
	// Arenas: a point is read into its slot in Points with each of its slices appending to
	// the free end of one of these, so nothing is copied (a first version that copied each
	// point made Read cost half again what CheckMetrics does, in BenchmarkEngine_Metrics).
	kvs, exKVs   []KV
	buckets, pos []uint64
	neg          []uint64
	bounds       []float64
	quantiles    []Quantile
	exemplars    []Exemplar
}

// BatchResource is a resource and its scopes, Scopes[First:End].
type BatchResource struct {
	Resource
	First, End int
}

// BatchScope is a scope and its metrics, Metrics[First:End].
type BatchScope struct {
	Scope
	First, End int
}

// BatchMetric is a metric and its points, Points[First:End].
type BatchMetric struct {
	Metric
	First, End int
}

// MaxBatchPoints and MaxBatchBytes bound what a MetricsBatch keeps of one request: its points,
// and the estimated bytes of everything it holds (a point is about 400, an attribute 64), so
// that a small request of tiny messages (millions of empty metrics or attributes in 8 MiB)
// cannot make a batch hundreds of times its size. Larger requests are read twice.
const (
	MaxBatchPoints = 4096
	MaxBatchBytes  = 2 << 20
)

// Sizes of what a batch holds, for its estimate.
var (
	sizeResource = int(unsafe.Sizeof(BatchResource{}))
	sizeScope    = int(unsafe.Sizeof(BatchScope{}))
	sizeMetric   = int(unsafe.Sizeof(BatchMetric{}))
	sizePoint    = int(unsafe.Sizeof(Point{}))
	sizeKV       = int(unsafe.Sizeof(KV{}))
	sizeQuantile = int(unsafe.Sizeof(Quantile{}))
	sizeExemplar = int(unsafe.Sizeof(Exemplar{}))
)

// Footprint is the bytes b's arrays take, whatever it holds now: a caller that pools batches
// lets one go that a large request made large.
func (b *MetricsBatch) Footprint() int {
	return cap(b.Resources)*sizeResource + cap(b.Scopes)*sizeScope + cap(b.Metrics)*sizeMetric +
		cap(b.Points)*sizePoint + (cap(b.kvs)+cap(b.exKVs))*sizeKV +
		8*(cap(b.buckets)+cap(b.pos)+cap(b.neg)+cap(b.bounds)) +
		cap(b.quantiles)*sizeQuantile + cap(b.exemplars)*sizeExemplar
}

// grow adds n bytes to b's estimate, and gives up keeping the request past MaxBatchBytes.
func (b *MetricsBatch) grow(n int) {
	if b.size += n; b.size > MaxBatchBytes {
		b.reset()
	}
}

// Read reads req whole, checking it as CheckMetrics does (the same stats and error), and keeps
// it in b when it decodes and has no more than MaxBatchPoints points (b.Whole). Views point
// into req and into b, until the next Read.
func (b *MetricsBatch) Read(req []byte) (MetricsStats, error) {
	b.reset()
	b.Whole = true
	var st MetricsStats
	r := &b.r
	r.Reset(req)
	for r.NextResource() {
		if b.Whole {
			res := *r.Resource()
			res.Attrs = b.copyKVs(res.Attrs)
			b.Resources = append(b.Resources, BatchResource{Resource: res, First: len(b.Scopes)})
			b.grow(sizeResource + len(res.Attrs)*sizeKV)
		}
		for r.NextScope() {
			if b.Whole {
				sc := *r.Scope()
				sc.Attrs = b.copyKVs(sc.Attrs)
				b.Scopes = append(b.Scopes, BatchScope{Scope: sc, First: len(b.Metrics)})
				b.grow(sizeScope + len(sc.Attrs)*sizeKV)
			}
			for r.NextMetric() {
				if b.Whole {
					m := *r.Metric()
					m.Metadata = b.copyKVs(m.Metadata)
					b.Metrics = append(b.Metrics, BatchMetric{Metric: m, First: len(b.Points)})
					b.grow(sizeMetric + len(m.Metadata)*sizeKV)
				}
				for {
					if b.Whole {
						if !b.nextPoint() {
							break
						}
						if st.Points == MaxBatchPoints {
							b.reset() // reads on to the end, for the error CheckMetrics would give
						}
					} else if !r.NextPoint() {
						break
					}
					st.Points++
				}
				if b.Whole {
					b.Metrics[len(b.Metrics)-1].End = len(b.Points)
				}
			}
			if b.Whole {
				b.Scopes[len(b.Scopes)-1].End = len(b.Metrics)
			}
		}
		if b.Whole {
			b.Resources[len(b.Resources)-1].End = len(b.Scopes)
		}
	}
	err := r.Err()
	r.Reset(nil) // holds no view of req past the call
	if err != nil {
		b.reset()
		return st, err
	}
	return st, nil
}

// nextPoint reads the current metric's next point into a new slot of Points.
func (b *MetricsBatch) nextPoint() bool {
	if n := len(b.Points); n < cap(b.Points) {
		b.Points = b.Points[:n+1] // readPoint sets every field
	} else {
		b.Points = append(b.Points, Point{})
	}
	p := &b.Points[len(b.Points)-1]
	p.Attrs, p.ExemplarAttrs = free(b.kvs), free(b.exKVs)
	p.BucketCounts, p.PositiveBucketCounts, p.NegativeBucketCounts = free(b.buckets), free(b.pos), free(b.neg)
	p.ExplicitBounds, p.Quantiles, p.Exemplars = free(b.bounds), free(b.quantiles), free(b.exemplars)
	if !b.r.nextPointInto(p) {
		b.Points = b.Points[:len(b.Points)-1]
		return false
	}
	p.Attrs, p.ExemplarAttrs = take(&b.kvs, p.Attrs), take(&b.exKVs, p.ExemplarAttrs)
	p.BucketCounts, p.PositiveBucketCounts = take(&b.buckets, p.BucketCounts), take(&b.pos, p.PositiveBucketCounts)
	p.NegativeBucketCounts, p.ExplicitBounds = take(&b.neg, p.NegativeBucketCounts), take(&b.bounds, p.ExplicitBounds)
	p.Quantiles, p.Exemplars = take(&b.quantiles, p.Quantiles), take(&b.exemplars, p.Exemplars)
	b.grow(sizePoint + (len(p.Attrs)+len(p.ExemplarAttrs))*sizeKV +
		8*(len(p.BucketCounts)+len(p.PositiveBucketCounts)+len(p.NegativeBucketCounts)+len(p.ExplicitBounds)) +
		len(p.Quantiles)*sizeQuantile + len(p.Exemplars)*sizeExemplar)
	return true
}

// free is the unused end of arena a, empty, for a point's field to append to in place.
func free[T any](a []T) []T { return a[len(a):] }

// take returns field, what a point appended to free(*a), capped at its length (a stage that
// changes the point in place cannot write into the next point's), and moves a's end past it.
// When field outgrew the free end (append moved it), it is left where append put it and a is
// replaced with one twice as large for the next points; views of the old one keep it alive.
func take[T any](a *[]T, field []T) []T {
	n := len(field)
	if n == 0 {
		return nil
	}
	if cap(*a)-len(*a) >= n && unsafe.SliceData(field) == unsafe.SliceData((*a)[len(*a):]) {
		*a = (*a)[:len(*a)+n]
	} else {
		*a = make([]T, 0, max(2*cap(*a), 64))
	}
	return field[:n:n]
}

// reset empties b, and marks it as not whole.
func (b *MetricsBatch) reset() {
	b.Resources, b.Scopes, b.Metrics, b.Points = b.Resources[:0], b.Scopes[:0], b.Metrics[:0], b.Points[:0]
	b.kvs, b.exKVs, b.buckets, b.pos, b.neg = b.kvs[:0], b.exKVs[:0], b.buckets[:0], b.pos[:0], b.neg[:0]
	b.bounds, b.quantiles, b.exemplars = b.bounds[:0], b.quantiles[:0], b.exemplars[:0]
	b.Whole, b.size = false, 0
}

// copyKVs copies the attributes of a resource, scope or metric, which the reader keeps in
// scratch of its own, into the arena.
func (b *MetricsBatch) copyKVs(kvs []KV) []KV {
	if len(kvs) == 0 {
		return nil
	}
	at := len(b.kvs)
	b.kvs = append(b.kvs, kvs...)
	return b.kvs[at:len(b.kvs):len(b.kvs)]
}
