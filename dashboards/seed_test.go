package dashboards

import (
	"context"
	"encoding/hex"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/rollup"
)

// The seed: known telemetry for every minute of three days, rolled up so that the tiers
// overlap the way they do in production (the 1h and 1d tiers lag behind the 1m tier).
var (
	seedFrom = time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC) // a Monday
	seedTo   = seedFrom.Add(72 * time.Hour)
	// rollupNow is the rollup job's clock: red_1h and friends hold [seedFrom, +58h),
	// red_1d and friends [seedFrom, +48h); the 1m tier holds all three days.
	rollupNow = seedFrom.Add(58*time.Hour + 30*time.Minute)
)

// redSeed is one RED row written every minute: durations in milliseconds (one request each)
// and requests of zero duration.
type redSeed struct {
	service, operation string
	status             uint8
	durationsMs        []int
	zeros              int
}

func msRange(from, to, step int) []int {
	var out []int
	for v := from; v <= to; v += step {
		out = append(out, v)
	}
	return out
}

var redSeeds = []redSeed{
	{"frontend", "GET /", 0, msRange(1, 95, 1), 0},
	{"frontend", "GET /", 2, msRange(96, 100, 1), 0},
	{"frontend", "GET /health", 0, nil, 10},
	{"cart", "GetCart", 0, msRange(10, 490, 10), 0},
	{"cart", "GetCart", 2, []int{500}, 0},
}

// edgeSeed is one service-graph row written every minute.
type edgeSeed struct {
	client, server, connType string
	failed                   uint8
	durationsMs              []int
	zeros                    int
}

var edgeSeeds = []edgeSeed{
	{"user", "frontend", "", 0, msRange(1, 100, 1), 10},
	{"frontend", "cart", "", 0, msRange(10, 490, 10), 0},
	{"frontend", "cart", "", 1, []int{500}, 0},
	{"cart", "redis", "database", 0, slices.Repeat([]int{1}, 50), 0},
}

// seriesSeed is one metric series with one point per minute; value gives the point's value
// in minute i of the seed.
type seriesSeed struct {
	service, metric string
	metricType      uint8
	hash            uint64
	keys, values    []string
	value           func(i int) float64
}

var seriesSeeds = []seriesSeed{
	{"frontend", "http.server.request.count", 2, 11, []string{"http.route"}, []string{"/"}, func(int) float64 { return 100 }},
	{"frontend", "http.server.request.count", 2, 12, []string{"http.route"}, []string{"/cart"}, func(int) float64 { return 10 }},
	{"cart", "http.server.request.count", 2, 21, []string{"http.route"}, []string{"/get"}, func(int) float64 { return 50 }},
	{"frontend", "process.memory.usage", 1, 13, nil, nil, func(i int) float64 { return float64(1000 + i%60) }},
}

// spanSeed is one stored span.
type spanSeed struct {
	trace, span, parent string // hex
	service, operation  string
	start               time.Time
	duration            time.Duration
	status              uint8
	message             string
	weight              float64
}

var (
	traceAt = seedFrom.Add(50 * time.Hour) // 2024-03-06 02:00 UTC
	trace1  = "5b8efff798038103d269b633813fc60c"
	trace2  = "00000000000000000000000000000002"
)

var spanSeeds = []spanSeed{
	{trace1, "1000000000000001", "", "frontend", "GET /", traceAt, 900 * time.Millisecond, 0, "", 1},
	{trace1, "1000000000000002", "1000000000000001", "cart", "GetCart", traceAt.Add(50 * time.Millisecond), 800 * time.Millisecond, 0, "", 1},
	{trace2, "2000000000000001", "", "frontend", "GET /", traceAt.Add(time.Minute), 50 * time.Millisecond, 0, "", 4},
	{trace2, "2000000000000002", "2000000000000001", "cart", "GetCart", traceAt.Add(time.Minute + 5*time.Millisecond), 30 * time.Millisecond, 2, "boom", 4},
	{"00000000000000000000000000000003", "3000000000000001", "", "frontend", "GET /", traceAt.Add(2 * time.Minute), 10 * time.Millisecond, 0, "", 2},
	{"00000000000000000000000000000004", "4000000000000001", "", "frontend", "GET /", traceAt.Add(3 * time.Minute), 20 * time.Millisecond, 0, "", 2},
	{"00000000000000000000000000000005", "5000000000000001", "", "frontend", "GET /", traceAt.Add(4 * time.Minute), 30 * time.Millisecond, 0, "", 2},
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// distribution is the latency histogram of durations (ms) plus zeros, as the exporter writes it.
func distribution(durationsMs []int, zeros int) (sum float64, idx []int32, counts []uint64) {
	m := map[int32]uint64{}
	for _, d := range durationsMs {
		ns := float64(d) * 1e6
		sum += ns
		m[model.LatencyBucketIndex(ns)]++
	}
	for i := range m {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, i := range idx {
		counts = append(counts, m[i])
	}
	return sum, idx, counts
}

func unhexString(t *testing.T, s string) string {
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return string(b)
}

// seed migrates db and writes the seed (weir's own metrics through the ClickHouse exporter,
// the cost analysis through rollup.WriteAnalysis), then runs the rollup job at rollupNow.
func seed(t *testing.T, db *chtest.DB) {
	ctx := testContext(t)
	_, err := rollup.Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)

	insert := func(table string, cols []string, rows func(add func(...any))) {
		batch, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+db.Table(table)+" ("+strings.Join(cols, ", ")+")")
		require.NoError(t, err)
		rows(func(v ...any) { require.NoError(t, batch.Append(v...)) })
		require.NoError(t, batch.Send())
	}
	insert(rollup.TableRED1m, []string{"Timestamp", "ServiceName", "SpanName", "SpanKind", "StatusCode", "DimKeys", "DimValues",
		"Requests", "DurationSumNano", "ZeroCount", "BucketIndexes", "BucketCounts"}, func(add func(...any)) {
		for m := seedFrom; m.Before(seedTo); m = m.Add(time.Minute) {
			for _, s := range redSeeds {
				sum, idx, counts := distribution(s.durationsMs, s.zeros)
				add(m, s.service, s.operation, uint8(2), s.status, []string{}, []string{},
					uint64(len(s.durationsMs)+s.zeros), sum, uint64(s.zeros), idx, counts)
			}
		}
	})
	insert(rollup.TableEdges1m, []string{"Timestamp", "Client", "Server", "ConnectionType", "Failed",
		"Calls", "DurationSumNano", "ZeroCount", "BucketIndexes", "BucketCounts"}, func(add func(...any)) {
		for m := seedFrom; m.Before(seedTo); m = m.Add(time.Minute) {
			for _, s := range edgeSeeds {
				sum, idx, counts := distribution(s.durationsMs, s.zeros)
				add(m, s.client, s.server, s.connType, s.failed, uint64(len(s.durationsMs)+s.zeros), sum, uint64(s.zeros), idx, counts)
			}
		}
	})
	insert(rollup.TableSeries1m, []string{"Timestamp", "ServiceName", "MetricName", "MetricUnit", "MetricType", "SeriesHash",
		"AttributeKeys", "AttributeValues", "Count", "Sum", "Min", "Max", "Last", "LastTimeUnixNano", "BucketBounds", "BucketCounts"},
		func(add func(...any)) {
			i := 0
			for m := seedFrom; m.Before(seedTo); m = m.Add(time.Minute) {
				for _, s := range seriesSeeds {
					v := s.value(i)
					keys, vals := s.keys, s.values
					if keys == nil {
						keys, vals = []string{}, []string{}
					}
					add(m, s.service, s.metric, "1", s.metricType, s.hash, keys, vals, uint64(1), v, v, v, v,
						uint64(m.Add(30*time.Second).UnixNano()), []float64{}, []uint64{})
				}
				i++
			}
		})
	insert(rollup.TableSpans, []string{"Timestamp", "StartTimeUnixNano", "DurationNano", "ServiceName", "SpanName", "SpanKind",
		"TraceId", "SpanId", "ParentSpanId", "StatusCode", "StatusMessage", "SampleWeight",
		"SpanAttributeKeys", "SpanAttributeValues", "SpanAttributeTypes"}, func(add func(...any)) {
		for _, s := range spanSeeds {
			parent := s.parent
			if parent == "" {
				parent = "0000000000000000"
			}
			add(s.start.Truncate(time.Second), uint64(s.start.UnixNano()), int64(s.duration), s.service, s.operation, uint8(2),
				unhexString(t, s.trace), unhexString(t, s.span), unhexString(t, parent), s.status, s.message, s.weight,
				[]string{"http.route"}, []string{s.operation}, []uint8{1})
		}
	})
	// The spans' trace_index rows, as the clickhouse exporter writes them after the spans.
	sv, err := db.Conn.ServerVersion()
	require.NoError(t, err)
	index := rollup.NewTraceIndexBlock(sv.Timezone)
	for _, s := range spanSeeds {
		index.Add([16]byte([]byte(unhexString(t, s.trace))), uint64(s.start.UnixNano()),
			uint64(s.start.Add(s.duration).UnixNano()), s.service)
	}
	iw, err := rollup.NewTraceIndexWriter(db.Conn, db.Name)
	require.NoError(t, err)
	require.NoError(t, iw.Write(ctx, index))

	seedSelf(t, db)
	seedCost(t, db)

	job := &rollup.Job{Conn: db.Conn, Database: db.Name, Now: func() time.Time { return rollupNow }}
	_, err = job.Run(ctx, seedFrom, seedTo)
	require.NoError(t, err)
}

// seededMinutes counts the seeded minutes m with from <= m < to.
func seededMinutes(from, to time.Time) int {
	if from.Before(seedFrom) {
		from = seedFrom
	}
	if to.After(seedTo) {
		to = seedTo
	}
	n := 0
	for m := from.Truncate(time.Minute); m.Before(to); m = m.Add(time.Minute) {
		if !m.Before(from) {
			n++
		}
	}
	return n
}

// trueQuantile is the exact q-quantile (ns) of durations (ms) and zeros repeated per minute:
// the ceil(q*n)-th smallest value.
func trueQuantile(durationsMs []int, zeros int, q float64) float64 {
	vals := make([]float64, 0, len(durationsMs)+zeros)
	for range zeros {
		vals = append(vals, 0)
	}
	for _, d := range durationsMs {
		vals = append(vals, float64(d)*1e6)
	}
	sort.Float64s(vals)
	rank := int(math.Ceil(q * float64(len(vals))))
	return vals[max(rank, 1)-1]
}
