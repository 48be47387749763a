package clickhouseexporter

import (
	"context"
	"errors"
	"fmt"
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
	b := newSpanBlock()
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

// startExporterSignal starts the exporter; metrics is true for the metrics exporter, which
// runs the rollup schedule.
func startExporterSignal(t *testing.T, metrics bool, mutate func(*Config)) (*chExporter, *chtest.DB, *componenttest.Telemetry) {
	t.Helper()
	db := chtest.New(t)
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = chtest.Endpoint()
	cfg.Database = db.Name
	cfg.Rollup = RollupConfig{}
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	e, err := newExporter(cfg, tel.NewTelemetrySettings())
	require.NoError(t, err)
	e.scheduleRollups = metrics
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })
	return e, db, tel
}

func counterSum(t *testing.T, tel *componenttest.Telemetry, name string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	require.NoError(t, err, name)
	var total int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		total += dp.Value
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
	assert.Equal(t, int64(21), counterSum(t, tel, "weir_clickhouse_rows_written"))
	assert.Equal(t, int64(5), counterSum(t, tel, "weir_clickhouse_blocks_written"), "23 spans in blocks of 5")
	assert.Equal(t, int64(2), counterSum(t, tel, "weir_clickhouse_invalid_spans"))
	assert.Positive(t, counterSum(t, tel, "weir_clickhouse_bytes_written"))
}

func TestPushTraces_FailureHandsBackTheBatch(t *testing.T) {
	t.Parallel()
	e, db, tel := startExporter(t, nil)
	db.Exec(t, "DROP TABLE "+db.Table("trace_index_mv"))
	db.Exec(t, "DROP TABLE "+db.Table("spans"))
	td := testTraces(1, 2, 3)
	err := e.pushTraces(context.Background(), td)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "insert 6 rows into "+db.Name+".spans")
	var te consumererror.Traces
	require.True(t, errors.As(err, &te))
	assert.Equal(t, spanNames(td), spanNames(te.Data()), "nothing was written, so all of it is handed back")
	assert.Equal(t, int64(1), counterSum(t, tel, "weir_clickhouse_insert_failures"))
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

func TestSchedule_RollsUpAndAppliesRetention(t *testing.T) {
	t.Parallel()
	_, db, _ := startExporterSignal(t, true, func(c *Config) {
		c.Rollup = RollupConfig{Interval: 200 * time.Millisecond, Lookback: 72 * time.Hour, Grace: time.Minute,
			RetentionInterval: 200 * time.Millisecond, Retention: map[string]time.Duration{"red_1m": 24 * time.Hour}}
	})
	// One minute of RED two hours ago (rolled up, kept) and one five days ago (expired in 1m).
	recent := time.Now().Add(-2 * time.Hour).Truncate(time.Hour)
	old := time.Now().Add(-5 * 24 * time.Hour).Truncate(time.Hour)
	// A batch, not INSERT ... VALUES with bound arguments, which 18.16 never completes.
	batch, err := db.Conn.PrepareBatch(context.Background(), "INSERT INTO "+db.Table("red_1m")+" (Timestamp, ServiceName, SpanName, Requests)")
	require.NoError(t, err)
	for _, ts := range []time.Time{recent, old} {
		require.NoError(t, batch.Append(ts, "svc", "op", uint64(7)))
	}
	require.NoError(t, batch.Send())
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if db.QueryUint64(t, "SELECT count() FROM "+db.Table("red_1h")) > 0 &&
			db.QueryUint64(t, "SELECT count() FROM "+db.Table("red_1m")) == 1 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	assert.Equal(t, uint64(7), db.QueryUint64(t, "SELECT sum(Requests) FROM "+db.Table("red_1h")+" WHERE Timestamp = toDateTime(?)", recent.Unix()), "the closed hour was rolled up")
	assert.Equal(t, uint64(1), db.QueryUint64(t, "SELECT count() FROM "+db.Table("red_1m")), "the expired day was dropped from the 1m tier")
}

func TestStart_RefusesSchemaTooNew(t *testing.T) {
	t.Parallel()
	_, db, _ := startExporter(t, nil)
	batch, err := db.Conn.PrepareBatch(context.Background(), "INSERT INTO "+db.Table("schema_migrations")+" (Version, Name, AppliedAt, Binary)")
	require.NoError(t, err)
	require.NoError(t, batch.Append(uint32(rollup.LatestVersion()+1), "from the future", time.Now(), "weir-next"))
	require.NoError(t, batch.Send())

	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = chtest.Endpoint()
	cfg.Database = db.Name
	cfg.Rollup = RollupConfig{}
	e, err := newExporter(cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	err = e.start(context.Background(), componenttest.NewNopHost())
	require.ErrorIs(t, err, rollup.ErrSchemaTooNew)
	assert.Contains(t, err.Error(), db.Name)
}
