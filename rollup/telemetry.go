package rollup

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// TelemetryVolume is how much telemetry weir stores for one service in a window.
//
// Sizes are logical: the bytes of a row's values as they were sent (string lengths, 8 bytes
// a number, fixed-width IDs and times), not the compressed bytes on disk, which depend on the
// codec and on what else a part holds. Logical bytes are what a vendor bills per GB ingested
// and they add up across services; StoredSpanBytes and WeightedSpanBytes differ only by the
// sampling weights.
type TelemetryVolume struct {
	Service string
	// Spans stored, and their logical bytes.
	Spans           uint64
	StoredSpanBytes float64
	// WeightedSpanBytes is Σ bytes × SampleWeight: an estimate of the span bytes the service
	// sent before sampling (a span kept with weight 10 stands for 10 like it).
	WeightedSpanBytes float64
	// Points stored in the metric point tables, and their logical bytes; Metrics splits
	// them by metric name.
	Points     uint64
	PointBytes float64
	Metrics    map[string]MetricVolume
}

// MetricVolume is one metric's stored points and their logical bytes.
type MetricVolume struct {
	Points uint64
	Bytes  float64
}

// spanRowBytes is the logical size of a spans row: 72 bytes of fixed-width fields (times,
// IDs, kind, status, flags, weight) plus every string it carries.
const spanRowBytes = "(72 + length(ServiceName) + length(SpanName) + length(TraceState) + length(StatusMessage)" +
	" + arraySum(arrayMap(x -> length(x), SpanAttributeKeys)) + arraySum(arrayMap(x -> length(x), SpanAttributeValues))" +
	" + arraySum(arrayMap(x -> length(x), ResourceAttributeKeys)) + arraySum(arrayMap(x -> length(x), ResourceAttributeValues))" +
	" + arraySum(arrayMap(x -> length(x), Events.Name)) + 8 * length(Events.Name)" +
	" + arraySum(arrayMap(a -> arraySum(arrayMap(x -> length(x), a)), Events.AttributeValues))" +
	" + arraySum(arrayMap(a -> arraySum(arrayMap(x -> length(x), a)), Events.AttributeKeys))" +
	" + 32 * length(Links.TraceId))"

// pointRowBytes is the logical size of a metric point row: 40 bytes of times, hash and value,
// the names and attributes, plus extra (bucket arrays) per table.
func pointRowBytes(extra string) string {
	s := "(40 + length(MetricName)" +
		" + arraySum(arrayMap(x -> length(x), AttributeKeys)) + arraySum(arrayMap(x -> length(x), AttributeValues))" +
		" + arraySum(arrayMap(x -> length(x), ResourceAttributeKeys)) + arraySum(arrayMap(x -> length(x), ResourceAttributeValues))"
	if extra != "" {
		s += " + " + extra
	}
	return s + ")"
}

var pointTables = []struct{ table, extra string }{
	{TableMetricsGauge, ""},
	{TableMetricsSum, ""},
	{TableMetricsHistogram, "16 * length(BucketCounts)"},
	{TableMetricsExponentialHistogram, "8 * (length(PositiveBucketCounts) + length(NegativeBucketCounts))"},
	{TableMetricsSummary, "16 * length(Quantiles.Quantile)"},
}

// TelemetryByService measures, per service, the spans and metric points stored with a
// Timestamp in [from, to). Services without any are absent.
func TelemetryByService(ctx context.Context, conn driver.Conn, database string, from, to time.Time) (map[string]*TelemetryVolume, error) {
	if err := ValidateDatabase(database); err != nil {
		return nil, err
	}
	where := "WHERE Timestamp >= " + sqlTime(from) + " AND Timestamp < " + sqlTime(to)
	out := map[string]*TelemetryVolume{}
	get := func(s string) *TelemetryVolume {
		v := out[s]
		if v == nil {
			v = &TelemetryVolume{Service: s}
			out[s] = v
		}
		return v
	}
	q := "SELECT toString(ServiceName) AS s, count(), toFloat64(sum(b)), sum(b * SampleWeight)\n" +
		"FROM (SELECT ServiceName, SampleWeight, " + spanRowBytes + " AS b FROM " + database + "." + TableSpans + "\n" + where + ")\n" +
		"GROUP BY s"
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("telemetry by service: spans: %w", err)
	}
	for rows.Next() {
		var s string
		var n uint64
		var b, wb float64
		if err := rows.Scan(&s, &n, &b, &wb); err != nil {
			rows.Close()
			return nil, fmt.Errorf("telemetry by service: spans: %w", err)
		}
		v := get(s)
		v.Spans, v.StoredSpanBytes, v.WeightedSpanBytes = n, b, wb
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("telemetry by service: spans: %w", err)
	}

	metrics, err := metricPoints(ctx, conn, database, where)
	if err != nil {
		return nil, err
	}
	for k, m := range metrics {
		v := get(k[0])
		if v.Metrics == nil {
			v.Metrics = map[string]MetricVolume{}
		}
		v.Metrics[k[1]] = m
		v.Points += m.Points
		v.PointBytes += m.Bytes
	}
	return out, nil
}

// metricPoints counts the points and their logical bytes per {service, metric} in the five
// point tables, for rows matching where.
func metricPoints(ctx context.Context, conn driver.Conn, database, where string) (map[[2]string]MetricVolume, error) {
	var parts []string
	for _, t := range pointTables {
		parts = append(parts, "SELECT toString(ServiceName) AS s, toString(MetricName) AS m, count() AS n, toFloat64(sum("+
			pointRowBytes(t.extra)+")) AS b FROM "+database+"."+t.table+" "+where+" GROUP BY s, m")
	}
	rows, err := conn.Query(ctx, "SELECT s, m, sum(n), sum(b) FROM ("+strings.Join(parts, "\nUNION ALL\n")+") GROUP BY s, m")
	if err != nil {
		return nil, fmt.Errorf("telemetry by service: metric points: %w", err)
	}
	defer rows.Close()
	out := map[[2]string]MetricVolume{}
	for rows.Next() {
		var s, m string
		var v MetricVolume
		if err := rows.Scan(&s, &m, &v.Points, &v.Bytes); err != nil {
			return nil, fmt.Errorf("telemetry by service: metric points: %w", err)
		}
		out[[2]string{s, m}] = v
	}
	return out, rows.Err()
}

// MetricSeriesCount is how many distinct series one metric of one service had in a window.
type MetricSeriesCount struct {
	Service, Metric string
	Series          uint64
}

// SeriesCounts counts the distinct series (SeriesHash) per service and metric with a
// Timestamp in [from, to), from the hourly series tier (series_1h, written by the rollup
// job; so a window's hours must be rolled up). Sorted by service and metric.
func SeriesCounts(ctx context.Context, conn driver.Conn, database string, from, to time.Time) ([]MetricSeriesCount, error) {
	if err := ValidateDatabase(database); err != nil {
		return nil, err
	}
	q := "SELECT toString(ServiceName) AS s, toString(MetricName) AS m, uniqExact(SeriesHash)\n" +
		"FROM " + database + "." + TableSeries1h + "\n" +
		"WHERE Timestamp >= " + sqlTime(from) + " AND Timestamp < " + sqlTime(to) + "\n" +
		"GROUP BY s, m"
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("series counts: %w", err)
	}
	defer rows.Close()
	var out []MetricSeriesCount
	for rows.Next() {
		var c MetricSeriesCount
		if err := rows.Scan(&c.Service, &c.Metric, &c.Series); err != nil {
			return nil, fmt.Errorf("series counts: %w", err)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Metric < out[j].Metric
	})
	return out, rows.Err()
}
