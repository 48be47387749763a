// Package redconnector is weir_red, weir's span-metrics and service-graph stage as a
// traces-to-metrics connector: placed before the tail sampler, it sees every span and counts
// requests, errors and latency per service, operation, kind, status and configured
// dimensions, and calls per service-graph edge (internal/red does the counting). Every
// flush_interval it emits what it counted as delta exponential histograms at the fixed scale
// model.LatencyScale under the scope model.REDScope, which the clickhouse exporter writes into
// red_1m and edges_1m. Memory is bounded: see internal/red.
package redconnector // import "github.com/weirhq/weir/connectors/redconnector"
