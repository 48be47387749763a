package clickhouseexporter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/rollup"
)

// testTraces makes resources x scopes x spans spans with distinct span IDs; IDs listed in
// zero get an all-zero span ID.
func testTraces(resources, scopes, spans int, zero ...int) ptrace.Traces {
	td := ptrace.NewTraces()
	n := 0
	for r := 0; r < resources; r++ {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", r))
		for s := 0; s < scopes; s++ {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(fmt.Sprintf("scope-%d", s))
			for i := 0; i < spans; i++ {
				n++
				sp := ss.Spans().AppendEmpty()
				sp.SetName(fmt.Sprintf("span-%d", n))
				sp.SetTraceID(pcommon.TraceID{1, byte(n)})
				sp.SetSpanID(pcommon.SpanID{2, byte(n)})
				for _, z := range zero {
					if z == n {
						sp.SetSpanID(pcommon.SpanID{})
					}
				}
				sp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Unix(1_790_000_000, int64(n))))
				sp.SetEndTimestamp(sp.StartTimestamp() + 1000)
			}
		}
	}
	return td
}

func spanNames(td ptrace.Traces) []string {
	var out []string
	for r := 0; r < td.ResourceSpans().Len(); r++ {
		rs := td.ResourceSpans().At(r)
		for s := 0; s < rs.ScopeSpans().Len(); s++ {
			ss := rs.ScopeSpans().At(s)
			for i := 0; i < ss.Spans().Len(); i++ {
				out = append(out, ss.Spans().At(i).Name())
			}
		}
	}
	return out
}

func TestSpanBlock_FillSplitsAndTracesFromResumes(t *testing.T) {
	td := testTraces(2, 2, 3) // 12 spans
	all := spanNames(td)
	b := newSpanBlock(nil)
	var pos spanPos
	var seen []string
	for blocks := 0; ; blocks++ {
		require.Less(t, blocks, 10)
		// What a retry would get if this block failed: exactly the spans not yet written.
		assert.Equal(t, all[len(seen):], spanNames(tracesFrom(td, pos)), "remaining at %+v", pos)
		next, done := b.fill(td, pos, 5, 1<<30)
		seen = append(seen, b.name...)
		if done {
			break
		}
		assert.Equal(t, 5, b.rows)
		pos = next
	}
	assert.Equal(t, all, seen)
}

func TestMetricsWhere(t *testing.T) {
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	sm.Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty()
	sm.Metrics().AppendEmpty().SetEmptySum().DataPoints().AppendEmpty()
	sm.Metrics().AppendEmpty().SetEmptySummary().DataPoints().AppendEmpty()
	other := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	other.Metrics().AppendEmpty().SetEmptyGauge()

	got := metricsWhere(md, func(_ pmetric.ScopeMetrics, m pmetric.Metric) bool {
		return m.Type() == pmetric.MetricTypeSum || m.Type() == pmetric.MetricTypeSummary
	})
	require.Equal(t, 1, got.ResourceMetrics().Len(), "resources left without metrics are dropped")
	ms := got.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	require.Equal(t, 2, ms.Len())
	assert.Equal(t, pmetric.MetricTypeSum, ms.At(0).Type())
	assert.Equal(t, pmetric.MetricTypeSummary, ms.At(1).Type())
	assert.Equal(t, 3, md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().Len(), "input untouched")
}

// startExporter starts a traces exporter against a fresh test database with telemetry recorded.
func startExporter(t *testing.T, mutate func(*Config)) (*chExporter, *chtest.DB, *componenttest.Telemetry) {
	t.Helper()
	return startExporterSignal(t, false, mutate)
}

// startExporterSignal starts the exporter; metrics is true for the metrics exporter.
func startExporterSignal(t *testing.T, metrics bool, mutate func(*Config)) (*chExporter, *chtest.DB, *componenttest.Telemetry) {
	t.Helper()
	db := chtest.New(t)
	cfg := createDefaultConfig().(*Config)
	cfg.ClickHouse.Endpoint = chtest.Endpoint()
	cfg.ClickHouse.Database = db.Name
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	e, err := newExporter(cfg, tel.NewTelemetrySettings())
	require.NoError(t, err)
	_ = metrics // the metrics exporter is the same exporter; kept for the callers' clarity
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })
	return e, db, tel
}

func counterSum(t *testing.T, tel *componenttest.Telemetry, name string) int64 {
	t.Helper()
	return counterSumTable(t, tel, name, "")
}

// counterSumTable sums the points of a per-table counter for table; "" sums every table.
func counterSumTable(t *testing.T, tel *componenttest.Telemetry, name, table string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	require.NoError(t, err, name)
	var total int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if v, _ := dp.Attributes.Value("table"); table == "" || v.AsString() == table {
			total += dp.Value
		}
	}
	return total
}

func TestPushTraces_BlocksInvalidIDsAndTelemetry(t *testing.T) {
	t.Parallel()
	e, db, tel := startExporter(t, func(c *Config) { c.BlockMaxRows = 5 })
	td := testTraces(1, 1, 23, 4, 17) // two spans with a zero span ID
	require.NoError(t, e.pushTraces(context.Background(), td))
	assert.Equal(t, uint64(21), db.QueryUint64(t, "SELECT count() FROM "+db.Table("spans")))
	assert.Equal(t, uint64(0), db.QueryUint64(t, "SELECT count() FROM "+db.Table("spans")+" WHERE SpanId = toFixedString(unhex('0000000000000000'), 8)"))
	assert.Equal(t, int64(21), counterSumTable(t, tel, "weir_clickhouse_rows_written", "spans"))
	assert.Equal(t, int64(5), counterSumTable(t, tel, "weir_clickhouse_blocks_written", "spans"), "23 spans in blocks of 5")
	assert.Equal(t, int64(2), counterSum(t, tel, "weir_clickhouse_invalid_spans"))
	assert.Positive(t, counterSumTable(t, tel, "weir_clickhouse_bytes_written", "spans"))
	// Every span has a trace of its own here: one index row each, one index block per block.
	assert.Equal(t, int64(21), counterSumTable(t, tel, "weir_clickhouse_rows_written", "trace_index"))
	assert.Equal(t, int64(5), counterSumTable(t, tel, "weir_clickhouse_blocks_written", "trace_index"))
	assert.Positive(t, counterSumTable(t, tel, "weir_clickhouse_bytes_written", "trace_index"))
	assert.Equal(t, uint64(21), db.QueryUint64(t, "SELECT uniqExact(TraceId) FROM "+db.Table("trace_index")),
		"spans with an invalid ID are not indexed either")
}

// indexTraces makes batches export calls' worth of spans: three services, each span in one
// of four traces, so every trace has spans of several services in every batch. want gets
// what trace_index must hold per trace once everything is written.
func indexTraces(batches, perService int, want map[pcommon.TraceID]*indexWant) []ptrace.Traces {
	base := time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	var out []ptrace.Traces
	n := 0
	for range batches {
		td := ptrace.NewTraces()
		for _, svc := range []string{"frontend", "cart", "checkout"} {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", svc)
			spans := rs.ScopeSpans().AppendEmpty().Spans()
			for range perService {
				n++
				id := pcommon.TraceID{0x7, byte(n % 4)}
				start := base.Add(time.Duration(n*7%100) * time.Millisecond)
				end := start.Add(time.Duration(n%13+1) * time.Millisecond)
				sp := spans.AppendEmpty()
				sp.SetName(fmt.Sprintf("span-%d", n))
				sp.SetTraceID(id)
				sp.SetSpanID(pcommon.SpanID{0x8, byte(n), byte(n >> 8)})
				sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
				sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
				w := want[id]
				if w == nil {
					w = &indexWant{start: ^uint64(0)}
					want[id] = w
				}
				w.start = min(w.start, uint64(start.UnixNano()))
				w.end = max(w.end, uint64(end.UnixNano()))
				w.spans++
				if !slices.Contains(w.services, svc) {
					w.services = append(w.services, svc)
					slices.Sort(w.services)
				}
			}
		}
		out = append(out, td)
	}
	return out
}

// indexWant is one trace's trace_index entry, merged.
type indexWant struct {
	start, end uint64
	spans      uint64
	services   []string
}

// readIndex merges trace_index per trace, as the dashboards' trace lookup does.
func readIndex(t *testing.T, db *chtest.DB) map[pcommon.TraceID]*indexWant {
	t.Helper()
	rows, err := db.Conn.Query(context.Background(), "SELECT TraceId, minMerge(StartUnixNano), maxMerge(EndUnixNano), "+
		"countMerge(SpanCount), arraySort(groupUniqArrayMerge(Services)) FROM "+db.Table("trace_index")+" GROUP BY TraceId")
	require.NoError(t, err)
	defer rows.Close()
	got := map[pcommon.TraceID]*indexWant{}
	for rows.Next() {
		var id string
		w := &indexWant{}
		require.NoError(t, rows.Scan(&id, &w.start, &w.end, &w.spans, &w.services))
		got[pcommon.TraceID([]byte(id))] = w
	}
	require.NoError(t, rows.Err())
	return got
}

func TestPushTraces_WritesTraceIndex(t *testing.T) {
	t.Parallel()
	// Blocks of 4 rows out of 9 spans per export call: a trace's spans are split across
	// blocks within a call and across calls, and each block writes its own index rows.
	e, db, tel := startExporter(t, func(c *Config) { c.BlockMaxRows = 4 })
	want := map[pcommon.TraceID]*indexWant{}
	for _, td := range indexTraces(3, 3, want) {
		require.NoError(t, e.pushTraces(context.Background(), td))
	}
	require.Len(t, want, 4)
	assert.Equal(t, want, readIndex(t, db))
	assert.Equal(t, uint64(27), db.QueryUint64(t, "SELECT count() FROM "+db.Table("spans")))
	// 3 calls x 3 blocks (4 + 4 + 1 spans).
	assert.Equal(t, int64(9), counterSumTable(t, tel, "weir_clickhouse_blocks_written", "trace_index"))
	for _, name := range []string{"weir_clickhouse_insert_failures", "weir_clickhouse_unindexed_spans"} {
		_, err := tel.GetMetric(name)
		assert.Error(t, err, "%s never counted", name)
	}
}

// TestPushTraces_IndexFailureDoesNotResendSpans: when only the trace_index insert fails, the
// spans are stored, so the call succeeds and nothing is handed back for a retry that would
// store them twice; the loss is counted instead.
func TestPushTraces_IndexFailureDoesNotResendSpans(t *testing.T) {
	t.Parallel()
	e, db, tel := startExporter(t, func(c *Config) { c.BlockMaxRows = 4 })
	db.Exec(t, "DROP TABLE "+db.Table("trace_index"))
	want := map[pcommon.TraceID]*indexWant{}
	tds := indexTraces(1, 3, want)
	require.NoError(t, e.pushTraces(context.Background(), tds[0]))
	assert.Equal(t, uint64(9), db.QueryUint64(t, "SELECT count() FROM "+db.Table("spans")), "stored once")
	assert.Equal(t, int64(9), counterSum(t, tel, "weir_clickhouse_unindexed_spans"))
	assert.Equal(t, int64(3), counterSumTable(t, tel, "weir_clickhouse_insert_failures", "trace_index"))
	assert.Equal(t, int64(3), counterSum(t, tel, "weir_clickhouse_insert_failures"), "the spans blocks went in")
}

func TestPushTraces_FailureHandsBackTheBatch(t *testing.T) {
	t.Parallel()
	e, db, tel := startExporter(t, nil)
	db.Exec(t, "DROP TABLE "+db.Table("spans"))
	td := testTraces(1, 2, 3)
	err := e.pushTraces(context.Background(), td)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "insert 6 rows into "+db.Name+".spans")
	var te consumererror.Traces
	require.True(t, errors.As(err, &te))
	assert.Equal(t, spanNames(td), spanNames(te.Data()), "nothing was written, so all of it is handed back")
	assert.Equal(t, int64(1), counterSum(t, tel, "weir_clickhouse_insert_failures"))
	assert.Equal(t, uint64(0), db.QueryUint64(t, "SELECT count() FROM "+db.Table("trace_index")),
		"no index rows for spans that were not stored")
}

func TestPushMetrics_FailureHandsBackOnlyFailedTypes(t *testing.T) {
	t.Parallel()
	e, db, _ := startExporter(t, nil)
	db.Exec(t, "DROP TABLE "+db.Table("metrics_sum"))
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	g := sm.Metrics().AppendEmpty()
	g.SetName("g")
	g.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
	s := sm.Metrics().AppendEmpty()
	s.SetName("s")
	s.SetEmptySum().DataPoints().AppendEmpty().SetIntValue(2)
	err := e.pushMetrics(context.Background(), md)
	require.Error(t, err)
	var me consumererror.Metrics
	require.True(t, errors.As(err, &me))
	left := me.Data().ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	require.Equal(t, 1, left.Len())
	assert.Equal(t, "s", left.At(0).Name())
	assert.Equal(t, uint64(1), db.QueryUint64(t, "SELECT count() FROM "+db.Table("metrics_gauge")), "the gauge went in")
}

func TestSeriesHash_IgnoresAttributeOrder(t *testing.T) {
	build := func(order []string, value string) uint64 {
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "a")
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("m")
		p := m.SetEmptyGauge().DataPoints().AppendEmpty()
		for _, k := range order {
			p.Attributes().PutStr(k, value)
		}
		bs := newMetricBlocks()
		bs.fill(md)
		return bs.of(pmetric.MetricTypeGauge).seriesHash[0]
	}
	assert.Equal(t, build([]string{"x", "y", "z"}, "1"), build([]string{"z", "x", "y"}, "1"))
	assert.NotEqual(t, build([]string{"x", "y"}, "1"), build([]string{"x", "y"}, "2"))
	assert.NotEqual(t, build([]string{"x"}, "1"), build([]string{"x", "y"}, "1"))
}

func TestStart_RefusesSchemaTooNew(t *testing.T) {
	t.Parallel()
	_, db, _ := startExporter(t, nil)
	batch, err := db.Conn.PrepareBatch(context.Background(), "INSERT INTO "+db.Table("schema_migrations")+" (Version, Name, AppliedAt, Binary)")
	require.NoError(t, err)
	require.NoError(t, batch.Append(uint32(rollup.LatestVersion()+1), "from the future", time.Now(), "weir-next"))
	require.NoError(t, batch.Send())

	cfg := createDefaultConfig().(*Config)
	cfg.ClickHouse.Endpoint = chtest.Endpoint()
	cfg.ClickHouse.Database = db.Name
	e, err := newExporter(cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	err = e.start(context.Background(), componenttest.NewNopHost())
	require.ErrorIs(t, err, rollup.ErrSchemaTooNew)
	assert.Contains(t, err.Error(), db.Name)
}

func TestStart_WithoutCreateSchema_RefusesOlderSchema(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	ctx := context.Background()
	// A database an older weir made (schema version 6: trace_index_mv still counts spans).
	_, err := rollup.Migrate(ctx, db.Conn, db.Name, rollup.LatestVersion()-1)
	require.NoError(t, err)

	cfg := createDefaultConfig().(*Config)
	cfg.ClickHouse.Endpoint = chtest.Endpoint()
	cfg.ClickHouse.Database = db.Name
	cfg.CreateSchema = false
	e, err := newExporter(cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	err = e.start(ctx, componenttest.NewNopHost())
	require.ErrorIs(t, err, rollup.ErrSchemaTooOld)
	assert.Contains(t, err.Error(), "weir schema --apply --database "+db.Name)

	// Brought up to date, the same configuration starts.
	_, err = rollup.Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)
	e, err = newExporter(cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	require.NoError(t, e.start(ctx, componenttest.NewNopHost()))
	require.NoError(t, e.shutdown(ctx))
}
