package dashboards

import (
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/weirhq/weir/rollup"
)

// UID of the weir itself dashboard.
const UIDWeirItself = "weir-itself"

// weir's own metrics that the weir itself dashboard reads. weir pushes them to its own OTLP
// receiver (config/weir.yaml, service.telemetry.metrics.readers), so they are stored in the
// series tiers like any service's metrics. The otelcol_* names are the collector's
// (receiverhelper, exporterhelper); the weir_* ones weir's components' (telemetry.go of each).
var (
	selfIngestMetrics = []string{
		"otelcol_receiver_accepted_spans",
		"otelcol_receiver_accepted_metric_points",
		"otelcol_receiver_accepted_log_records",
	}
	// Refused data is retried by the sender; the rest is lost.
	selfLossMetrics = []string{
		"otelcol_receiver_refused_spans",
		"otelcol_receiver_refused_metric_points",
		"otelcol_receiver_refused_log_records",
		"otelcol_receiver_failed_spans",
		"otelcol_receiver_failed_metric_points",
		"otelcol_receiver_failed_log_records",
		"otelcol_exporter_send_failed_spans",
		"otelcol_exporter_send_failed_metric_points",
		"otelcol_exporter_send_failed_log_records",
		"weir_invalid_spans",
		"weir_clickhouse_rows_set_aside",
	}
	selfQueueMetrics    = []string{"weir_clickhouse_queue_rows"}
	selfSamplingMetrics = []string{"weir_tailsampling_traces_decided"}
	selfLatencyMetrics  = []string{"weir_clickhouse_insert_duration"}
	selfFailureMetrics  = []string{"weir_clickhouse_insert_failures"}
	selfRowsMetrics     = []string{"weir_clickhouse_rows_written"}
)

// selfQuery is the data of the weir itself SQL: the series tiers as a panel reads them, the
// metric names as an SQL list, and for self_rate.sql the label each line is split by.
type selfQuery struct {
	Tiers       []rollup.PanelRead
	Metrics     string
	Label, Name string
}

// sqlStrings quotes names as an SQL list of string literals. The names are this package's
// constants, never user input.
func sqlStrings(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return strings.Join(q, ", ")
}

// attrSQL reads a point attribute of a series row.
func attrSQL(key string) string {
	return "AttributeValues[indexOf(AttributeKeys, '" + key + "')]"
}

// weirItself: weir's own metrics from the series tiers: ingest, loss, queue, sampling and
// ClickHouse writes.
func weirItself(g *gen) *dashboard.DashboardBuilder {
	tiers := g.tiers(rollup.SignalSeries)
	rate := func(metrics []string, label, name string) string {
		return g.sql("self_rate.sql", selfQuery{Tiers: tiers, Metrics: sqlStrings(metrics), Label: label, Name: name})
	}
	series := func(file string, metrics []string) string {
		return g.sql(file, selfQuery{Tiers: tiers, Metrics: sqlStrings(metrics)})
	}
	return newDashboard(UIDWeirItself, "weir / weir itself",
		"weir's own metrics: data accepted, refused and lost, the rows waiting for ClickHouse, tail sampling decisions and "+
			"ClickHouse writes. weir pushes them to its own OTLP receiver (config/weir.yaml, "+
			"service.telemetry) and stores them in the metric series tiers (series_1m, series_1h, series_1d; "+
			"the tier follows the panel's interval).").
		WithVariable(queryVariable(varService, "weir service", g.sql("var_self_services.sql", nil), true)).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Ingest rate").
			Description("Spans, metric points and log records per second accepted by the receivers.").
			Height(8).Span(12).
			Interval(minInterval).MaxDataPoints(maxDataPoints).
			Unit("short").Min(0).
			DisplayName("${__field.labels.signal}").
			Legend(legend()).
			WithTarget(chQuery("A", FormatTimeSeries,
				rate(selfIngestMetrics, "replaceOne(MetricName, 'otelcol_receiver_accepted_', '')", "signal")))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Refused and lost").
			Description("Items per second. receiver_refused: refused at the door (memory limit, journal full), " +
				"the sender retries. receiver_failed: the request did not decode. exporter_send_failed: a " +
				"component's data could not be journaled. weir_invalid_spans: all-zero or malformed trace or " +
				"span IDs, dropped. weir_clickhouse_rows_set_aside: rows ClickHouse refused for good, kept in " +
				"the journal's rejected/ directory. All but the refused are lost.").
			Height(8).Span(12).
			Interval(minInterval).MaxDataPoints(maxDataPoints).
			Unit("short").Min(0).
			DisplayName("${__field.labels.what}").
			Legend(legend()).
			WithTarget(chQuery("A", FormatTimeSeries,
				rate(selfLossMetrics, "replaceOne(MetricName, 'otelcol_', '')", "what")))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Rows waiting for ClickHouse").
			Description("The largest reading per interval of the rows in the journal's blocks not yet inserted: " +
				"near zero while ClickHouse keeps up; it grows during an outage and drains after.").
			Height(8).Span(12).
			Interval(minInterval).MaxDataPoints(maxDataPoints).
			Unit("short").Min(0).
			DisplayName("${__field.labels.queue}").
			Legend(legend()).
			WithTarget(chQuery("A", FormatTimeSeries, series("self_queue.sql", selfQueueMetrics)))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Sampling decisions by reason").
			Description("Traces decided per second by the tail sampler, by the reason of the decision: kept for " +
				"error, latency, span_count, attribute:<policy> or baseline, or dropped.").
			Height(8).Span(12).
			Interval(minInterval).MaxDataPoints(maxDataPoints).
			Unit("short").Min(0).
			DisplayName("${__field.labels.reason}").
			Legend(legend()).
			WithTarget(chQuery("A", FormatTimeSeries, rate(selfSamplingMetrics, attrSQL("reason"), "reason")))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("ClickHouse write latency").
			Description("Time to send one INSERT block, over every table: p50 and p95 estimated from the " +
				"histogram (linear within the bucket, narrowed to the observed min and max; the " +
				"histogram's default bounds are coarse, so read them as estimates), and the exact mean.").
			Height(8).Span(12).
			Interval(minInterval).MaxDataPoints(maxDataPoints).
			Unit("s").Min(0).
			Legend(legend()).
			WithTarget(chQuery("A", FormatTimeSeries, series("self_latency.sql", selfLatencyMetrics)))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("ClickHouse write errors").
			Description("INSERT blocks that failed per second, per table (the queue retries them; what it " +
				"finally gives up on is in Refused and lost as exporter_send_failed).").
			Height(8).Span(12).
			Interval(minInterval).MaxDataPoints(maxDataPoints).
			Unit("short").Min(0).
			DisplayName("${__field.labels.table}").
			Legend(legend()).
			WithTarget(chQuery("A", FormatTimeSeries, rate(selfFailureMetrics, attrSQL("table"), "table")))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("ClickHouse rows written").
			Description("Rows inserted per second, per table.").
			Height(8).Span(24).
			Interval(minInterval).MaxDataPoints(maxDataPoints).
			Unit("short").Min(0).
			DisplayName("${__field.labels.table}").
			Legend(legend()).
			WithTarget(chQuery("A", FormatTimeSeries, rate(selfRowsMetrics, attrSQL("table"), "table"))))
}
