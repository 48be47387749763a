// Package journalextension is the weir_journal extension: the directory where weir keeps what
// it has acknowledged and not yet stored (internal/ingest's Store: the ingest log of received
// requests and the queue of ClickHouse blocks). The weir_otlp receiver writes each request to
// it before acknowledging it and runs the ingest stages into its blocks; the clickhouse
// exporter sends its blocks. Both name it with `journal:`.
//
// It is bounded in bytes: at either log's bound the receiver refuses new requests with a
// retryable error (gRPC UNAVAILABLE, HTTP 503 with Retry-After) instead of growing. What sits in the page
// cache survives a process kill; `sync: interval` or `sync: always` also covers a power loss.
package journalextension // import "github.com/weirhq/weir/extensions/journalextension"
