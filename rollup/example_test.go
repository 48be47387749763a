package rollup_test

import (
	"fmt"

	"github.com/weirhq/weir/rollup"
)

// Render the DDL weir would run against an empty ClickHouse 18.16 server.
func ExamplePlan() {
	v, _ := rollup.ParseVersion("18.16.1")
	stmts, err := rollup.Plan(rollup.Options{Database: "weir", Features: rollup.FeaturesFor(v)}, 0, rollup.LatestVersion())
	if err != nil {
		panic(err)
	}
	for _, st := range stmts {
		fmt.Println(st.Name)
	}
	// Output:
	// database
	// schema_migrations
	// spans
	// metrics_gauge
	// metrics_sum
	// metrics_histogram
	// metrics_exponential_histogram
	// metrics_summary
	// trace_index
	// trace_index_mv
	// red_1m
	// red_1h
	// red_1d
	// edges_1m
	// edges_1h
	// edges_1d
	// series_1m
	// series_1h
	// series_1d
}
