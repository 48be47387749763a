// Package clickhouseexporter writes traces and metrics into weir's ClickHouse tables over
// the native protocol, as large columnar blocks built without reflection on the hot path.
// The tables belong to package rollup; this exporter only appends rows to them.
//
// Batching, the persistent queue, retries and timeouts are the collector's exporterhelper:
// sending_queue.batch bounds a block in time and size, block_max_rows and block_max_bytes
// split a batch that is still too large, and a failed insert hands back only the rows that
// were not written, so a retry does not write a block twice.
//
// Each block of spans is followed by the trace_index rows of its traces, aggregated per
// trace in Go (rollup.TraceIndexBlock). They are sent only once the spans are stored, and a
// failure to send them is counted (weir_clickhouse_unindexed_spans), not retried: a retry
// would store the block's spans twice.
package clickhouseexporter // import "github.com/weirhq/weir/exporters/clickhouseexporter"
