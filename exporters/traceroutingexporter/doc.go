// Package traceroutingexporter sends every span of a trace to the same backend: it is the
// front tier of a two-tier weir deployment, where a fleet of tail samplers each needs whole
// traces.
//
// It is shaped like contrib's loadbalancing exporter with a static resolver: a fixed list of
// endpoints and, under protocol.otlp, the upstream OTLP gRPC exporter's settings (TLS,
// compression, headers, sending_queue, retry_on_failure, timeout). At start it creates one
// upstream OTLP exporter per endpoint, each with its own queue and retries and its own
// component ID (otlp_grpc/<router id>_<endpoint>) so their telemetry and persistent queues
// stay apart.
//
// Each batch is split by trace ID with rendezvous (highest random weight) hashing over
// (trace ID, endpoint address): the choice depends only on the trace ID and the set of
// addresses, not on their order or on the process, so every router replica agrees, and
// adding or removing an endpoint moves only the traces that belong to that endpoint. Spans
// with an all-zero trace ID go to the first endpoint.
//
// The router itself holds nothing: ConsumeTraces moves spans into per-endpoint batches and
// hands each to its exporter before returning. If any endpoint refuses its part, the joined
// error goes back to the sender, whose retry may then deliver the accepted parts twice.
package traceroutingexporter // import "github.com/weirhq/weir/exporters/traceroutingexporter"
