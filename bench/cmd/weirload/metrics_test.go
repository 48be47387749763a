package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestSeriesSet_Build(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	set := newSeriesSet(512, 1, start)
	prev := map[string]int64{} // series -> last cumulative count or total
	for round := range 3 {
		now := start.Add(time.Duration(round+1) * time.Second)
		md := set.build("svc", now)
		require.Equal(t, 512, md.DataPointCount())
		types := map[pmetric.MetricType]int{}
		ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
		assert.Equal(t, numTypes*namesPerType, ms.Len())
		for i := range ms.Len() {
			m := ms.At(i)
			switch m.Type() {
			case pmetric.MetricTypeGauge:
				types[m.Type()] += m.Gauge().DataPoints().Len()
			case pmetric.MetricTypeSum:
				assert.True(t, m.Sum().IsMonotonic())
				assert.Equal(t, pmetric.AggregationTemporalityCumulative, m.Sum().AggregationTemporality())
				dps := m.Sum().DataPoints()
				types[m.Type()] += dps.Len()
				for j := range dps.Len() {
					dp := dps.At(j)
					id, _ := dp.Attributes().Get("series")
					assert.Greater(t, dp.IntValue(), prev[id.Str()])
					prev[id.Str()] = dp.IntValue()
					assert.Equal(t, start.UnixNano(), int64(dp.StartTimestamp()))
					assert.Equal(t, now.UnixNano(), int64(dp.Timestamp()))
				}
			case pmetric.MetricTypeHistogram:
				dps := m.Histogram().DataPoints()
				types[m.Type()] += dps.Len()
				for j := range dps.Len() {
					dp := dps.At(j)
					assert.Equal(t, dp.Count(), total(dp.BucketCounts().AsRaw()))
					assert.Equal(t, dp.ExplicitBounds().Len()+1, dp.BucketCounts().Len())
					id, _ := dp.Attributes().Get("series")
					assert.Greater(t, int64(dp.Count()), prev[id.Str()])
					prev[id.Str()] = int64(dp.Count())
				}
			case pmetric.MetricTypeExponentialHistogram:
				dps := m.ExponentialHistogram().DataPoints()
				types[m.Type()] += dps.Len()
				for j := range dps.Len() {
					dp := dps.At(j)
					assert.Equal(t, dp.Count(), total(dp.Positive().BucketCounts().AsRaw())+dp.ZeroCount())
				}
			case pmetric.MetricTypeSummary:
				dps := m.Summary().DataPoints()
				types[m.Type()] += dps.Len()
				for j := range dps.Len() {
					assert.Equal(t, 3, dps.At(j).QuantileValues().Len())
				}
			}
		}
		assert.Equal(t, map[pmetric.MetricType]int{
			pmetric.MetricTypeGauge:                103,
			pmetric.MetricTypeSum:                  103,
			pmetric.MetricTypeHistogram:            102,
			pmetric.MetricTypeExponentialHistogram: 102,
			pmetric.MetricTypeSummary:              102,
		}, types)
	}
}

func TestExpIndex(t *testing.T) {
	f := func(v float64, want int) {
		t.Helper()
		assert.Equal(t, want, expIndex(v), "expIndex(%g)", v)
	}
	f(1.0001, 0)
	f(1.189, 0) // 2^(1/4) = 1.1892
	f(1.19, 1)
	f(2, 3)
	f(1000, 39)
	f(5000, 39)
}

func total(counts []uint64) uint64 {
	var n uint64
	for _, c := range counts {
		n += c
	}
	return n
}
