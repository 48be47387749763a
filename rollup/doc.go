// Package rollup owns weir's ClickHouse tables: their DDL (embedded .sql templates under
// sql/), the forward-only migrations that create and change them, the server features each
// DDL variant relies on, and the names every writer and reader uses.
//
// Nothing outside rollup and the ClickHouse exporter writes SQL against weir's tables.
// The layouts are documented in SCHEMA.md next to this file.
package rollup
