// Package rollupextension is the weir_rollup extension: the schedule that keeps weir's tiers
// and retention up to date inside a running collector. Every interval it runs rollup.Job over
// the last lookback (the 1h and 1d tiers of RED, service edges and metric series, rebuilt
// from the finer tier for every window closed by grace), and every retention_interval it
// drops the partitions older than each table's retention.
//
// It only reads and rewrites tables: the clickhouse exporter owns the schema and creates it.
// Until the database is at the schema version this build knows, a run waits for the next
// interval. Runs are sequential, so a slow rollup delays the next instead of overlapping it.
// Without the extension nothing rolls up: run `weir rollup` from cron instead.
package rollupextension // import "github.com/weirhq/weir/extensions/rollupextension"
