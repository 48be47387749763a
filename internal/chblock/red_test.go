package chblock

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/internal/otlpgen"
	"github.com/weirhq/weir/internal/red"
	"github.com/weirhq/weir/rollup"
)

// both hands every row to a block directly (weir's ingest) and to a MetricsOutput (the
// weir_red connector, whose points the exporter's pdata path stores).
type both struct {
	red   *REDBlock
	edge  *EdgeBlock
	pdata *red.MetricsOutput
}

func (o *both) RED(r *red.Row)      { o.red.Append(r); o.pdata.RED(r) }
func (o *both) Edge(e *red.EdgeRow) { o.edge.Append(e); o.pdata.Edge(e) }

// TestREDBlocks_RowsAndPointsStoreAlike: the RED and edge rows stored from the aggregator's
// rows and from the connector's points are the same.
func TestREDBlocks_RowsAndPointsStoreAlike(t *testing.T) {
	t.Parallel()
	db := migrated(t)
	cfg := red.DefaultConfig()
	cfg.Dimensions = append(cfg.Dimensions, "k1", "peer.service")
	agg, err := red.New(cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	now := time.Unix(1_790_000_000, 0)
	for seed := uint64(0); seed < 40; seed++ {
		g := otlpgen.New(seed)
		g.Big = 100
		req, err := ptraceotlp.NewExportRequestFromTraces(g.Traces(3, 2, 8)).MarshalProto()
		require.NoError(t, err)
		require.NoError(t, agg.ConsumeWire(req, now))
	}
	o := &both{red: NewREDBlock(false), edge: NewEdgeBlock(false), pdata: red.NewMetricsOutput(int64(cfg.Window))}
	agg.Flush(now, true, o)
	pr, pe := NewREDBlock(false), NewEdgeBlock(false)
	rms := o.pdata.Metrics().ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		svc, _ := rm.Resource().Attributes().Get("service.name")
		ms := rm.ScopeMetrics().At(0).Metrics().At(0)
		dps := ms.ExponentialHistogram().DataPoints()
		for j := 0; j < dps.Len(); j++ {
			if ms.Name() == model.REDMetric {
				pr.AppendPdata(svc.Str(), dps.At(j))
			} else {
				pe.AppendPdata(dps.At(j))
			}
		}
	}
	require.Greater(t, o.red.Rows(), 20)
	require.Greater(t, o.edge.Rows(), 5)
	require.Equal(t, o.red.Rows(), pr.Rows())
	require.Equal(t, o.edge.Rows(), pe.Rows())
	for _, c := range []struct {
		table string
		a, b  interface {
			Encode([]byte, uint64) ([]byte, error)
		}
		order  string
		fields []string
	}{
		{rollup.TableRED1m, o.red, pr, "ServiceName, SpanName, SpanKind, StatusCode, DimValues, Timestamp", o.red.Columns()},
		{rollup.TableEdges1m, o.edge, pe, "Client, Server, ConnectionType, Failed, Timestamp", o.edge.Columns()},
	} {
		for id, blk := range []interface {
			Encode([]byte, uint64) ([]byte, error)
		}{c.a, c.b} {
			enc, err := blk.Encode(nil, uint64(id+1))
			require.NoError(t, err)
			post(t, "INSERT INTO "+db.Table(c.table)+" FORMAT Native", enc)
		}
		sel := strings.Join(c.fields[:len(c.fields)-1], ", ") // all but InsertId
		q := func(id int) string {
			return post(t, fmt.Sprintf("SELECT %s FROM %s WHERE InsertId = %d ORDER BY %s FORMAT TSV", sel, db.Table(c.table), id, c.order), nil)
		}
		require.Equal(t, q(2), q(1), c.table)
	}
}
