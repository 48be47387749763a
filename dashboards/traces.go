package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
)

// UID of the traces dashboard.
const UIDTraces = "weir-traces"

// traces: slowest and failing traces of the selection from spans, and one trace by ID through
// trace_index.
func traces(g *gen) *dashboard.DashboardBuilder {
	return newDashboard(UIDTraces, "weir / Traces",
		"Slowest and failing traces of the selected services and operations (sampled spans; "+
			"sample_weight is how many spans of the original traffic a stored span stands for), "+
			"and one trace by its ID.").
		WithVariable(queryVariable(varService, "Service", g.sql("var_services.sql", nil), true)).
		WithVariable(queryVariable(varOperation, "Operation", g.sql("var_operations.sql", nil), true)).
		WithVariable(dashboard.NewTextBoxVariableBuilder(varTraceID).
			Label("Trace ID").
			Description("32 hex digits; click a trace ID in the tables to fill it in.")).
		WithPanel(table.NewPanelBuilder().
			Title("Slowest traces").
			Description("By the duration of their slowest selected span.").
			Height(9).Span(12).
			WithTarget(chQuery("A", FormatTable, g.sql("traces_slowest.sql", nil))).
			OverrideByName("trace_id", traceLink()).
			OverrideByName("duration_ms", unit("ms"))).
		WithPanel(table.NewPanelBuilder().
			Title("Failing traces").
			Description("The latest traces with a span whose status is error.").
			Height(9).Span(12).
			WithTarget(chQuery("A", FormatTable, g.sql("traces_failing.sql", nil))).
			OverrideByName("trace_id", traceLink())).
		WithPanel(dashboard.NewPanelBuilder().
			Type("traces").
			Title("Trace ${" + varTraceID + "}").
			Height(14).Span(24).
			WithTarget(chQuery("A", FormatTrace, g.sql("trace_view.sql", nil)))).
		WithPanel(table.NewPanelBuilder().
			Title("Spans of trace ${"+varTraceID+"}").
			Height(10).Span(24).
			WithTarget(chQuery("A", FormatTable, g.sql("trace_spans.sql", nil))).
			OverrideByName("duration_ms", unit("ms")))
}

// traceLink makes a field of trace IDs (32 hex digits) open each trace in the Traces
// dashboard's trace view, keeping the time range.
func traceLink() []dashboard.DynamicConfigValue {
	return []dashboard.DynamicConfigValue{{Id: "links", Value: []map[string]any{{
		"title": "Show trace",
		"url":   "/d/" + UIDTraces + "?var-" + varTraceID + "=${__value.raw}&${__url_time_range}",
	}}}}
}
