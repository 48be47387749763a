package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/nodegraph"
)

// UID of the service map dashboard.
const UIDServiceMap = "weir-service-map"

// serviceMap: the service graph (edges tiers) as a node graph.
func serviceMap(g *gen) *dashboard.DashboardBuilder {
	edges := struct{ Edges string }{g.edges()}
	return newDashboard(UIDServiceMap, "weir / Service map",
		"Who calls whom: calls per second, the share that failed and latency per edge, "+
			"from the service graph computed on every span (edges_1m, edges_1h, edges_1d).").
		WithVariable(queryVariable(varService, "Service", g.sql("var_services.sql", nil), true)).
		WithPanel(nodegraph.NewPanelBuilder().
			Title("Service map").
			Description("Nodes: calls per second served and the share that failed. Edges: calls per second, " +
				"the share that failed, and p50/p95/p99 latency in the details. Edges touching a selected service.").
			Height(18).Span(24).
			Interval(minInterval).MaxDataPoints(maxDataPoints).
			Nodes(nodegraph.NewNodeOptionsBuilder().MainStatUnit("reqps").SecondaryStatUnit("percentunit")).
			Edges(nodegraph.NewEdgeOptionsBuilder().MainStatUnit("reqps").SecondaryStatUnit("percentunit")).
			// The node graph finds its frames by refId "nodes" and "edges".
			WithTarget(chQuery("nodes", FormatTable, g.sql("map_nodes.sql", edges))).
			WithTarget(chQuery("edges", FormatTable, g.sql("map_edges.sql", edges))))
}
