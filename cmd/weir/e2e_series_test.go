package main

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/collectortest"
)

// TestSeries_SDKCountersThroughShippedPipeline runs the shipped config/weir.yaml, whose metrics
// pipeline is weir_otlp with its metric stages, cumulative to delta and the series limit
// (max_series_per_metric 1000), and sends cumulative counters from the real OpenTelemetry Go SDK:
//
//   - a counter whose deltas must add up, in series_1m, to the counter's total;
//   - a counter with 1200 series, 200 past the limit, whose points must land in one overflow
//     series (otel.metric.overflow = true) with the metric's total intact.
//
// It runs the shipped file rather than startWeir, whose metric stages are off. Not parallel: it
// sets environment variables.
func TestSeries_SDKCountersThroughShippedPipeline(t *testing.T) {
	db := chtest.New(t)
	cfg, env := shippedConfig(t, db, map[string]string{
		// weir's own metrics are not looked at here; a sink keeps its stop clean.
		"WEIR_SELF_METRICS_ENDPOINT": selfMetricsSink(t),
	})
	grpcAddr := env["WEIR_OTLP_GRPC_ENDPOINT"]
	metricsPort, err := strconv.Atoi(env["WEIR_METRICS_PORT"])
	require.NoError(t, err)
	factories, err := components()
	require.NoError(t, err)
	collectortest.Start(t, factories, cfg)
	metricsURL := "http://127.0.0.1:" + strconv.Itoa(metricsPort) + "/metrics"

	// The SDK starts after weir, so cumulative_to_delta keeps each series' first point (its
	// start time is after the processor's): nothing counted is lost.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	exp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(grpcAddr), otlpmetricgrpc.WithInsecure())
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(resource.NewSchemaless(attribute.String("service.name", "series-sdk"))),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))))
	meter := mp.Meter("weir.test/series")
	requests, err := meter.Int64Counter("sdk.requests")
	require.NoError(t, err)
	exploding, err := meter.Int64Counter("sdk.exploding")
	require.NoError(t, err)

	const users, limit = 1200, 1000
	route := func(r string) metric.AddOption { return metric.WithAttributes(attribute.String("route", r)) }
	user := func(i int) metric.AddOption { return metric.WithAttributes(attribute.Int("user", i)) }
	var requestsTotal, explodingTotal int64
	for round, adds := range [][2]int64{{3, 4}, {5, 0}, {1, 2}} {
		requests.Add(ctx, adds[0], route("/a"))
		requests.Add(ctx, adds[1], route("/b"))
		requestsTotal += adds[0] + adds[1]
		if round < 2 {
			for i := 0; i < users; i++ {
				exploding.Add(ctx, int64(1+i%3), user(i))
				explodingTotal += int64(1 + i%3)
			}
		}
		// Each export carries the cumulative totals so far, as an SDK sends them.
		require.NoError(t, mp.ForceFlush(ctx))
	}
	require.NoError(t, mp.Shutdown(ctx)) // one more export, of unchanged totals
	require.Equal(t, int64(15), requestsTotal)

	series := db.Table("series_1m")
	where := func(metric string) string {
		return " FROM " + series + " WHERE ServiceName = 'series-sdk' AND MetricName = '" + metric + "'"
	}
	// Four exports of two series, each a delta point now (the last ones of 0).
	waitForCount(t, db, "SELECT sum(Count)"+where("sdk.requests"), 8, 30*time.Second)
	assert.Equal(t, uint64(requestsTotal), db.QueryUint64(t, "SELECT toUInt64(sum(Sum))"+where("sdk.requests")),
		"the deltas add up to the counter's total")
	assert.Equal(t, "/a=9 /b=6", db.QueryString(t, "SELECT arrayStringConcat(groupArray(r), ' ') FROM (SELECT "+
		"concat(route, '=', toString(sum(Sum))) AS r, AttributeValues[indexOf(AttributeKeys, 'route')] AS route"+
		where("sdk.requests")+" GROUP BY route ORDER BY route)"))
	sums := db.Table("metrics_sum")
	rawWhere := " FROM " + sums + " WHERE ServiceName = 'series-sdk' AND MetricName = 'sdk.requests'"
	// series_1m and metrics_sum are separate INSERTs: the raw points may come a moment later.
	waitForCount(t, db, "SELECT countIf(AggregationTemporality = 1)"+rawWhere, 8, 30*time.Second)
	assert.Equal(t, uint64(requestsTotal), db.QueryUint64(t, "SELECT toUInt64(sum(IntValue))"+rawWhere))

	// The exploding counter: 1000 series and the overflow series, its total intact.
	waitForCount(t, db, "SELECT sum(Count)"+where("sdk.exploding"), 4*users, 30*time.Second)
	assert.Equal(t, uint64(explodingTotal), db.QueryUint64(t, "SELECT toUInt64(sum(Sum))"+where("sdk.exploding")),
		"the overflow series keeps the total")
	overflow := " AND AttributeKeys = ['otel.metric.overflow'] AND AttributeValues = ['true']"
	assert.Equal(t, uint64(limit+1), db.QueryUint64(t, "SELECT uniqExact(SeriesHash)"+where("sdk.exploding")))
	assert.Equal(t, uint64(1), db.QueryUint64(t, "SELECT uniqExact(SeriesHash)"+where("sdk.exploding")+overflow))
	assert.Equal(t, uint64(4*(users-limit)), db.QueryUint64(t, "SELECT sum(Count)"+where("sdk.exploding")+overflow),
		"200 series' points in each of four exports")
	// Each user's delta is 1+i%3 twice; the 200 overflowed users are whichever came last in
	// the first export, so their share lies between 200·2·1 and 200·2·3.
	over := db.QueryUint64(t, "SELECT toUInt64(sum(Sum))"+where("sdk.exploding")+overflow)
	assert.GreaterOrEqual(t, over, uint64(2*(users-limit)))
	assert.LessOrEqual(t, over, uint64(6*(users-limit)))
	assert.Equal(t, uint64(explodingTotal)-over, db.QueryUint64(t, "SELECT toUInt64(sum(Sum))"+where("sdk.exploding")+
		" AND NOT has(AttributeKeys, 'otel.metric.overflow')"))

	// weir_series_limit's own telemetry.
	assert.Equal(t, float64(4*(users-limit)), scrapeCounter(t, metricsURL, "weir_series_overflow_points"))
	assert.Equal(t, float64(limit), scrapeGauge(t, metricsURL, "weir_series_active", `metric="sdk.exploding"`))
	assert.Equal(t, float64(2), scrapeGauge(t, metricsURL, "weir_series_active", `metric="sdk.requests"`))
	assert.Equal(t, float64(limit+2), scrapeGauge(t, metricsURL, "weir_series_active_per_service", `service="series-sdk"`))
}

// scrapeGauge returns the value of the one sample of the Prometheus metric name at url whose
// labels contain label (e.g. `metric="x"`).
func scrapeGauge(t *testing.T, url, name, label string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var found []float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok || !strings.Contains(rest, label) {
			continue
		}
		fields := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		require.NotEmpty(t, fields, "sample line %q", line)
		v, err := strconv.ParseFloat(fields[0], 64)
		require.NoError(t, err, "sample line %q", line)
		found = append(found, v)
	}
	require.NoError(t, sc.Err())
	require.Len(t, found, 1, "%s{%s} at %s", name, label, url)
	return found[0]
}
