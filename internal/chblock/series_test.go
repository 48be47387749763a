package chblock

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/otlpwire"
)

// seriesMinute is a minute start, in Unix nanoseconds.
var seriesMinute = uint64(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).UnixNano())

// histogramPoint is a DELTA histogram point of bounds and counts, the n-th of its minute.
func histogramPoint(bounds []float64, counts []uint64, n int) *otlpwire.Point {
	return &otlpwire.Point{Time: seriesMinute + uint64(n), ExplicitBounds: bounds, BucketCounts: counts,
		HasSum: true, Sum: 1, Attrs: []otlpwire.KV{{Key: []byte("k"), Value: otlpwire.Value{Type: 1, Bytes: []byte("v")}}}}
}

var histogramContext = &MetricContext{Service: []byte("svc"),
	Metric: &otlpwire.Metric{Name: []byte("latency"), Unit: []byte("ms"), Type: otlpwire.MetricHistogram, Temporality: 1}}

// rowBuckets is row r's BucketBounds and BucketCounts.
func rowBuckets(s *SeriesBlock, r int) ([]float64, []uint64) {
	lo := 0
	if r > 0 {
		lo = int((*s.bucketBounds.offsets)[r-1])
	}
	hi := int((*s.bucketBounds.offsets)[r])
	return []float64((*s.bucketBoundsData)[lo:hi]), []uint64((*s.bucketCountsData)[lo:hi])
}

// Points of one row with ever new bucket layouts merge in n log n: each one rebuilt the
// merged row, 7.4 s for 80,000 points of one bound each.
func TestSeriesBlock_ManyBucketLayoutsInOneRow(t *testing.T) {
	const n = 80_000 // 7-10 s before, on 2 cores
	s := NewSeriesBlock(false)
	bounds := make([]float64, n)
	for i := range n {
		bounds[i] = float64(i)
		s.Add(histogramContext, histogramPoint(bounds[i:i+1], []uint64{1, 1}, i), 42, 1)
	}
	t0 := time.Now()
	rows := s.Rows()
	took := time.Since(t0)
	t.Logf("build of %d points: %v", n, took)
	assert.Less(t, took, 2*time.Second, "%d points of distinct layouts in one row", n)
	require.Equal(t, 1, rows)
	gotB, gotC := rowBuckets(s, 0)
	require.Len(t, gotB, n+1)
	for i := range n {
		require.Equal(t, float64(i), gotB[i])
		require.Equal(t, uint64(1), gotC[i], "bound %d", i)
	}
	assert.Equal(t, math.Inf(1), gotB[n])
	assert.Equal(t, uint64(n), gotC[n])
}

// The merged buckets of a row against a map from bound to summed count, sorted, on random
// rows whose points mix layouts: the same layout again and again, subsets, overlaps, layouts
// coming back, points without buckets; and rows of one layout. Half the rounds have rows of
// more than 128 bounds, of layouts of up to 100 bounds, so that runs stack up before merging.
func TestSeriesBlock_BucketsMergeAsASum(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	s := NewSeriesBlock(false)
	big := 0 // rows of more than 128 bounds
	for round := range 400 {
		s.Reset()
		layouts := make([][]float64, 1+r.IntN(5))
		upper := 10.0
		if round%2 == 1 {
			upper = 150
		}
		for i := range layouts {
			for b := -3 + r.Float64(); b < upper; b += float64(1+r.IntN(3)) / 2 {
				if r.IntN(3) != 0 {
					layouts[i] = append(layouts[i], math.Round(b*2)/2)
				}
			}
			layouts[i] = slices.Compact(layouts[i])
		}
		series := 1 + r.IntN(4)
		want := make([]map[float64]uint64, series)
		for i := range want {
			want[i] = map[float64]uint64{}
		}
		var order []int // the series in order of their first point: their rows' order
		for k := range 1 + r.IntN(40) {
			ser := r.IntN(series)
			if !slices.Contains(order, ser) {
				order = append(order, ser)
			}
			bounds := layouts[r.IntN(len(layouts))]
			counts := make([]uint64, len(bounds)+1)
			for j := range counts {
				counts[j] = uint64(r.IntN(1000))
			}
			if r.IntN(10) == 0 { // no buckets: a CUMULATIVE point, or one without any
				s.Add(histogramContext, histogramPoint(bounds, counts, k), uint64(ser), 2)
				continue
			}
			s.Add(histogramContext, histogramPoint(bounds, counts, k), uint64(ser), 1)
			for j, c := range counts {
				bound := math.Inf(1)
				if j < len(bounds) {
					bound = bounds[j]
				}
				want[ser][bound] += c
			}
		}
		require.Equal(t, len(order), s.Rows(), "round %d", round)
		for row, ser := range order {
			var wb []float64
			for b := range want[ser] {
				wb = append(wb, b)
			}
			slices.Sort(wb)
			wc := make([]uint64, len(wb))
			for i, b := range wb {
				wc[i] = want[ser][b]
			}
			gb, gc := rowBuckets(s, row)
			if len(wb) == 0 {
				assert.Empty(t, gb, "round %d", round)
				continue
			}
			require.Equal(t, wb, gb, "round %d, row %d: bounds", round, row)
			require.Equal(t, wc, gc, "round %d, row %d: counts", round, row)
			if len(gb) > 128 {
				big++
			}
		}
	}
	assert.Greater(t, big, 100, "rows of many bounds")
}

// go test -run '^$' -bench SeriesBlock ./internal/chblock: building the rows of a block of
// 2,000 series × 3 minutes, 4 points each, histograms of one bucket layout, gauges and sums;
// and of one whose histogram series change their layout once, midway.
func BenchmarkSeriesBlock_Build(b *testing.B) {
	for _, mixed := range []bool{false, true} {
		b.Run(fmt.Sprintf("mixedLayouts=%v", mixed), func(b *testing.B) {
			s := NewSeriesBlock(false)
			layoutA := []float64{0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000}
			layoutB := []float64{0, 10, 50, 100, 500, 1000, 5000, 10000}
			gauge := &MetricContext{Service: []byte("svc"), Metric: &otlpwire.Metric{Name: []byte("g"), Type: otlpwire.MetricGauge}}
			sum := &MetricContext{Service: []byte("svc"), Metric: &otlpwire.Metric{Name: []byte("c"), Type: otlpwire.MetricSum, Temporality: 1}}
			fill := func() {
				s.Reset()
				for m := range 3 {
					for k := range 4 {
						for ser := range 2000 {
							at := seriesMinute + uint64(m)*60e9 + uint64(k)*1e9
							switch ser % 3 {
							case 0:
								bounds := layoutA
								if mixed && k >= 2 {
									bounds = layoutB
								}
								p := histogramPoint(bounds, make([]uint64, 16)[:len(bounds)+1], 0)
								p.Time = at
								s.Add(histogramContext, p, uint64(ser), 1)
							case 1:
								s.Add(gauge, &otlpwire.Point{Time: at, ValueType: otlpwire.NumberDouble, Double: 1}, uint64(ser), 0)
							default:
								s.Add(sum, &otlpwire.Point{Time: at, ValueType: otlpwire.NumberInt, Int: 3}, uint64(ser), 1)
							}
						}
					}
				}
			}
			fill()
			points := s.Points()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				fill()
				b.StartTimer()
				s.Rows()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*points), "ns/point")
		})
	}
}
