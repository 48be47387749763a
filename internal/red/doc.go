// Package red is weir's span-metrics and service-graph aggregator, run on every span before
// sampling. It aggregates requests,
// errors and a latency distribution per (service, span name, span kind, status code, and
// configured dimensions), and calls, errors and latency per service-graph edge, in windows
// of event time (each span's end time), and Flush hands them out as rows with a latency
// histogram at the fixed scale model.LatencyScale: weir's ingest writes them into red_1m and
// edges_1m; the weir_red connector turns them into delta exponential histograms
// (MetricsOutput). Spans come as OTLP protobuf bytes (ConsumeWire, read with
// internal/otlpwire) or as pdata (ConsumePdata); both count alike. A caller that must read a
// request whole before any of it counts stages it (ConsumeWireStaged, then Apply).
//
// The service graph pairs client and server halves of a call, waiting up to wait_time for
// the other half; a client naming a peer that has not answered silent_peer_after calls in a
// row is counted to that peer's virtual node at once (one call in 64 still waits, to notice
// the peer answering).
//
// A span's weight is its adjusted count (1 unless something upstream sampled it), so counts
// stay right when spans arrive already sampled.
//
// Memory is bounded: at most max_series_per_service series per service (further series fold
// into one overflow series per kind and status, so totals stay right), series expire on
// their own after series_idle, and the service-graph pairing store holds at most
// max_pending half-edges.
package red
