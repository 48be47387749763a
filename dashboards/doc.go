// Package dashboards is weir's Grafana dashboards as code: Go builders of the Grafana
// Foundation SDK (github.com/grafana/grafana-foundation-sdk/go) generate the JSON files in
// json/ (go generate ./dashboards, or make dashboards), which Grafana loads through the
// provisioning files in provisioning/. The JSON is committed; TestJSONUpToDate fails when it
// is stale.
//
// Every panel queries ClickHouse through grafana-clickhouse-datasource (native protocol)
// with raw SQL that must run on ClickHouse 18.16 and on current servers: buckets come from
// intDiv on epoch seconds and the panel's interval ($__interval_s), never toStartOfInterval
// or the plugin's $__timeInterval macros. rollup renders the tier choice: the RED and
// service-graph SQL is rollup.PanelSQL's (rollup.PlanQuery's SELECT, its tiers picked by the
// server when the query runs), the metric series panels bound their tiers with
// rollup.PanelTiers, and latency percentiles are rollup.QuantileSQL; the rest is in the
// embedded sql/*.sql files. TestQueries runs every panel's and every variable's SQL, with the
// plugin's macros and Grafana's variables expanded as documented, on a real ClickHouse seeded
// with known telemetry, and checks the values the seed implies.
//
// See README.md for the dashboards, the tier choice and how to provision them.
package dashboards
