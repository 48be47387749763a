package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// UID of the cost efficiency dashboard.
const UIDCostEfficiency = "weir-cost-efficiency"

// costEfficiency: what the weekly report (`weir report`, rollup.WriteAnalysis) stored in
// service_cost_1d and hotspots. Both hold whole UTC days, so the panels read the days that
// overlap the range and need no interval; amounts are in the bill's currency.
func costEfficiency(g *gen) *dashboard.DashboardBuilder {
	return newDashboard(UIDCostEfficiency, "weir / Cost efficiency",
		"Spend, requests and cost per 1000 requests per service and day, and the latest week's hotspots "+
			"with their estimated weekly cost impact, as the weekly report (weir report) computed them "+
			"(service_cost_1d, hotspots). Days and weeks that overlap the range count whole; amounts are in "+
			"the bill's currency.").
		Time("now-30d", "now").
		Refresh("1h").
		WithVariable(queryVariable(varService, "Service", g.sql("var_cost_services.sql", nil), true)).
		WithPanel(stat.NewPanelBuilder().
			Title("Total spend").
			Description("Spend of the selected services over the days of the range; with every service " +
				"selected, the bill.").
			Height(5).Span(6).
			Decimals(2).
			DisplayName("${__data.fields.currency}").
			ReduceOptions(common.NewReduceDataOptionsBuilder().Values(true).Fields("/^spend$/").Calcs([]string{"lastNotNull"})).
			WithTarget(chQuery("A", FormatTable, g.sql("cost_total.sql", nil)))).
		WithPanel(stat.NewPanelBuilder().
			Title("Unattributed spend").
			Description("Spend that no costmap rule gave a service (\"(unmapped)\" and \"(idle)\") over the "+
				"days of the range, and its share of the bill. Not filtered by service.").
			Height(5).Span(6).
			Decimals(2).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Values(true).Fields("/^(unattributed|share)$/").Calcs([]string{"lastNotNull"})).
			WithTarget(chQuery("A", FormatTable, g.sql("cost_unattributed.sql", nil))).
			OverrideByName("unattributed", []dashboard.DynamicConfigValue{{Id: "displayName", Value: "Unattributed ${__data.fields.currency}"}}).
			OverrideByName("share", append(unit("percentunit"), dashboard.DynamicConfigValue{Id: "displayName", Value: "Share of the bill"}))).
		WithPanel(table.NewPanelBuilder().
			Title("Services").
			Description("Over the days of the range: spend, its share of the bill, requests, spend per 1000 "+
				"requests and the share of failed requests.").
			Height(10).Span(12).
			WithTarget(chQuery("A", FormatTable, g.sql("cost_table.sql", nil))).
			OverrideByName("spend", decimals(2)).
			OverrideByName("share_of_bill", unit("percentunit")).
			OverrideByName("cost_per_1k", decimals(4)).
			OverrideByName("error_rate", unit("percentunit"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Spend per day").
			Description("Each service's share of the day's bill, stacked: with every service selected the bars " +
				"are the bill.").
			Height(9).Span(24).
			Decimals(2).Min(0).
			DrawStyle(common.GraphDrawStyleBars).
			FillOpacity(80).
			Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
			DisplayName("${__field.labels.service}").
			Legend(costLegend()).
			WithTarget(chQuery("A", FormatTimeSeries, g.sql("cost_spend.sql", nil)))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Requests per day").
			Description("SERVER and CONSUMER spans per service and day, counted before sampling.").
			Height(8).Span(12).
			Min(0).
			DisplayName("${__field.labels.service}").
			Legend(costLegend()).
			WithTarget(chQuery("A", FormatTimeSeries, g.sql("cost_requests.sql", nil)))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Cost per 1000 requests").
			Description("A service's spend divided by its requests, per day; days without requests have no point.").
			Height(8).Span(12).
			Decimals(4).Min(0).
			DisplayName("${__field.labels.service}").
			Legend(costLegend()).
			WithTarget(chQuery("A", FormatTimeSeries, g.sql("cost_per_1k.sql", nil)))).
		WithPanel(table.NewPanelBuilder().
			Title("Hotspots").
			Description("The findings of the latest report week that overlaps the range, by estimated weekly cost "+
				"impact: rule, severity, what to do, and example traces (click one to open it in the Traces "+
				"dashboard). evidence holds the finding's figures as JSON.").
			Height(12).Span(24).
			WithTarget(chQuery("A", FormatTable, g.sql("cost_hotspots.sql", nil))).
			OverrideByName("impact_per_week", decimals(2)).
			OverrideByName("cost_per_call", decimals(6)).
			OverrideByName("avoidable_calls_per_week", decimals(0)).
			OverrideByName("example_trace_id", traceLink()))
}

// costLegend is a table legend with the total and mean of the daily values.
func costLegend() *common.VizLegendOptionsBuilder {
	return common.NewVizLegendOptionsBuilder().
		ShowLegend(true).
		DisplayMode(common.LegendDisplayModeTable).
		Placement(common.LegendPlacementBottom).
		Calcs([]string{"sum", "mean", "lastNotNull"})
}

// decimals sets a field's decimals in an override.
func decimals(n int) []dashboard.DynamicConfigValue {
	return []dashboard.DynamicConfigValue{{Id: "decimals", Value: n}}
}
