// Package otlpwire reads OTLP requests (ExportTraceServiceRequest, ExportMetricsServiceRequest,
// which share their wire form with TracesData and MetricsData) straight from their protobuf
// bytes, without building pdata: weir decodes a span once, into the columns it is stored in.
//
// The readers are iterators over views. A view's byte slices point into the request, and its
// lists (attributes, events, links, data points' buckets) into buffers the reader reuses, so
// a view is valid until the reader moves on; nothing is copied and nothing is allocated per
// item once the buffers have grown.
//
// The readers decode exactly what pdata's generated unmarshalers decode, so both paths store
// the same rows (a fuzz test holds them to it):
//   - a field that appears twice keeps its last value; an embedded message that appears twice
//     (a span's status, a resource) is the two merged, as if their bytes were concatenated;
//   - a known field with the wrong wire type, a truncated field or a field number 0 is an
//     error for the whole request, as it is for pdata; unknown fields are skipped;
//   - an AnyValue keeps the last of its oneof fields; nesting deeper than 100 is an error;
//   - a ResourceSpans (ResourceMetrics) without scope_spans (scope_metrics) takes its
//     deprecated instrumentation_library_spans (…_metrics), field 1000, instead.
//
// One difference is deliberate: a trace or span ID of the wrong length fails pdata's whole
// request, while the readers report the span as invalid (Span.ValidIDs) and go on, so that
// a sender's good spans in the same request are kept.
package otlpwire
