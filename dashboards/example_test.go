package dashboards_test

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/weirhq/weir/dashboards"
)

// Build every dashboard and list them.
func ExampleAll() {
	all, err := dashboards.All()
	if err != nil {
		panic(err)
	}
	for _, d := range all {
		fmt.Println(d.File, *d.Model.Uid, len(d.Model.Panels))
	}
	// Output:
	// service-overview.json weir-service-overview 4
	// service-map.json weir-service-map 1
	// traces.json weir-traces 4
	// metrics-explorer.json weir-metrics-explorer 3
	// cost-efficiency.json weir-cost-efficiency 7
	// weir-itself.json weir-itself 7
}

// Read a generated dashboard back into the SDK's types, ClickHouse targets included.
func ExampleRegisterClickHouseQuery() {
	plugins.RegisterDefaultPlugins()
	dashboards.RegisterClickHouseQuery()
	all, err := dashboards.All()
	if err != nil {
		panic(err)
	}
	b, err := all[1].JSON()
	if err != nil {
		panic(err)
	}
	var d dashboard.Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		panic(err)
	}
	for _, q := range d.Panels[0].Panel.Targets {
		ch := q.(dashboards.ClickHouseQuery)
		fmt.Println(ch.RefId, ch.Format == dashboards.FormatTable)
	}
	// Output:
	// nodes true
	// edges true
}
