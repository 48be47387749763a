package clickhouseexporter

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/weirhq/weir/extensions/journalextension/journaltest"
	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/otlpgen"
)

// testExporter is the traces and metrics exporters of one ID over one journal.
type testExporter struct {
	traces  exporter.Traces
	metrics exporter.Metrics
	host    *journaltest.TestHost
	db      *chtest.DB
}

var exporterSeq int

func newConfig(db *chtest.DB) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.ClickHouse.Endpoint = chtest.Endpoint()
	cfg.ClickHouse.Database = db.Name
	cfg.HTTPEndpoints = []string{"http://" + chtest.HTTPAddr()}
	cfg.Retry = RetryConfig{InitialInterval: 50 * time.Millisecond, MaxInterval: 500 * time.Millisecond}
	cfg.Batch.MaxWait = 50 * time.Millisecond
	return cfg
}

func startTestExporter(t *testing.T, db *chtest.DB, mutate func(*Config)) (*testExporter, error) {
	t.Helper()
	cfg := newConfig(db)
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	f := NewFactory()
	set := exportertest.NewNopSettings(f.Type())
	exporterSeq++
	set.ID = component.NewIDWithName(f.Type(), fmt.Sprintf("%s_%d", strings.ReplaceAll(t.Name(), "/", "_"), exporterSeq))
	te := &testExporter{host: journaltest.NewTestHost(t, t.TempDir()), db: db}
	var err error
	te.traces, err = f.CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	te.metrics, err = f.CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	if err := te.traces.Start(context.Background(), te.host); err != nil {
		return nil, err
	}
	require.NoError(t, te.metrics.Start(context.Background(), te.host))
	t.Cleanup(te.stop)
	return te, nil
}

func (te *testExporter) stop() {
	_ = te.traces.Shutdown(context.Background())
	_ = te.metrics.Shutdown(context.Background())
}

func (te *testExporter) count(t *testing.T, table string) uint64 {
	t.Helper()
	return te.db.QueryUint64(t, "SELECT count() FROM "+te.db.Table(table))
}

// What other components hand the exporter (pdata) is in the journal when the call returns,
// and in ClickHouse soon after: spans (without the ones with zero IDs), trace_index rows, and
// metric points of the five types with their series rows.
func TestExporter_PdataToClickHouse(t *testing.T) {
	db := chtest.New(t)
	te, err := startTestExporter(t, db, nil)
	require.NoError(t, err)
	g := otlpgen.New(7)
	g.Big = 100
	td := g.Traces(3, 2, 20)
	valid := 0
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		for j := 0; j < td.ResourceSpans().At(i).ScopeSpans().Len(); j++ {
			spans := td.ResourceSpans().At(i).ScopeSpans().At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				if id, sid := spans.At(k).TraceID(), spans.At(k).SpanID(); !id.IsEmpty() && !sid.IsEmpty() {
					valid++
				}
			}
		}
	}
	require.Greater(t, valid, 0)
	require.NoError(t, te.traces.ConsumeTraces(context.Background(), td))
	md := g.Metrics(3, 3, 6)
	points := map[string]int{}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		for j := 0; j < rms.At(i).ScopeMetrics().Len(); j++ {
			ms := rms.At(i).ScopeMetrics().At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					points["metrics_gauge"] += m.Gauge().DataPoints().Len()
				case pmetric.MetricTypeSum:
					points["metrics_sum"] += m.Sum().DataPoints().Len()
				case pmetric.MetricTypeHistogram:
					points["metrics_histogram"] += m.Histogram().DataPoints().Len()
				case pmetric.MetricTypeExponentialHistogram:
					points["metrics_exponential_histogram"] += m.ExponentialHistogram().DataPoints().Len()
				case pmetric.MetricTypeSummary:
					points["metrics_summary"] += m.Summary().DataPoints().Len()
				}
			}
		}
	}
	require.NoError(t, te.metrics.ConsumeMetrics(context.Background(), md))
	require.Eventually(t, func() bool { return te.count(t, "spans") == uint64(valid) }, 30*time.Second, 50*time.Millisecond)
	// Each table's blocks are INSERTs of their own: the trace index may land a moment later.
	require.Eventually(t, func() bool {
		return db.QueryUint64(t, "SELECT countMerge(SpanCount) FROM "+db.Table("trace_index")) == uint64(valid)
	}, 30*time.Second, 50*time.Millisecond, "trace_index counts every span")
	for table, n := range points {
		require.Eventually(t, func() bool { return te.count(t, table) == uint64(n) }, 30*time.Second, 50*time.Millisecond, table)
	}
	assert.Positive(t, te.count(t, "series_1m"))
}

// A wrong password, or a database that does not exist with create_schema off, stops weir at
// start with an error that says what to fix.
func TestExporter_StartRefusesWhatRetryingCannotFix(t *testing.T) {
	db := chtest.New(t)
	_, err := startTestExporter(t, db, func(c *Config) { c.ClickHouse.Password = "wrong"; c.ClickHouse.Username = "default" })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "fix username and password")

	_, err = startTestExporter(t, db, func(c *Config) { c.ClickHouse.Database = db.Name + "_missing"; c.CreateSchema = false })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not exist and create_schema is off")
}

// ClickHouse away at start: the exporter starts, takes data into the journal, and sends it
// once the server is there.
func TestExporter_ServerAwayAtStart(t *testing.T) {
	db := chtest.New(t)
	native, http := chtest.NewProxy(t, chtest.Addr()), chtest.NewProxy(t, chtest.HTTPAddr())
	native.Down()
	http.Down()
	// The journal knows the server from before (a restart): the data can be encoded.
	te, err := startTestExporter(t, db, func(c *Config) {
		c.ClickHouse.Endpoint = "tcp://" + native.Addr
		c.HTTPEndpoints = []string{"http://" + http.Addr}
		c.Timeout = time.Second
	})
	require.NoError(t, err)
	g := otlpgen.New(3)
	err = te.traces.ConsumeTraces(context.Background(), g.Telemetrygen(100))
	require.ErrorContains(t, err, "has not been reached", "a new journal cannot encode blocks before the server answers")
	native.Up()
	http.Up()
	require.Eventually(t, func() bool {
		return te.traces.ConsumeTraces(context.Background(), g.Telemetrygen(100)) == nil
	}, 30*time.Second, 100*time.Millisecond)
	require.Eventually(t, func() bool { return te.count(t, "spans") >= 100 }, 30*time.Second, 50*time.Millisecond)
}
