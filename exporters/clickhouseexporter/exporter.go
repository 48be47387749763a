package clickhouseexporter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/weirhq/weir/rollup"
)

// chExporter holds one connection pool and the reusable blocks. It is safe for concurrent
// use: every export call takes its own block from a pool.
type chExporter struct {
	cfg    *Config
	logger *zap.Logger
	tel    *telemetry

	conn driver.Conn
	// index writes the trace_index rows of each span block once the spans are stored.
	index *rollup.TraceIndexWriter

	schemaMu    sync.Mutex // guards schemaReady and loc
	schemaReady bool
	loc         *time.Location // the server's time zone, once known

	// Free lists of blocks, as many as export calls can run at once. Not sync.Pool: it hands
	// its items to the garbage collector between batches, and regrowing a block's columns
	// costs four times filling them (BenchmarkSpanBlock_Fill).
	spanFree   chan *spanBlock
	metricFree chan *metricBlocks
}

func newExporter(cfg *Config, set component.TelemetrySettings) (*chExporter, error) {
	tel, err := newTelemetry(set)
	if err != nil {
		return nil, err
	}
	n := 1
	if cfg.SendingQueue.HasValue() {
		n = cfg.SendingQueue.Get().NumConsumers
	}
	return &chExporter{cfg: cfg, logger: set.Logger, tel: tel,
		spanFree: make(chan *spanBlock, n), metricFree: make(chan *metricBlocks, n)}, nil
}

func (e *chExporter) start(ctx context.Context, _ component.Host) error {
	method := clickhouse.CompressionLZ4
	switch e.cfg.Compression {
	case "none":
		method = clickhouse.CompressionNone
	case "zstd":
		method = clickhouse.CompressionZSTD
	}
	// Inserts run one per queue consumer; a few more for schema work.
	conn, err := e.cfg.ClickHouse.Open(ctx, method, 8)
	if err != nil {
		return err
	}
	e.conn = conn
	if e.index, err = rollup.NewTraceIndexWriter(conn, e.cfg.ClickHouse.Database); err != nil {
		return errors.Join(err, e.shutdown(ctx))
	}
	e.logger.Info("clickhouse exporter starting",
		zap.String("endpoint", e.cfg.ClickHouse.Endpoint), zap.String("database", e.cfg.ClickHouse.Database),
		zap.String("compression", e.cfg.Compression))
	// A server that is away at start is not fatal: data waits in the queue and the schema
	// is created before the first insert that reaches it.
	if err := e.ensureSchema(ctx); err != nil {
		if errors.Is(err, rollup.ErrSchemaTooNew) || errors.Is(err, rollup.ErrSchemaTooOld) {
			// Writing into a schema this binary does not know could corrupt it, and into an
			// older one (with create_schema off) would fail or count spans twice: refuse to start.
			return errors.Join(err, e.shutdown(ctx))
		}
		e.logger.Warn("ClickHouse not ready at start; will retry before the first insert", zap.Error(err))
	}
	return nil
}

func (e *chExporter) shutdown(context.Context) error {
	if e.conn == nil {
		return nil
	}
	err := e.conn.Close()
	e.conn = nil
	return err
}

// ensureSchema migrates the database once per process when create_schema is on; when it is
// off, it checks that the database is at the schema version this binary writes.
func (e *chExporter) ensureSchema(ctx context.Context) error {
	e.schemaMu.Lock()
	defer e.schemaMu.Unlock()
	if e.schemaReady {
		return nil
	}
	if !e.cfg.CreateSchema {
		v, err := rollup.CurrentVersion(ctx, e.conn, e.cfg.ClickHouse.Database)
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		switch want := rollup.LatestVersion(); {
		case v > want:
			return consumererror.NewPermanent(fmt.Errorf("database %s is at schema version %d, this weir knows up to %d: %w",
				e.cfg.ClickHouse.Database, v, want, rollup.ErrSchemaTooNew))
		case v < want:
			return consumererror.NewPermanent(fmt.Errorf("database %s is at schema version %d, this weir writes version %d "+
				"(create_schema is off): run `weir schema --apply --database %s`, or turn create_schema on: %w",
				e.cfg.ClickHouse.Database, v, want, e.cfg.ClickHouse.Database, rollup.ErrSchemaTooOld))
		}
		e.schemaReady = true
		return nil
	}
	res, err := rollup.Migrate(ctx, e.conn, e.cfg.ClickHouse.Database, 0)
	if err != nil {
		if errors.Is(err, rollup.ErrSchemaTooNew) {
			return consumererror.NewPermanent(err)
		}
		return fmt.Errorf("migrate schema: %w", err)
	}
	if res.From != res.To {
		e.logger.Info("schema migrated", zap.String("server", res.Server.String()),
			zap.Int("from", res.From), zap.Int("to", res.To))
	}
	e.schemaReady = true
	return nil
}

// serverLocation is the server's time zone, asked once per process: toDate(Timestamp) puts
// a span in a day of that zone, and its trace_index row must land in the same day, so that
// retention drops a day's spans and their index rows together.
func (e *chExporter) serverLocation() (*time.Location, error) {
	e.schemaMu.Lock()
	defer e.schemaMu.Unlock()
	if e.loc != nil {
		return e.loc, nil
	}
	sv, err := e.conn.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("read server time zone: %w", err)
	}
	e.loc = sv.Timezone
	if e.loc == nil {
		e.loc = time.UTC
	}
	return e.loc, nil
}

func (e *chExporter) pushTraces(ctx context.Context, td ptrace.Traces) error {
	if err := e.ensureSchema(ctx); err != nil {
		return err
	}
	loc, err := e.serverLocation()
	if err != nil {
		return err
	}
	var b *spanBlock
	select {
	case b = <-e.spanFree:
	default:
		b = newSpanBlock(loc)
	}
	defer func() {
		select {
		case e.spanFree <- b:
		default: // more callers than consumers (no queue): let this one go
		}
	}()
	var pos spanPos
	for {
		next, done := b.fill(td, pos, e.cfg.BlockMaxRows, e.cfg.BlockMaxBytes)
		if b.rows > 0 {
			if err := e.insert(ctx, rollup.TableSpans, b); err != nil {
				// Hand back only what was not written, so a retry cannot duplicate rows.
				// Invalid spans are counted when the retry skips them again.
				return consumererror.NewTraces(err, tracesFrom(td, pos))
			}
			e.writeIndex(ctx, b.index)
		}
		if b.invalid > 0 {
			// Counted once the block they were skipped from is settled, so a retried block
			// does not count them twice.
			e.tel.invalidSpans.Add(ctx, int64(b.invalid))
		}
		if done {
			return nil
		}
		pos = next
	}
}

// writeIndex inserts the trace_index rows of a block whose spans are stored. A failure is
// counted and logged, not returned: the queue would retry the whole block, and its spans,
// already stored, would be stored twice; a trace_index row missing a block's spans makes
// those spans harder to find, a duplicated span is wrong data. rollup/SCHEMA.md shows how
// to rebuild the index of a time range from spans.
func (e *chExporter) writeIndex(ctx context.Context, ix *rollup.TraceIndexBlock) {
	start := time.Now()
	err := e.index.Write(ctx, ix)
	e.tel.record(ctx, rollup.TableTraceIndex, ix.Len(), ix.Bytes(), time.Since(start), err)
	if err != nil {
		e.tel.unindexedSpans.Add(ctx, int64(ix.Spans()))
		e.logger.Warn("trace index rows not written; their spans are stored but not indexed",
			zap.Int("traces", ix.Len()), zap.Int("spans", ix.Spans()), zap.Error(err))
	}
}

func (e *chExporter) pushMetrics(ctx context.Context, md pmetric.Metrics) error {
	if err := e.ensureSchema(ctx); err != nil {
		return err
	}
	var bs *metricBlocks
	select {
	case bs = <-e.metricFree:
	default:
		bs = newMetricBlocks()
	}
	defer func() {
		select {
		case e.metricFree <- bs:
		default:
		}
	}()
	bs.fill(md)
	failed := map[pmetric.MetricType]bool{}
	redFailed := false
	var errs []error
	for _, b := range bs.all() {
		if b.rows == 0 {
			continue
		}
		if err := e.insert(ctx, b.table, b); err != nil {
			errs = append(errs, err)
			failed[b.metricType] = true
		}
	}
	for _, rb := range []struct {
		table string
		b     block
		rows  int
	}{{rollup.TableRED1m, &bs.red.red, bs.red.red.rows}, {rollup.TableEdges1m, &bs.red.edge, bs.red.edge.rows}} {
		if rb.rows == 0 {
			continue
		}
		if err := e.insert(ctx, rb.table, rb.b); err != nil {
			errs = append(errs, err)
			redFailed = true
		}
	}
	// series_1m last, from the points now stored raw: see seriesOnlyKey for why.
	seriesFailed := false
	if sb := bs.buildSeries(failed); sb.rows > 0 {
		if err := e.insert(ctx, rollup.TableSeries1m, sb); err != nil {
			errs = append(errs, err)
			seriesFailed = true
		}
	}
	if len(errs) > 0 {
		// Hand back only what a failed table still needs.
		return consumererror.NewMetrics(errors.Join(errs...), metricsToRetry(md, failed, redFailed, seriesFailed))
	}
	return nil
}

// block is a set of columns ready for one INSERT.
type block interface {
	columns() []string
	appendTo(batch driver.Batch) error
	size() (rows, bytes int)
}

func (e *chExporter) insert(ctx context.Context, table string, b block) error {
	rows, bytes := b.size()
	start := time.Now()
	err := e.send(ctx, table, b)
	e.tel.record(ctx, table, rows, bytes, time.Since(start), err)
	if err != nil {
		return fmt.Errorf("insert %d rows into %s.%s: %w", rows, e.cfg.ClickHouse.Database, table, err)
	}
	return nil
}

func (e *chExporter) send(ctx context.Context, table string, b block) error {
	batch, err := e.conn.PrepareBatch(ctx, insertQuery(e.cfg.ClickHouse.Database, table, b.columns()))
	if err != nil {
		return err
	}
	if err := b.appendTo(batch); err != nil {
		_ = batch.Abort()
		return err
	}
	return batch.Send()
}

// insertQuery names the columns: ClickHouse 18.16 rejects a bare INSERT INTO t from the driver.
func insertQuery(db, table string, cols []string) string {
	q := make([]byte, 0, 64+len(cols)*24)
	q = append(q, "INSERT INTO "...)
	q = append(q, db...)
	q = append(q, '.')
	q = append(q, table...)
	q = append(q, " ("...)
	for i, c := range cols {
		if i > 0 {
			q = append(q, ", "...)
		}
		q = append(q, c...)
	}
	q = append(q, ')')
	return string(q)
}
