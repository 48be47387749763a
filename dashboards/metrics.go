package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/weirhq/weir/rollup"
)

// UID of the metrics explorer dashboard.
const UIDMetricsExplorer = "weir-metrics-explorer"

// metricsAllValue is the attr_value variable's custom all value. Grafana puts a custom all
// value into the query as it is, unformatted, so SQL tests for it: "all values", including
// series without the attribute, and no list of every value in the query.
const metricsAllValue = "'__all__'"

// metricsExplorer: one metric of the selected services from the series tiers, split by the
// values of one attribute.
func metricsExplorer(g *gen) *dashboard.DashboardBuilder {
	series := struct{ Tiers []rollup.PanelRead }{g.tiers(rollup.SignalSeries)}
	return newDashboard(UIDMetricsExplorer, "weir / Metrics explorer",
		"One metric of the selected services, split by the values of one attribute, from the metric "+
			"series tiers (series_1m, series_1h, series_1d; the tier follows the panel's interval).").
		WithVariable(queryVariable(varService, "Service", g.sql("var_metric_services.sql", nil), true)).
		WithVariable(queryVariable(varMetric, "Metric", g.sql("var_metrics.sql", nil), false)).
		WithVariable(queryVariable(varAttrKey, "Attribute", g.sql("var_attr_keys.sql", nil), false)).
		WithVariable(queryVariable(varAttrValue, "Value", g.sql("var_attr_values.sql", nil), true).
			AllValue(metricsAllValue)).
		WithPanel(timeseries.NewPanelBuilder().
			Title("${" + varMetric + "}: rate by ${" + varAttrKey + "}").
			Description("Delta sums per second (counters and histogram sums; cumulative points add nothing).").
			Height(9).Span(12).
			Interval(minInterval).MaxDataPoints(maxDataPoints).
			DisplayName("${__field.labels.attribute}").
			Legend(legend()).
			WithTarget(chQuery("A", FormatTimeSeries, g.sql("metrics_rate.sql", series)))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("${" + varMetric + "}: mean by ${" + varAttrKey + "}").
			Description("Mean point value per bucket (gauges: the mean value).").
			Height(9).Span(12).
			Interval(minInterval).MaxDataPoints(maxDataPoints).
			DisplayName("${__field.labels.attribute}").
			Legend(legend()).
			WithTarget(chQuery("A", FormatTimeSeries, g.sql("metrics_mean.sql", series)))).
		WithPanel(table.NewPanelBuilder().
			Title("${" + varMetric + "}: series").
			Description("Each series over the range: points, delta sum, extremes and the latest value.").
			Height(10).Span(24).
			Interval(minInterval).MaxDataPoints(maxDataPoints).
			WithTarget(chQuery("A", FormatTable, g.sql("metrics_series.sql", series))))
}
