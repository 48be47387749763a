package main

import (
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// The five point types, in the order series take them (series i has type i mod numTypes).
const (
	typeGauge = iota
	typeSum
	typeHistogram
	typeExpHistogram
	typeSummary
	numTypes
)

// namesPerType metric names share a type's series: weirload.<type>.0 to .3.
const namesPerType = 4

var typeNames = [numTypes]string{"gauge", "sum", "histogram", "exponential_histogram", "summary"}

// histogramBounds are the explicit bucket bounds of the histograms, in ms.
var histogramBounds = []float64{5, 10, 25, 50, 100, 250, 500, 1000}

// Exponential histograms use scale expScale and expBuckets positive buckets from offset 0,
// which hold every observation in (1, 1024).
const (
	expScale   = 2
	expBuckets = 40
)

// seriesSet is one worker's metric series and their running values: the worker's request k
// carries point k of each of them. Not safe for concurrent use.
type seriesSet struct {
	worker string
	start  pcommon.Timestamp
	rnd    *rand.Rand
	series []series
}

// series is the running state of one series; which fields it uses depends on its type.
type series struct {
	id       string   // the value of the series attribute
	total    int64    // sum: the running total
	count    uint64   // histograms and summaries: observations so far
	sum      float64  // and their sum
	min, max float64  // and their extremes
	buckets  []uint64 // histograms: bucket counts so far
}

// newSeriesSet makes worker w's n series, numbered w*n to w*n+n-1; the cumulative ones start
// at start.
func newSeriesSet(n, w int, start time.Time) *seriesSet {
	s := &seriesSet{
		worker: strconv.Itoa(w),
		start:  pcommon.NewTimestampFromTime(start),
		rnd:    rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(w))),
		series: make([]series, n),
	}
	for i := range s.series {
		sr := &s.series[i]
		sr.id = strconv.Itoa(w*n + i)
		sr.min, sr.max = math.Inf(1), math.Inf(-1)
		switch i % numTypes {
		case typeHistogram:
			sr.buckets = make([]uint64, len(histogramBounds)+1)
		case typeExpHistogram:
			sr.buckets = make([]uint64, expBuckets)
		}
	}
	return s
}

// build advances every series by one point at now and returns them as one request.
func (s *seriesSet) build(service string, now time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", service)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("weirload")
	var metrics [numTypes * namesPerType]pmetric.Metric
	var made [numTypes * namesPerType]bool
	ts := pcommon.NewTimestampFromTime(now)
	for i := range s.series {
		typ := i % numTypes
		k := typ*namesPerType + (i/numTypes)%namesPerType
		if !made[k] {
			metrics[k] = newMetric(sm.Metrics().AppendEmpty(), typ, k%namesPerType)
			made[k] = true
		}
		s.point(metrics[k], typ, &s.series[i], ts)
	}
	return md
}

// newMetric sets m up as metric number n of type typ.
func newMetric(m pmetric.Metric, typ, n int) pmetric.Metric {
	m.SetName("weirload." + typeNames[typ] + "." + strconv.Itoa(n))
	switch typ {
	case typeGauge:
		m.SetUnit("1")
		m.SetEmptyGauge()
	case typeSum:
		m.SetUnit("{request}")
		sum := m.SetEmptySum()
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		sum.SetIsMonotonic(true)
	case typeHistogram:
		m.SetUnit("ms")
		m.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	case typeExpHistogram:
		m.SetUnit("ms")
		m.SetEmptyExponentialHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	case typeSummary:
		m.SetUnit("ms")
		m.SetEmptySummary()
	}
	return m
}

// point advances sr and appends its point at ts to m.
func (s *seriesSet) point(m pmetric.Metric, typ int, sr *series, ts pcommon.Timestamp) {
	var attrs pcommon.Map
	switch typ {
	case typeGauge:
		dp := m.Gauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(s.rnd.Float64() * 100)
		attrs = dp.Attributes()
	case typeSum:
		sr.total += 1 + s.rnd.Int64N(10)
		dp := m.Sum().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(s.start)
		dp.SetTimestamp(ts)
		dp.SetIntValue(sr.total)
		attrs = dp.Attributes()
	case typeHistogram:
		s.observe(sr, func(v float64) int { return sort.SearchFloat64s(histogramBounds, v) })
		dp := m.Histogram().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(s.start)
		dp.SetTimestamp(ts)
		dp.SetCount(sr.count)
		dp.SetSum(sr.sum)
		dp.SetMin(sr.min)
		dp.SetMax(sr.max)
		dp.ExplicitBounds().FromRaw(histogramBounds)
		dp.BucketCounts().FromRaw(sr.buckets)
		attrs = dp.Attributes()
	case typeExpHistogram:
		s.observe(sr, expIndex)
		dp := m.ExponentialHistogram().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(s.start)
		dp.SetTimestamp(ts)
		dp.SetCount(sr.count)
		dp.SetSum(sr.sum)
		dp.SetMin(sr.min)
		dp.SetMax(sr.max)
		dp.SetScale(expScale)
		dp.Positive().BucketCounts().FromRaw(sr.buckets)
		attrs = dp.Attributes()
	case typeSummary:
		s.observe(sr, nil)
		dp := m.Summary().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(s.start)
		dp.SetTimestamp(ts)
		dp.SetCount(sr.count)
		dp.SetSum(sr.sum)
		qs := dp.QuantileValues()
		qs.EnsureCapacity(3)
		for _, q := range [...][2]float64{{0, sr.min}, {0.5, sr.sum / float64(sr.count)}, {1, sr.max}} {
			qv := qs.AppendEmpty()
			qv.SetQuantile(q[0])
			qv.SetValue(q[1])
		}
		attrs = dp.Attributes()
	}
	attrs.EnsureCapacity(2)
	attrs.PutStr("series", sr.id)
	attrs.PutStr("worker", s.worker)
}

// observe adds one to four observations in (1, 1001) to sr, counting each in the bucket
// bucket says (none when bucket is nil).
func (s *seriesSet) observe(sr *series, bucket func(float64) int) {
	for n := 1 + s.rnd.IntN(4); n > 0; n-- {
		v := 1 + 1000*s.rnd.Float64()*s.rnd.Float64() // skewed towards small values
		sr.count++
		sr.sum += v
		sr.min, sr.max = min(sr.min, v), max(sr.max, v)
		if bucket != nil {
			sr.buckets[bucket(v)]++
		}
	}
}

// expIndex is the positive bucket of v > 1 at scale expScale: the i with
// 2^(i/2^scale) < v <= 2^((i+1)/2^scale).
func expIndex(v float64) int {
	i := int(math.Ceil(math.Log2(v)*(1<<expScale))) - 1
	return max(0, min(i, expBuckets-1))
}
