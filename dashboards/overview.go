package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// UID of the service overview dashboard.
const UIDServiceOverview = "weir-service-overview"

// Time series panels ask for at most this many points and a 1m interval at least, so the
// interval (and with it the tier, see rollup.PanelSQL) grows with the range: 6h reads
// red_1m at 2m, 7d red_service_1h at 1h, 1y red_service_1d at 1d.
const (
	maxDataPoints = 200
	minInterval   = "1m"
)

// serviceOverview: requests, errors and latency per service and operation from the RED tiers.
// The time series are per service over every operation, which the per-service tiers answer
// from a row per bucket; the operation variable narrows the table.
func serviceOverview(g *gen) *dashboard.DashboardBuilder {
	redByService := struct{ RED string }{g.redByService()}
	latencyByService := struct{ RED string }{g.redByService(0.50, 0.95, 0.99)}
	redByOperation := struct{ RED string }{g.redByOperation()}
	return newDashboard(UIDServiceOverview, "weir / Service overview",
		"Requests, errors and latency per service and operation, computed from every span before sampling "+
			"(the RED tiers red_1m, red_1h, red_1d, and per service red_service_1h, red_service_1d; the tier follows "+
			"the panel's interval). The time series count every operation of a service; the operation variable "+
			"narrows the table.").
		WithVariable(queryVariable(varService, "Service", g.sql("var_services.sql", nil), true)).
		WithVariable(queryVariable(varOperation, "Operation", g.sql("var_operations.sql", nil), true)).
		WithPanel(table.NewPanelBuilder().
			Title("Services and operations").
			Description("Over the whole range, for the selected operations: requests, failed requests (status error), "+
				"their share, requests per second and latency percentiles.").
			Height(9).Span(24).
			Interval(minInterval).MaxDataPoints(maxDataPoints).
			WithTarget(chQuery("A", FormatTable, g.sql("overview_table.sql", redByOperation))).
			OverrideByName("error_ratio", unit("percentunit")).
			OverrideByName("rps", unit("reqps")).
			OverrideByName("p50", unit("ns")).
			OverrideByName("p95", unit("ns")).
			OverrideByName("p99", unit("ns"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Requests per second").
			Description("Every operation of the service.").
			Height(8).Span(12).
			Interval(minInterval).MaxDataPoints(maxDataPoints).
			Unit("reqps").Min(0).
			DisplayName("${__field.labels.service}").
			Legend(legend()).
			WithTarget(chQuery("A", FormatTimeSeries, g.sql("overview_requests.sql", redByService)))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Errors per second").
			Description("Requests whose span status is error, every operation of the service.").
			Height(8).Span(12).
			Interval(minInterval).MaxDataPoints(maxDataPoints).
			Unit("reqps").Min(0).
			DisplayName("${__field.labels.service}").
			Legend(legend()).
			WithTarget(chQuery("A", FormatTimeSeries, g.sql("overview_errors.sql", redByService)))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Latency p50 / p95 / p99").
			Description("Percentiles of span durations per service, every operation, from mergeable histograms (within 1.1%).").
			Height(9).Span(24).
			Interval(minInterval).MaxDataPoints(maxDataPoints).
			Unit("ns").Min(0).
			DisplayName("${__field.labels.service} ${__field.name}").
			Legend(legend()).
			WithTarget(chQuery("A", FormatTimeSeries, g.sql("overview_latency.sql", latencyByService))))
}

// legend is a table legend with the last and max values.
func legend() *common.VizLegendOptionsBuilder {
	return common.NewVizLegendOptionsBuilder().
		ShowLegend(true).
		DisplayMode(common.LegendDisplayModeTable).
		Placement(common.LegendPlacementBottom).
		Calcs([]string{"mean", "max", "lastNotNull"})
}
