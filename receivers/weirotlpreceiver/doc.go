// Package weirotlpreceiver is weir's OTLP receiver (weir_otlp): OTLP/gRPC and OTLP/HTTP
// (protobuf and JSON) for traces and metrics, on the collector's own server settings
// (configgrpc, confighttp: TLS, auth, keepalive, decompression, size limits).
//
// It does not decode requests into pdata. A request's protobuf bytes are checked (otlpwire,
// refusing what pdata would refuse), written to the journal (the weir_journal extension), and
// only then acknowledged; RED, tail sampling and the metric stages run on the same bytes (for
// traces with RED and the sampler on, in the same reading as the check: ingest's TakeTraces),
// and
// what they keep becomes ClickHouse Native blocks in the journal, which the clickhouse exporter
// sends. So "accepted" means stored: a crash after the answer loses nothing (see
// internal/ingest).
//
// Refusals say what the sender should do: a request that does not decode gets
// InvalidArgument / HTTP 400 (do not retry); memory at memory_limit_mib, too many bytes in
// flight, a full or unwritable journal get Unavailable / HTTP 503 with Retry-After (retry).
// Spans with an all-zero or malformed ID are dropped and reported as a partial success.
package weirotlpreceiver // import "github.com/weirhq/weir/receivers/weirotlpreceiver"
