package rollup

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/weirhq/weir/internal/model"
)

// QueryScale is the scale of the latency distributions the per-service tiers store and every
// RED and edges query returns: one below model.LatencyScale, so bucket i holds
// (2^(i/32), 2^((i+1)/32)] nanoseconds and its midpoint is within 1.1% of any value in it.
// Half as many buckets as the one-minute tier's makes a week of a service's distributions
// half as much to read and add up, and 1.1% stays inside the 2% that percentiles promise.
const QueryScale = model.LatencyScale - 1

// queryDownscale is QueryScale as a model.Distribution's Downscale.
const queryDownscale = uint8(model.LatencyScale - QueryScale)

// LatencyOrigin is the lowest bucket at QueryScale that weir stores: (2^(-1/32), 1]
// nanoseconds. Durations are whole nanoseconds, so every one above zero lies in it or above;
// a lower bucket (a duration below one nanosecond) is counted in it. Dense bucket arrays of
// different rows line up when each starts at this bucket (MergeLatencySQL).
const LatencyOrigin = -1

// sinceOrigin is the SQL of index - LatencyOrigin: the position, from 0, of bucket index in
// dense counts that start at LatencyOrigin.
func sinceOrigin(index string) string { return plus(index, -LatencyOrigin) }

// bucketAt is the SQL of the bucket at position k, from 1, of dense counts that start at
// LatencyOrigin.
func bucketAt(k string) string { return plus(k, LatencyOrigin-1) }

// plus is the SQL of x + d.
func plus(x string, d int) string {
	switch {
	case d < 0:
		return x + " - " + strconv.Itoa(-d)
	case d > 0:
		return x + " + " + strconv.Itoa(d)
	}
	return x
}

// downscaledSumMap merges the sparse scale-6 buckets of a tier's rows (BucketIndexes,
// BucketCounts) into sorted QueryScale buckets, no lower than LatencyOrigin: bucket i goes to
// floor(i/2).
var downscaledSumMap = "sumMap(arrayMap(i -> toInt32(greatest(floor(i / 2), " + strconv.Itoa(LatencyOrigin) + ")), BucketIndexes), BucketCounts)"

// sparseToOriginSQL is an aggregate over rows of a tier with sparse scale-6 buckets: their
// distributions merged, as dense counts at QueryScale starting at LatencyOrigin. sumMap
// merges them (its map is keyed by bucket, so the rows' buckets need not line up) and
// groupArrayInsertAt spreads the merged buckets out, once per group rather than once per row.
func sparseToOriginSQL() string {
	return "arrayReduce('groupArrayInsertAt', (" + downscaledSumMap + " AS m).2, arrayMap(i -> toUInt32(" + sinceOrigin("i") + "), m.1))"
}

// sparseFromFirstSQL is the merged sparse buckets m (sorted indexes m.1, counts m.2) as dense
// counts starting at the first of them. arrayDifference and arrayCumSum give each bucket's
// position without a lambda that captures a column, which 18.16 cannot always resolve.
func sparseFromFirstSQL(m string) string {
	return "arrayReduce('groupArrayInsertAt', " + m + ".2, arrayMap(x -> toUInt32(x), arrayCumSum(arrayDifference(" + m + ".1))))"
}

// denseAtOriginSQL is dense counts that start at bucket offset, shifted to start at
// LatencyOrigin (zeros before them).
func denseAtOriginSQL(offset, counts string) string {
	return "arrayConcat(arrayResize(emptyArrayUInt64(), toUInt32(" + sinceOrigin(offset) + ")), " + counts + ")"
}

// MergeLatencySQL is an aggregate expression that merges the latency distributions of many
// rows, each held as dense counts at QueryScale in the column counts starting at bucket
// offset (as the columns bucket_offset and bucket_counts of a RED or edges query hold them):
// every row's counts are shifted to start at LatencyOrigin and added element by element. The
// result is dense counts starting at LatencyOrigin; read a quantile of it with
// QuantileSQL(q, name, zeroCount, strconv.Itoa(LatencyOrigin), <the result>).
func MergeLatencySQL(offset, counts string) string {
	return "sumForEach(" + denseAtOriginSQL(offset, counts) + ")"
}

// QuantileSQL is the q-quantile in nanoseconds of a latency distribution held in the columns
// zeroCount and counts, dense counts at QueryScale of the buckets offset, offset+1, ...:
// model.Distribution.Quantile in SQL. It is the geometric midpoint 2^((i+0.5)/32) of the
// bucket i holding the value of rank model.QuantileRank (ceil(q*n), at least 1), 0 when that
// value is in the zero bucket, NaN when there are no values. name makes its aliases (name_n,
// name_rank) unique in a query.
func QuantileSQL(q float64, name, zeroCount, offset, counts string) string {
	if math.IsNaN(q) {
		return "nan"
	}
	q = min(max(q, 0), 1)
	n, rank := name+"_n", name+"_rank"
	return fmt.Sprintf("if((%[5]s + arraySum(%[7]s) AS %[2]s) = 0, nan, "+
		"if(%[5]s >= (greatest(1, toUInt64(ceil(%[1]s * %[2]s))) AS %[3]s), 0, "+
		"exp2((%[6]s + arrayFirstIndex(c -> c + %[5]s >= %[3]s, arrayCumSum(%[7]s)) - 0.5) / %[4]d)))",
		strconv.FormatFloat(q, 'g', -1, 64), n, rank, 1<<QueryScale, zeroCount, offset, counts)
}

// storedQuantiles are the quantiles the per-service tiers store with each row, and their
// columns: the percentiles dashboards draw.
var storedQuantiles = []struct {
	q      float64
	column string
}{{0.5, "P50Nano"}, {0.95, "P95Nano"}, {0.99, "P99Nano"}}

func storedQuantileColumns() []string {
	out := make([]string, len(storedQuantiles))
	for i, s := range storedQuantiles {
		out[i] = s.column
	}
	return out
}

// storedQuantileColumn is the column of a per-service tier that holds quantile q, if any.
func storedQuantileColumn(q float64) (string, bool) {
	for _, s := range storedQuantiles {
		if s.q == q {
			return s.column, true
		}
	}
	return "", false
}

// storedQuantilesSQL is the stored quantiles of a distribution as SELECT expressions, each
// after ",\n       ".
func storedQuantilesSQL(zero, offset, counts string) string {
	var b strings.Builder
	for _, s := range storedQuantiles {
		b.WriteString(",\n       " + QuantileSQL(s.q, "rollup_"+strings.ToLower(s.column), zero, offset, counts))
	}
	return b.String()
}

// denseDistribution is a model.Distribution at QueryScale from dense counts starting at
// bucket offset; empty buckets are left out.
func denseDistribution(zero uint64, offset int32, counts []uint64) model.Distribution {
	d := model.Distribution{ZeroCount: zero, Downscale: queryDownscale}
	for k, c := range counts {
		if c > 0 {
			d.Indexes = append(d.Indexes, offset+int32(k))
			d.Counts = append(d.Counts, c)
		}
	}
	return d
}
