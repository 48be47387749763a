// Package redconnector is weir's span-metrics and service-graph stage: a traces-to-metrics
// connector placed before the tail sampler, so it sees every span. It aggregates requests,
// errors and a latency distribution per (service, span name, span kind, status code, and
// configured dimensions), and calls, errors and latency per service-graph edge, in windows
// of event time (each span's end time), and emits them as delta exponential histograms at
// the fixed scale model.LatencyScale under the scope model.REDScope. The clickhouse
// exporter writes those into the red_1m and edges_1m tables.
//
// A span's weight is its adjusted count (1 unless something upstream sampled it), so counts
// stay right when spans arrive already sampled.
//
// Memory is bounded: at most max_series_per_service series per service (further series fold
// into one overflow series per kind and status, so totals stay right), series expire on
// their own after series_idle, and the service-graph pairing store holds at most
// max_pending half-edges.
package redconnector // import "github.com/weirhq/weir/connectors/redconnector"
