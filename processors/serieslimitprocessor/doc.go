// Package serieslimitprocessor is weir's per-metric cardinality limit, the processor
// weir_series_limit. A series is one resource (all its attributes, service.name included),
// scope name, metric name and set of data point attributes. Each (service, metric) may have at
// most max_series_per_metric live series; a point of any further series keeps its value but
// its attributes are replaced by the single attribute otel.metric.overflow = true, the
// OpenTelemetry SDK's cardinality-limit convention, so the metric's totals stay right and only
// the breakdown is lost. A series is live until it goes series_idle without a point; then it
// frees its place. max_series_total bounds all series of all metrics together.
//
// Place it after cumulativetodelta: overflow points of several series add up only as deltas.
// Several overflow points may share their attributes in one batch; readers sum them, as
// weir's ClickHouse tiers do.
//
// Its own telemetry: weir_series_active (live series of the 100 metrics with the most,
// by service and metric), weir_series_active_per_service, and weir_series_overflow_points.
// The limit is per collector instance: behind a load balancer every instance keeps its own.
package serieslimitprocessor // import "github.com/weirhq/weir/processors/serieslimitprocessor"
