// Package tailsample decides per trace which traces to keep, after enough of the
// trace has arrived to judge it, in memory bounded in bytes, and the same way on every
// replica.
//
// Spans are buffered per trace as s2-compressed OTLP protobuf (tens of bytes a span
// instead of the kilobyte pdata objects take), or, for a caller that keeps every request in
// a log anyway (weir's ingest engine, HoldByReference), as references into that log (the
// request's position and the spans' ordinals) read back only when kept; with a small summary
// kept up to date as spans
// arrive: error seen, time range, longest span, span count, matched attribute policies, root
// service. A trace is decided when its root span has ended and it has been quiet for
// idle_time, or when max_wait has passed since its first span, whichever comes first; at the
// memory bound the oldest traces are decided early instead of being lost.
//
// Policies run in a fixed order and the first that matches keeps the trace with its name as
// the reason: errors, latency, attributes, span_count. A trace none of them keeps falls to the
// probabilistic baseline, a consistent-probability sampler (the W3C/OpenTelemetry threshold
// scheme) whose randomness comes from the trace ID or the rv in tracestate; the threshold is
// written into the tracestate of kept spans as th, so every kept span carries its adjusted
// count. A per-service budget lowers the baseline probability of a busy service, and the
// weights of what it keeps rise to match, so sums of weights stay unbiased.
//
// Decisions are remembered in a fastcache keyed by trace ID, so spans that arrive after the
// decision follow it (a Bloom filter in front of it, sized to forget nothing the cache still
// holds, spares the lookup for the traces never decided, nearly all of those a request
// starts); a dropped trace's spans stay held for late_window, so a late error
// still keeps it whole.
//
// The sampler works on OTLP protobuf bytes (Consume): it reads them with internal/otlpwire,
// splits them into per-trace messages without building pdata, and gives what it keeps to an
// Output as bytes. The weir_tail_sampling processor is its collector face (pdata in and out);
// weir's own ingest path feeds it the requests it received, undecoded.
package tailsample
