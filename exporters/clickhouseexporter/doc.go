// Package clickhouseexporter sends weir's data into its ClickHouse tables (package rollup owns
// them) from the journal of a weir_journal extension.
//
// Blocks reach the journal two ways: weir_otlp seals them there from what it receives
// (internal/ingest), and this exporter's own consumers turn the pdata that other collector
// components hand it into the same blocks (spans and their trace_index rows, the five
// metric tables and series_1m, weir_red's red_1m and edges_1m points). Either way a call
// returns once its data is in the journal.
//
// The sender (ingest.Sender) inserts the journal's committed blocks over ClickHouse's HTTP
// interface as pre-encoded Native data (internal/chinsert), coalescing consecutive blocks of
// a table into one all-or-nothing INSERT; retries what a retry may fix with backoff, looks a
// block whose INSERT had an unknown outcome up by its InsertId before sending it again, and
// sets aside (rejected/ in the journal, logged, counted) what ClickHouse refuses for good.
//
// At start the exporter checks what retrying cannot fix, and refuses to start on it: a wrong
// user or password, a missing database with create_schema off, a schema of another version,
// a table that lacks a column weir writes. A server that is merely away is retried in the
// background while data waits in the journal.
package clickhouseexporter // import "github.com/weirhq/weir/exporters/clickhouseexporter"
