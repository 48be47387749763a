package otlpwire

import (
	"errors"
	"math"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of opentelemetry.proto.metrics.v1.
const (
	fMetricsResourceMetrics = 1 // MetricsData / ExportMetricsServiceRequest

	fRMResource        = 1 // ResourceMetrics
	fRMScopeMetrics    = 2
	fRMSchemaURL       = 3
	fRMDeprecatedScope = 1000

	fSMScope     = 1 // ScopeMetrics
	fSMMetrics   = 2
	fSMSchemaURL = 3

	fMetricName        = 1
	fMetricDescription = 2
	fMetricUnit        = 3
	fMetricGauge       = 5
	fMetricSum         = 7
	fMetricHistogram   = 9
	fMetricExpHist     = 10
	fMetricSummary     = 11
	fMetricMetadata    = 12

	fDataPoints      = 1 // Gauge, Sum, Histogram, ExponentialHistogram, Summary
	fDataTemporality = 2 // Sum, Histogram, ExponentialHistogram
	fSumMonotonic    = 3

	fPointStart = 2 // every data point type
	fPointTime  = 3

	fNumberDouble    = 4
	fNumberExemplars = 5
	fNumberInt       = 6
	fNumberAttrs     = 7
	fNumberFlags     = 8

	fHistCount     = 4
	fHistSum       = 5
	fHistBuckets   = 6
	fHistBounds    = 7
	fHistExemplars = 8
	fHistAttrs     = 9
	fHistFlags     = 10
	fHistMin       = 11
	fHistMax       = 12

	fExpAttrs     = 1
	fExpCount     = 4
	fExpSum       = 5
	fExpScale     = 6
	fExpZeroCount = 7
	fExpPositive  = 8
	fExpNegative  = 9
	fExpFlags     = 10
	fExpExemplars = 11
	fExpMin       = 12
	fExpMax       = 13
	fExpZeroThr   = 14

	fBucketsOffset = 1
	fBucketsCounts = 2

	fSummaryCount     = 4
	fSummarySum       = 5
	fSummaryQuantiles = 6
	fSummaryAttrs     = 7
	fSummaryFlags     = 8

	fQuantileQuantile = 1
	fQuantileValue    = 2

	fExemplarTime    = 2
	fExemplarDouble  = 3
	fExemplarSpanID  = 4
	fExemplarTraceID = 5
	fExemplarInt     = 6
	fExemplarAttrs   = 7
)

// Metric types, numbered as pmetric.MetricType.
const (
	MetricEmpty uint8 = iota
	MetricGauge
	MetricSum
	MetricHistogram
	MetricExponentialHistogram
	MetricSummary
)

// Value types of a number point or an exemplar, numbered as pmetric's.
const (
	NumberEmpty uint8 = iota
	NumberInt
	NumberDouble
)

var (
	errTraceIDSize = errors.New("trace_id must be 16 bytes or empty")
	errSpanIDSize  = errors.New("span_id must be 8 bytes or empty")
	errPackedSize  = errors.New("packed fixed64 field of a length not a multiple of 8")
)

// Metric is a metric's identity and the shape of its data; its points are read with NextPoint.
type Metric struct {
	Name, Description, Unit []byte
	Metadata                []KV
	Type                    uint8 // MetricGauge, …; MetricEmpty when it has no data
	Temporality             int32 // sums and histograms: pmetric.AggregationTemporality
	Monotonic               bool  // sums
}

// Exemplar is a point's exemplar; Attrs views Point.ExemplarAttrs.
type Exemplar struct {
	Time      uint64
	ValueType uint8
	Int       int64
	Double    float64
	TraceID   [16]byte
	SpanID    [8]byte
	Attrs     []KV
}

// Quantile is a summary's value at a quantile.
type Quantile struct{ Quantile, Value float64 }

// Point is a data point of any of the five types; the fields of other types stay zero.
type Point struct {
	Raw         []byte
	Attrs       []KV
	Start, Time uint64
	Flags       uint32

	// Gauges and sums.
	ValueType uint8
	Int       int64
	Double    float64

	// Histograms, exponential histograms and summaries.
	Count          uint64
	Sum            float64
	HasSum         bool
	Min, Max       float64
	HasMin, HasMax bool

	// Histograms.
	BucketCounts   []uint64
	ExplicitBounds []float64

	// Exponential histograms.
	Scale                int32
	ZeroCount            uint64
	ZeroThreshold        float64
	PositiveOffset       int32
	PositiveBucketCounts []uint64
	NegativeOffset       int32
	NegativeBucketCounts []uint64

	// Summaries.
	Quantiles []Quantile

	Exemplars     []Exemplar
	ExemplarAttrs []KV
}

// Metrics reads a MetricsData or ExportMetricsServiceRequest, as Traces reads spans:
//
//	var r otlpwire.Metrics
//	r.Reset(req)
//	for r.NextResource() {
//		for r.NextScope() {
//			for r.NextMetric() {
//				m := r.Metric()
//				for r.NextPoint() {
//					p := r.Point()
//				}
//			}
//		}
//	}
//	if err := r.Err(); err != nil { ... }
//
// It reads what pdata reads and refuses what pdata refuses; a Metrics is reused from request
// to request and is not safe for concurrent use.
type Metrics struct {
	rest []byte
	err  error

	header
	scopes   [][]byte
	scopeAt  int
	metrics  [][]byte
	metricAt int
	metric   Metric
	points   [][]byte
	pointAt  int
	point    Point
	cur      *Point // the point being read: &point, or a MetricsBatch's
}

// Reset starts reading req. req is not copied: views point into it.
func (r *Metrics) Reset(req []byte) {
	r.rest, r.err = req, nil
	r.scopes, r.metrics, r.points = r.scopes[:0], r.metrics[:0], r.points[:0]
	r.scopeAt, r.metricAt, r.pointAt = 0, 0, 0
}

// Err is the first decoding error, which ends the reading.
func (r *Metrics) Err() error { return r.err }

// Resource is the current resource; valid until the next NextResource.
func (r *Metrics) Resource() *Resource { return &r.res }

// Scope is the current scope; valid until the next NextScope.
func (r *Metrics) Scope() *Scope { return &r.scope }

// Metric is the current metric; valid until the next NextMetric.
func (r *Metrics) Metric() *Metric { return &r.metric }

// Point is the current point; valid until the next NextPoint.
func (r *Metrics) Point() *Point { return &r.point }

// NextResource moves to the next ResourceMetrics; false at the end or on error.
func (r *Metrics) NextResource() bool {
	if r.err != nil {
		return false
	}
	it := iterFields(r.rest, "ExportMetricsServiceRequest")
	for it.next() {
		if it.f.num != fMetricsResourceMetrics {
			continue
		}
		if !it.want(protowire.BytesType) {
			break
		}
		r.rest = it.buf
		if err := r.readResourceMetrics(it.f.b); err != nil {
			r.err = err
			return false
		}
		return true
	}
	r.err, r.rest = it.err, nil
	return false
}

func (r *Metrics) readResourceMetrics(b []byte) error {
	r.res = Resource{}
	r.resAttrs = r.resAttrs[:0]
	r.scopes, r.scopeAt = r.scopes[:0], 0
	// Field 1000's messages until a field 2 comes, then field 2's only, as for spans (see
	// Traces.readResourceSpans).
	var haveScopes bool
	it := iterFields(b, "ResourceMetrics")
	for it.next() {
		switch it.f.num {
		case fRMResource:
			if it.want(protowire.BytesType) {
				if err := r.readResource(it.f.b); err != nil {
					it.fail(err)
				}
			}
		case fRMScopeMetrics:
			if it.want(protowire.BytesType) {
				if !haveScopes {
					r.scopes, haveScopes = r.scopes[:0], true
				}
				r.scopes = append(r.scopes, it.f.b)
			}
		case fRMSchemaURL:
			if it.want(protowire.BytesType) {
				r.res.SchemaURL = it.f.b
			}
		case fRMDeprecatedScope:
			if it.want(protowire.BytesType) && !haveScopes {
				r.scopes = append(r.scopes, it.f.b)
			}
		}
	}
	if it.err != nil {
		return it.err
	}
	r.res.Attrs = r.resAttrs
	return nil
}

// NextScope moves to the next ScopeMetrics of the current resource.
func (r *Metrics) NextScope() bool {
	if r.err != nil || r.scopeAt >= len(r.scopes) {
		return false
	}
	b := r.scopes[r.scopeAt]
	r.scopeAt++
	r.scope = Scope{}
	r.scopeAttrs = r.scopeAttrs[:0]
	r.metrics, r.metricAt = r.metrics[:0], 0
	it := iterFields(b, "ScopeMetrics")
	for it.next() {
		switch it.f.num {
		case fSMScope:
			if it.want(protowire.BytesType) {
				if err := r.readScope(it.f.b); err != nil {
					it.fail(err)
				}
			}
		case fSMMetrics:
			if it.want(protowire.BytesType) {
				r.metrics = append(r.metrics, it.f.b)
			}
		case fSMSchemaURL:
			if it.want(protowire.BytesType) {
				r.scope.SchemaURL = it.f.b
			}
		}
	}
	r.scope.Attrs = r.scopeAttrs
	if it.err != nil {
		r.err = it.err
		return false
	}
	return true
}

// NextMetric moves to the next metric of the current scope. Its points are read with
// NextPoint: CheckMetrics reads a whole request first when a bad point must refuse it all.
func (r *Metrics) NextMetric() bool {
	if r.err != nil || r.metricAt >= len(r.metrics) {
		return false
	}
	b := r.metrics[r.metricAt]
	r.metricAt++
	if err := r.readMetric(b); err != nil {
		r.err = err
		return false
	}
	return true
}

func (r *Metrics) readMetric(b []byte) error {
	m := &r.metric
	*m = Metric{Metadata: m.Metadata[:0]}
	r.points, r.pointAt = r.points[:0], 0
	it := iterFields(b, "Metric")
	for it.next() {
		f := &it.f
		var err error
		switch f.num {
		case fMetricName:
			if it.want(protowire.BytesType) {
				m.Name = f.b
			}
		case fMetricDescription:
			if it.want(protowire.BytesType) {
				m.Description = f.b
			}
		case fMetricUnit:
			if it.want(protowire.BytesType) {
				m.Unit = f.b
			}
		case fMetricGauge, fMetricSum, fMetricHistogram, fMetricExpHist, fMetricSummary:
			// The data oneof: the last one given wins, whole (pdata replaces it).
			if it.want(protowire.BytesType) {
				err = r.readData(f.num, f.b)
			}
		case fMetricMetadata:
			if it.want(protowire.BytesType) {
				m.Metadata, err = appendKV(m.Metadata, f.b, 0)
			}
		}
		if err != nil {
			it.fail(err)
		}
	}
	return it.err
}

func (r *Metrics) readData(num protowire.Number, b []byte) error {
	m := &r.metric
	m.Temporality, m.Monotonic = 0, false
	r.points = r.points[:0]
	var msg string
	switch num {
	case fMetricGauge:
		m.Type, msg = MetricGauge, "Gauge"
	case fMetricSum:
		m.Type, msg = MetricSum, "Sum"
	case fMetricHistogram:
		m.Type, msg = MetricHistogram, "Histogram"
	case fMetricExpHist:
		m.Type, msg = MetricExponentialHistogram, "ExponentialHistogram"
	default:
		m.Type, msg = MetricSummary, "Summary"
	}
	it := iterFields(b, msg)
	for it.next() {
		switch {
		case it.f.num == fDataPoints:
			if it.want(protowire.BytesType) {
				r.points = append(r.points, it.f.b)
			}
		case it.f.num == fDataTemporality && m.Type != MetricGauge && m.Type != MetricSummary:
			if it.want(protowire.VarintType) {
				m.Temporality = int32(it.f.u)
			}
		case it.f.num == fSumMonotonic && m.Type == MetricSum:
			if it.want(protowire.VarintType) {
				m.Monotonic = it.f.u != 0
			}
		}
	}
	return it.err
}

// NextPoint moves to the next point of the current metric.
func (r *Metrics) NextPoint() bool {
	if r.err != nil || r.pointAt >= len(r.points) {
		return false
	}
	return r.nextPointInto(&r.point)
}

// nextPointInto is NextPoint reading into p, whose slices it appends to.
func (r *Metrics) nextPointInto(p *Point) bool {
	if r.err != nil || r.pointAt >= len(r.points) {
		return false
	}
	b := r.points[r.pointAt]
	r.pointAt++
	r.cur = p
	err := r.readPoint(b)
	r.cur = &r.point
	if err != nil {
		r.err = err
		return false
	}
	return true
}

func (r *Metrics) readPoint(b []byte) error {
	p := r.cur
	*p = Point{Raw: b, Attrs: p.Attrs[:0], BucketCounts: p.BucketCounts[:0], ExplicitBounds: p.ExplicitBounds[:0],
		PositiveBucketCounts: p.PositiveBucketCounts[:0], NegativeBucketCounts: p.NegativeBucketCounts[:0],
		Quantiles: p.Quantiles[:0], Exemplars: p.Exemplars[:0], ExemplarAttrs: p.ExemplarAttrs[:0]}
	var err error
	switch r.metric.Type {
	case MetricGauge, MetricSum:
		err = r.readNumber(b)
	case MetricHistogram:
		err = r.readHistogram(b)
	case MetricExponentialHistogram:
		err = r.readExpHistogram(b)
	case MetricSummary:
		err = r.readSummary(b)
	}
	// Also on an error, for the exemplars read before it to stay consistent.
	p.viewExemplarAttrs()
	return err
}

func (r *Metrics) readNumber(b []byte) error {
	p := r.cur
	it := iterFields(b, "NumberDataPoint")
	for it.next() {
		f := &it.f
		var err error
		switch f.num {
		case fNumberAttrs:
			if it.want(protowire.BytesType) {
				p.Attrs, err = appendKV(p.Attrs, f.b, 0)
			}
		case fPointStart:
			if it.want(protowire.Fixed64Type) {
				p.Start = f.u
			}
		case fPointTime:
			if it.want(protowire.Fixed64Type) {
				p.Time = f.u
			}
		case fNumberDouble:
			if it.want(protowire.Fixed64Type) {
				p.ValueType, p.Double, p.Int = NumberDouble, math.Float64frombits(f.u), 0
			}
		case fNumberInt:
			if it.want(protowire.Fixed64Type) {
				p.ValueType, p.Int, p.Double = NumberInt, int64(f.u), 0
			}
		case fNumberExemplars:
			if it.want(protowire.BytesType) {
				err = r.readExemplar(f.b)
			}
		case fNumberFlags:
			if it.want(protowire.VarintType) {
				p.Flags = uint32(f.u)
			}
		}
		if err != nil {
			it.fail(err)
		}
	}
	return it.err
}

func (r *Metrics) readHistogram(b []byte) error {
	p := r.cur
	it := iterFields(b, "HistogramDataPoint")
	for it.next() {
		f := &it.f
		var err error
		switch f.num {
		case fHistAttrs:
			if it.want(protowire.BytesType) {
				p.Attrs, err = appendKV(p.Attrs, f.b, 0)
			}
		case fPointStart:
			if it.want(protowire.Fixed64Type) {
				p.Start = f.u
			}
		case fPointTime:
			if it.want(protowire.Fixed64Type) {
				p.Time = f.u
			}
		case fHistCount:
			if it.want(protowire.Fixed64Type) {
				p.Count = f.u
			}
		case fHistSum:
			if it.want(protowire.Fixed64Type) {
				p.Sum, p.HasSum = math.Float64frombits(f.u), true
			}
		case fHistBuckets:
			p.BucketCounts, err = repeatedFixed64(&it, p.BucketCounts)
		case fHistBounds:
			var u []uint64
			u, err = repeatedFixed64(&it, float64Bits(p.ExplicitBounds))
			p.ExplicitBounds = bitsFloat64(u)
		case fHistExemplars:
			if it.want(protowire.BytesType) {
				err = r.readExemplar(f.b)
			}
		case fHistFlags:
			if it.want(protowire.VarintType) {
				p.Flags = uint32(f.u)
			}
		case fHistMin:
			if it.want(protowire.Fixed64Type) {
				p.Min, p.HasMin = math.Float64frombits(f.u), true
			}
		case fHistMax:
			if it.want(protowire.Fixed64Type) {
				p.Max, p.HasMax = math.Float64frombits(f.u), true
			}
		}
		if err != nil {
			it.fail(err)
		}
	}
	return it.err
}

func (r *Metrics) readExpHistogram(b []byte) error {
	p := r.cur
	it := iterFields(b, "ExponentialHistogramDataPoint")
	for it.next() {
		f := &it.f
		var err error
		switch f.num {
		case fExpAttrs:
			if it.want(protowire.BytesType) {
				p.Attrs, err = appendKV(p.Attrs, f.b, 0)
			}
		case fPointStart:
			if it.want(protowire.Fixed64Type) {
				p.Start = f.u
			}
		case fPointTime:
			if it.want(protowire.Fixed64Type) {
				p.Time = f.u
			}
		case fExpCount:
			if it.want(protowire.Fixed64Type) {
				p.Count = f.u
			}
		case fExpSum:
			if it.want(protowire.Fixed64Type) {
				p.Sum, p.HasSum = math.Float64frombits(f.u), true
			}
		case fExpScale:
			if it.want(protowire.VarintType) {
				p.Scale = zigzag32(f.u)
			}
		case fExpZeroCount:
			if it.want(protowire.Fixed64Type) {
				p.ZeroCount = f.u
			}
		case fExpPositive:
			// A Buckets message given twice merges, as pdata merges it.
			if it.want(protowire.BytesType) {
				err = readBuckets(f.b, &p.PositiveOffset, &p.PositiveBucketCounts)
			}
		case fExpNegative:
			if it.want(protowire.BytesType) {
				err = readBuckets(f.b, &p.NegativeOffset, &p.NegativeBucketCounts)
			}
		case fExpFlags:
			if it.want(protowire.VarintType) {
				p.Flags = uint32(f.u)
			}
		case fExpExemplars:
			if it.want(protowire.BytesType) {
				err = r.readExemplar(f.b)
			}
		case fExpMin:
			if it.want(protowire.Fixed64Type) {
				p.Min, p.HasMin = math.Float64frombits(f.u), true
			}
		case fExpMax:
			if it.want(protowire.Fixed64Type) {
				p.Max, p.HasMax = math.Float64frombits(f.u), true
			}
		case fExpZeroThr:
			if it.want(protowire.Fixed64Type) {
				p.ZeroThreshold = math.Float64frombits(f.u)
			}
		}
		if err != nil {
			it.fail(err)
		}
	}
	return it.err
}

func readBuckets(b []byte, offset *int32, counts *[]uint64) error {
	it := iterFields(b, "Buckets")
	for it.next() {
		switch it.f.num {
		case fBucketsOffset:
			if it.want(protowire.VarintType) {
				*offset = zigzag32(it.f.u)
			}
		case fBucketsCounts:
			switch it.f.typ {
			case protowire.VarintType:
				*counts = append(*counts, it.f.u)
			case protowire.BytesType:
				for v := it.f.b; len(v) > 0; {
					u, n := consumeVarint(v)
					if n < 0 {
						it.fail(&Error{Msg: "Buckets", Field: fBucketsCounts, Err: errTruncated})
						break
					}
					*counts = append(*counts, u)
					v = v[n:]
				}
			default:
				it.want(protowire.VarintType)
			}
		}
	}
	return it.err
}

func (r *Metrics) readSummary(b []byte) error {
	p := r.cur
	it := iterFields(b, "SummaryDataPoint")
	for it.next() {
		f := &it.f
		var err error
		switch f.num {
		case fSummaryAttrs:
			if it.want(protowire.BytesType) {
				p.Attrs, err = appendKV(p.Attrs, f.b, 0)
			}
		case fPointStart:
			if it.want(protowire.Fixed64Type) {
				p.Start = f.u
			}
		case fPointTime:
			if it.want(protowire.Fixed64Type) {
				p.Time = f.u
			}
		case fSummaryCount:
			if it.want(protowire.Fixed64Type) {
				p.Count = f.u
			}
		case fSummarySum:
			if it.want(protowire.Fixed64Type) {
				p.Sum = math.Float64frombits(f.u)
			}
		case fSummaryQuantiles:
			if it.want(protowire.BytesType) {
				var q Quantile
				qt := iterFields(f.b, "ValueAtQuantile")
				for qt.next() {
					switch qt.f.num {
					case fQuantileQuantile:
						if qt.want(protowire.Fixed64Type) {
							q.Quantile = math.Float64frombits(qt.f.u)
						}
					case fQuantileValue:
						if qt.want(protowire.Fixed64Type) {
							q.Value = math.Float64frombits(qt.f.u)
						}
					}
				}
				err = qt.err
				p.Quantiles = append(p.Quantiles, q)
			}
		case fSummaryFlags:
			if it.want(protowire.VarintType) {
				p.Flags = uint32(f.u)
			}
		}
		if err != nil {
			it.fail(err)
		}
	}
	return it.err
}

// readExemplar appends an exemplar to the current point.
func (r *Metrics) readExemplar(b []byte) error {
	p := r.cur
	ex := Exemplar{}
	start := len(p.ExemplarAttrs)
	it := iterFields(b, "Exemplar")
	for it.next() {
		f := &it.f
		var err error
		switch f.num {
		case fExemplarAttrs:
			if it.want(protowire.BytesType) {
				p.ExemplarAttrs, err = appendKV(p.ExemplarAttrs, f.b, 0)
			}
		case fExemplarTime:
			if it.want(protowire.Fixed64Type) {
				ex.Time = f.u
			}
		case fExemplarDouble:
			if it.want(protowire.Fixed64Type) {
				ex.ValueType, ex.Double, ex.Int = NumberDouble, math.Float64frombits(f.u), 0
			}
		case fExemplarInt:
			if it.want(protowire.Fixed64Type) {
				ex.ValueType, ex.Int, ex.Double = NumberInt, int64(f.u), 0
			}
		case fExemplarTraceID:
			if it.want(protowire.BytesType) {
				switch len(f.b) {
				case 0:
					ex.TraceID = [16]byte{}
				case 16:
					copy(ex.TraceID[:], f.b)
				default:
					err = &Error{Msg: "Exemplar", Field: fExemplarTraceID, Err: errTraceIDSize}
				}
			}
		case fExemplarSpanID:
			if it.want(protowire.BytesType) {
				switch len(f.b) {
				case 0:
					ex.SpanID = [8]byte{}
				case 8:
					copy(ex.SpanID[:], f.b)
				default:
					err = &Error{Msg: "Exemplar", Field: fExemplarSpanID, Err: errSpanIDSize}
				}
			}
		}
		if err != nil {
			it.fail(err)
		}
	}
	if it.err != nil {
		return it.err
	}
	// Attrs may view an array that ExemplarAttrs leaves when it grows: readPoint points it at
	// the final one, once the point is read. Doing so here, for every exemplar so far, made a
	// point's reading quadratic in its exemplars.
	ex.Attrs = p.ExemplarAttrs[start:len(p.ExemplarAttrs):len(p.ExemplarAttrs)]
	p.Exemplars = append(p.Exemplars, ex)
	return nil
}

// viewExemplarAttrs points every exemplar's Attrs into p.ExemplarAttrs as it is now. Their
// attributes follow one another there in the order of the exemplars, so each one's lie after
// the previous one's: only their lengths are needed.
func (p *Point) viewExemplarAttrs() {
	at := 0
	for i := range p.Exemplars {
		n := len(p.Exemplars[i].Attrs)
		p.Exemplars[i].Attrs = p.ExemplarAttrs[at : at+n : at+n]
		at += n
	}
}

// repeatedFixed64 reads one occurrence of a repeated fixed64 or double field as pdata does: a
// packed occurrence replaces what earlier ones gave, an unpacked one appends.
func repeatedFixed64(it *fields, dst []uint64) ([]uint64, error) {
	f := &it.f
	switch f.typ {
	case protowire.Fixed64Type:
		return append(dst, f.u), nil
	case protowire.BytesType:
		if len(f.b)%8 != 0 {
			return dst, &Error{Msg: it.msg, Field: int32(f.num), Err: errPackedSize}
		}
		dst = dst[:0]
		for v := f.b; len(v) >= 8; v = v[8:] {
			dst = append(dst, uint64(v[0])|uint64(v[1])<<8|uint64(v[2])<<16|uint64(v[3])<<24|
				uint64(v[4])<<32|uint64(v[5])<<40|uint64(v[6])<<48|uint64(v[7])<<56)
		}
		return dst, nil
	}
	it.want(protowire.Fixed64Type)
	return dst, nil
}

// zigzag32 decodes a sint32 as pdata does: from the varint's low 33 bits.
func zigzag32(u uint64) int32 {
	return int32(uint32(u>>1) ^ uint32(int32((u&1)<<31)>>31))
}

// float64Bits and bitsFloat64 view a []float64 as []uint64 and back (same size and layout), so
// that explicit bounds reuse repeatedFixed64 and their slice.
func float64Bits(f []float64) []uint64 {
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(f))), cap(f))[:len(f)]
}

func bitsFloat64(u []uint64) []float64 {
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(u))), cap(u))[:len(u)]
}

// MetricsStats is what CheckMetrics counts.
type MetricsStats struct {
	Points int // data points, as pmetric.Metrics.DataPointCount counts them
}

// CheckMetrics reads the whole of req with r, and fails where pdata's decoding would fail.
func CheckMetrics(r *Metrics, req []byte) (MetricsStats, error) {
	var st MetricsStats
	r.Reset(req)
	for r.NextResource() {
		for r.NextScope() {
			for r.NextMetric() {
				for r.NextPoint() {
					st.Points++
				}
			}
		}
	}
	return st, r.Err()
}
