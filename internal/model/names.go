package model

// REDScope is the instrumentation scope of the metrics the weir_red connector emits; the
// clickhouse exporter writes metrics of this scope into the red_1m and edges_1m tables
// instead of the generic metric tables.
const REDScope = "github.com/weirhq/weir/red"

// Metric names within REDScope. Both are delta exponential histograms at LatencyScale, in
// nanoseconds, one data point per series per minute window (start time = window start).
const (
	// REDMetric's points carry service.name (resource), AttrSpanName, AttrSpanKind,
	// AttrStatusCode and the configured dimensions; count is requests.
	REDMetric = "weir.red.duration"
	// EdgeMetric's points carry AttrClient, AttrServer, AttrConnectionType and AttrFailed;
	// count is calls.
	EdgeMetric = "weir.edge.duration"
)

// Point attributes of REDMetric.
const (
	AttrSpanName   = "span.name"
	AttrSpanKind   = "span.kind"
	AttrStatusCode = "status.code"
)

// Point attributes of EdgeMetric.
const (
	AttrClient         = "client"
	AttrServer         = "server"
	AttrConnectionType = "connection_type"
	AttrFailed         = "failed"
)
