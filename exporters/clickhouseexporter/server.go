package clickhouseexporter

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.uber.org/zap"

	"github.com/weirhq/weir/internal/chblock"
	"github.com/weirhq/weir/internal/chinsert"
	"github.com/weirhq/weir/internal/ingest"
	"github.com/weirhq/weir/rollup"
)

// insertIDTables are the tables whose rows carry the InsertId of their block: the sender
// looks a block in doubt up there before sending it again. trace_index merges its rows and has
// no InsertId; a block of it sent twice counts its spans twice in SpanCount, nothing else.
var insertIDTables = map[string]bool{
	rollup.TableSpans: true, rollup.TableRED1m: true, rollup.TableEdges1m: true, rollup.TableSeries1m: true,
	rollup.TableMetricsGauge: true, rollup.TableMetricsSum: true, rollup.TableMetricsHistogram: true,
	rollup.TableMetricsExponentialHistogram: true, rollup.TableMetricsSummary: true,
}

// errFatal marks what retrying cannot fix: weir refuses to start (or, found later, to send).
var errFatal = errors.New("")

func fatalf(format string, args ...any) error {
	return fmt.Errorf("%w"+format, append([]any{errFatal}, args...)...)
}

func fatal(err error) bool { return errors.Is(err, errFatal) }

// prepare makes the database ready for the sender: reachable over both protocols with the
// configured credentials, at this binary's schema (migrated when create_schema is on), with
// every column weir's blocks carry; and records in the journal how blocks must be encoded.
func (e *chExporter) prepare(ctx context.Context) error {
	db := e.cfg.ClickHouse.Database
	// The HTTP interface, which inserts use, first: a wrong password or user is fatal there.
	if _, err := e.client.Query(ctx, "SELECT 1"); err != nil {
		if chinsert.IsAuth(err) {
			return fatalf("ClickHouse refuses user %q over HTTP (%v): fix username and password", e.cfg.ClickHouse.Username, err)
		}
		return fmt.Errorf("reach ClickHouse's HTTP interface: %w", err)
	}
	if e.cfg.CreateSchema {
		var res rollup.Applied
		var err error
		if c := e.cfg.ClickHouse.RollupCluster(); c != nil {
			res, err = rollup.MigrateCluster(ctx, e.conn, *c, db, 0)
		} else {
			res, err = rollup.Migrate(ctx, e.conn, db, 0)
		}
		if err != nil {
			return classify(err, db)
		}
		if res.From != res.To {
			e.logger.Info("schema migrated", zap.String("server", res.Server.String()), zap.Int("from", res.From), zap.Int("to", res.To))
		}
	} else {
		var n uint64
		if err := e.conn.QueryRow(ctx, "SELECT count() FROM system.databases WHERE name = ?", db).Scan(&n); err != nil {
			return classify(err, db)
		}
		if n == 0 {
			return fatalf("database %s does not exist and create_schema is off: create it with `weir schema --apply --database %s`, or turn create_schema on", db, db)
		}
		v, err := rollup.CurrentVersion(ctx, e.conn, db)
		if err != nil {
			return classify(err, db)
		}
		switch want := rollup.LatestVersion(); {
		case v > want:
			return fatalf("database %s is at schema version %d, this weir knows up to %d: %w", db, v, want, rollup.ErrSchemaTooNew)
		case v < want:
			return fatalf("database %s is at schema version %d, this weir writes version %d (create_schema is off): "+
				"run `weir schema --apply --database %s`, or turn create_schema on: %w", db, v, want, db, rollup.ErrSchemaTooOld)
		}
	}
	info, err := e.serverInfo(ctx)
	if err != nil {
		return classify(err, db)
	}
	if err := e.checkColumns(ctx, info); err != nil {
		return err
	}
	return e.store.SetServerInfo(info)
}

// classify turns a native-protocol error into a fatal one when retrying cannot help.
func classify(err error, db string) error {
	var exc *clickhouse.Exception
	if errors.As(err, &exc) {
		switch exc.Code {
		case 192, 193, 194, 195, 516:
			return fatalf("ClickHouse refuses the configured user: %v: fix username and password", err)
		case 81:
			return fatalf("database %s does not exist and create_schema is off: create it, or turn create_schema on (%v)", db, err)
		case 164, 291, 497:
			return fatalf("the configured user may not write database %s: %v", db, err)
		}
	}
	if errors.Is(err, rollup.ErrSchemaTooNew) || errors.Is(err, rollup.ErrSchemaTooOld) {
		return fatalf("%v", err)
	}
	return err
}

// serverInfo reads what block encoding depends on: the server's version and time zone, and
// whether the tables wrap strings in LowCardinality (their DDL decided that when they were
// created, whatever the server's version now).
func (e *chExporter) serverInfo(ctx context.Context) (ingest.ServerInfo, error) {
	var info ingest.ServerInfo
	row := e.conn.QueryRow(ctx, "SELECT version(), timezone()")
	if err := row.Scan(&info.Version, &info.TimeZone); err != nil {
		return info, fmt.Errorf("read server version: %w", err)
	}
	var typ string
	row = e.conn.QueryRow(ctx, "SELECT type FROM system.columns WHERE database = ? AND table = ? AND name = 'ServiceName'",
		e.cfg.ClickHouse.Database, rollup.TableSpans)
	if err := row.Scan(&typ); err != nil {
		return info, fmt.Errorf("read the spans table's columns: %w", err)
	}
	info.LowCardinality = strings.HasPrefix(typ, "LowCardinality(")
	return info, nil
}

// checkColumns refuses a schema that lacks a column weir's blocks carry: ClickHouse drops a
// Native block's unknown column without a word, and its data would be lost.
func (e *chExporter) checkColumns(ctx context.Context, info ingest.ServerInfo) error {
	rows, err := e.conn.Query(ctx, "SELECT table, name FROM system.columns WHERE database = ?", e.cfg.ClickHouse.Database)
	if err != nil {
		return fmt.Errorf("read the tables' columns: %w", err)
	}
	have := map[string]bool{}
	for rows.Next() {
		var table, name string
		if err := rows.Scan(&table, &name); err != nil {
			rows.Close()
			return err
		}
		have[table+"."+name] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var missing []string
	for table, cols := range blockColumns(info) {
		for _, c := range cols {
			if !have[table+"."+c] {
				missing = append(missing, table+"."+c)
			}
		}
	}
	if len(missing) > 0 {
		return fatalf("database %s lacks columns weir writes: %s; run `weir schema --apply --database %s`",
			e.cfg.ClickHouse.Database, strings.Join(missing, ", "), e.cfg.ClickHouse.Database)
	}
	return nil
}

// blockColumns lists every column of every block weir sends, by table.
func blockColumns(info ingest.ServerInfo) map[string][]string {
	spans := chblock.NewSpanBlock(info.LowCardinality, info.Location())
	out := map[string][]string{
		rollup.TableSpans:      spans.Columns(),
		rollup.TableTraceIndex: spans.Index.Columns(),
		rollup.TableRED1m:      chblock.NewREDBlock(info.LowCardinality).Columns(),
		rollup.TableEdges1m:    chblock.NewEdgeBlock(info.LowCardinality).Columns(),
		rollup.TableSeries1m:   chblock.NewSeriesBlock(info.LowCardinality).Columns(),
	}
	ms := chblock.NewMetricSet(info.LowCardinality)
	for _, b := range ms.Blocks[1:] {
		out[b.Table()] = b.Columns()
	}
	return out
}
