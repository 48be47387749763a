// Package chblock builds the rows weir writes as ClickHouse Native blocks: the columns of
// each table, filled straight from OTLP wire data (internal/otlpwire) or from pdata, and
// encoded with ch-go's proto package for an `INSERT INTO t FORMAT Native`.
//
// Both fill paths write the same rows for the same input (a property test holds them to it),
// so weir's own receiver, which never builds pdata, and the clickhouse exporter fed by any
// upstream component store alike. The column lists mirror rollup's DDL (rollup/sql); a test
// in rollup checks them against a migrated database, so a schema change that forgets the
// encoder fails there.
//
// Blocks are built column by column into buffers that are reused from block to block: after
// the first blocks a fill allocates nothing per row. A block is not safe for concurrent use.
//
// The package imports ch-go's encoding, never a ClickHouse client: components that build
// blocks (the receiver) do not link the driver.
package chblock
