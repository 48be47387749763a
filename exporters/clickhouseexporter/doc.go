// Package clickhouseexporter writes traces and metrics into weir's ClickHouse tables over
// the native protocol, as large columnar blocks built without reflection on the hot path.
// The tables belong to package rollup; this exporter only appends rows to them.
//
// Batching, the persistent queue, retries and timeouts are the collector's exporterhelper:
// sending_queue.batch bounds a block in time and size, block_max_rows and block_max_bytes
// split a batch that is still too large, and a failed insert hands back only the rows that
// were not written, so a retry does not write a block twice.
package clickhouseexporter // import "github.com/weirhq/weir/exporters/clickhouseexporter"
