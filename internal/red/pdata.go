package red

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/weirhq/weir/internal/model"
)

// MetricsOutput collects what Flush emits as OTLP metrics, the form the weir_red connector
// passes on: per service a resource with one delta exponential histogram, model.REDMetric,
// one point per series and window; and one resource with model.EdgeMetric, one point per
// edge and window, both under the scope model.REDScope.
type MetricsOutput struct {
	md        pmetric.Metrics
	window    int64
	byService map[string]pmetric.ExponentialHistogramDataPointSlice
	edges     pmetric.ExponentialHistogramDataPointSlice
	hasEdges  bool
	points    int
}

// NewMetricsOutput starts an empty batch of points of window-long windows.
func NewMetricsOutput(window int64) *MetricsOutput {
	return &MetricsOutput{md: pmetric.NewMetrics(), window: window, byService: map[string]pmetric.ExponentialHistogramDataPointSlice{}}
}

// Metrics is what was collected; Points how many data points it holds.
func (o *MetricsOutput) Metrics() pmetric.Metrics { return o.md }
func (o *MetricsOutput) Points() int              { return o.points }

// RED adds one series' window.
func (o *MetricsOutput) RED(r *Row) {
	dps, ok := o.byService[r.Service]
	if !ok {
		rm := o.md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", r.Service)
		dps = newHistogram(rm, model.REDMetric)
		o.byService[r.Service] = dps
	}
	p := dps.AppendEmpty()
	o.point(p, r.Window, r.Hist)
	a := p.Attributes()
	a.PutStr(model.AttrSpanName, r.Name)
	a.PutInt(model.AttrSpanKind, int64(r.Kind))
	a.PutInt(model.AttrStatusCode, int64(r.Status))
	for i, d := range r.DimKeys {
		a.PutStr(d, r.DimVals[i])
	}
}

// Edge adds one edge's window.
func (o *MetricsOutput) Edge(e *EdgeRow) {
	if !o.hasEdges {
		o.edges = newHistogram(o.md.ResourceMetrics().AppendEmpty(), model.EdgeMetric)
		o.hasEdges = true
	}
	p := o.edges.AppendEmpty()
	o.point(p, e.Window, e.Hist)
	a := p.Attributes()
	a.PutStr(model.AttrClient, e.Client)
	a.PutStr(model.AttrServer, e.Server)
	a.PutStr(model.AttrConnectionType, e.Conn)
	a.PutBool(model.AttrFailed, e.Failed)
}

func newHistogram(rm pmetric.ResourceMetrics, name string) pmetric.ExponentialHistogramDataPointSlice {
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(model.REDScope)
	m := sm.Metrics().AppendEmpty()
	m.SetName(name)
	m.SetUnit("ns")
	eh := m.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	return eh.DataPoints()
}

func (o *MetricsOutput) point(p pmetric.ExponentialHistogramDataPoint, window int64, h *Histogram) {
	o.points++
	p.SetStartTimestamp(pcommon.Timestamp(window))
	p.SetTimestamp(pcommon.Timestamp(window + o.window))
	p.SetScale(model.LatencyScale)
	p.SetZeroCount(h.ZeroCount)
	p.Positive().SetOffset(h.Offset)
	p.Positive().BucketCounts().FromRaw(h.Counts)
	p.SetCount(h.Count)
	p.SetSum(h.Sum)
}
