package main

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weirhq/weir/internal/chtest"
)

// richMetrics builds one metric of every type, with every OTLP data point field set.
func richMetrics(seed int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
	rm.Resource().Attributes().PutStr("service.name", fmt.Sprintf("payments-%d", seed))
	rm.Resource().Attributes().PutInt("host.cpus", 8)
	rm.Resource().SetDroppedAttributesCount(1)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.SetSchemaUrl("https://opentelemetry.io/schemas/1.25.0")
	sm.Scope().SetName("weir.test/metrics")
	sm.Scope().SetVersion("0.1.0")
	sm.Scope().Attributes().PutStr("scope.k", "v")
	sm.Scope().SetDroppedAttributesCount(2)
	t0 := pcommon.NewTimestampFromTime(time.Date(2026, 11, 27, 10, 0, 0, 5, time.UTC))
	t1 := pcommon.NewTimestampFromTime(time.Date(2026, 11, 27, 10, 1, 0, 999999999, time.UTC))
	exemplars := func(es pmetric.ExemplarSlice) {
		e := es.AppendEmpty()
		e.SetTimestamp(t1 - 10)
		e.SetDoubleValue(0.125)
		e.SetTraceID([16]byte{1, 2, 3, byte(seed), 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		e.SetSpanID([8]byte{8, 7, 6, 5, 4, 3, 2, byte(seed)})
		e.FilteredAttributes().PutStr("user.id", "u-42")
		e.FilteredAttributes().PutEmptySlice("tags").AppendEmpty().SetBool(true)
		e2 := es.AppendEmpty()
		e2.SetTimestamp(t1 - 20)
		e2.SetIntValue(-7)
	}
	point := func(attrs pcommon.Map, i int) {
		attrs.PutStr("http.route", fmt.Sprintf("/r/%d", i))
		attrs.PutDouble("weight", 0.5)
	}

	g := sm.Metrics().AppendEmpty()
	g.SetName("queue.depth")
	g.SetDescription("items waiting")
	g.SetUnit("{item}")
	g.Metadata().PutStr("meta.k", "meta.v")
	gauge := g.SetEmptyGauge()
	for i := 0; i < 3; i++ {
		p := gauge.DataPoints().AppendEmpty()
		point(p.Attributes(), i)
		p.SetStartTimestamp(t0)
		p.SetTimestamp(t1 + pcommon.Timestamp(i))
		if i%2 == 0 {
			p.SetIntValue(int64(-9000 + i))
		} else {
			p.SetDoubleValue(3.25)
		}
		p.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(i == 2))
		exemplars(p.Exemplars())
	}

	s := sm.Metrics().AppendEmpty()
	s.SetName("http.server.requests")
	s.SetUnit("{request}")
	sum := s.SetEmptySum()
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	sum.SetIsMonotonic(true)
	sp := sum.DataPoints().AppendEmpty()
	point(sp.Attributes(), 1)
	sp.SetStartTimestamp(t0)
	sp.SetTimestamp(t1)
	sp.SetIntValue(1 << 40)
	exemplars(sp.Exemplars())

	h := sm.Metrics().AppendEmpty()
	h.SetName("http.server.duration")
	h.SetUnit("ms")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	hp := hist.DataPoints().AppendEmpty()
	point(hp.Attributes(), 2)
	hp.SetStartTimestamp(t0)
	hp.SetTimestamp(t1)
	hp.SetCount(10)
	hp.SetSum(123.5)
	hp.SetMin(0.5)
	hp.SetMax(99)
	hp.BucketCounts().FromRaw([]uint64{1, 2, 3, 4})
	hp.ExplicitBounds().FromRaw([]float64{1, 10, 100})
	exemplars(hp.Exemplars())
	hp2 := hist.DataPoints().AppendEmpty() // no sum, min, max: they must stay absent
	hp2.SetStartTimestamp(t0)
	hp2.SetTimestamp(t1)
	hp2.SetCount(0)

	e := sm.Metrics().AppendEmpty()
	e.SetName("rpc.latency")
	e.SetUnit("s")
	eh := e.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	ep := eh.DataPoints().AppendEmpty()
	point(ep.Attributes(), 3)
	ep.SetStartTimestamp(t0)
	ep.SetTimestamp(t1)
	ep.SetCount(20)
	ep.SetSum(-4.5)
	ep.SetMin(-3)
	ep.SetMax(2)
	ep.SetScale(-3)
	ep.SetZeroCount(2)
	ep.SetZeroThreshold(1e-9)
	ep.Positive().SetOffset(-2)
	ep.Positive().BucketCounts().FromRaw([]uint64{1, 0, 5})
	ep.Negative().SetOffset(7)
	ep.Negative().BucketCounts().FromRaw([]uint64{4, 4, 0, 3, 1})
	exemplars(ep.Exemplars())

	su := sm.Metrics().AppendEmpty()
	su.SetName("gc.pause")
	su.SetUnit("s")
	sp2 := su.SetEmptySummary().DataPoints().AppendEmpty()
	point(sp2.Attributes(), 4)
	sp2.SetStartTimestamp(t0)
	sp2.SetTimestamp(t1)
	sp2.SetCount(7)
	sp2.SetSum(0.75)
	q := sp2.QuantileValues().AppendEmpty()
	q.SetQuantile(0.5)
	q.SetValue(0.1)
	q = sp2.QuantileValues().AppendEmpty()
	q.SetQuantile(0.99)
	q.SetValue(0.4)
	return md
}

// flatPoints turns md into one single-point Metrics per data point, keyed by a string that
// is unique in the test data: service, metric name, timestamp and attributes.
func flatPoints(md pmetric.Metrics) map[string]pmetric.Metrics {
	out := map[string]pmetric.Metrics{}
	for r := 0; r < md.ResourceMetrics().Len(); r++ {
		rm := md.ResourceMetrics().At(r)
		for s := 0; s < rm.ScopeMetrics().Len(); s++ {
			sm := rm.ScopeMetrics().At(s)
			for i := 0; i < sm.Metrics().Len(); i++ {
				m := sm.Metrics().At(i)
				n := pointCount(m)
				for j := 0; j < n; j++ {
					one := pmetric.NewMetrics()
					orm := one.ResourceMetrics().AppendEmpty()
					rm.Resource().CopyTo(orm.Resource())
					orm.SetSchemaUrl(rm.SchemaUrl())
					osm := orm.ScopeMetrics().AppendEmpty()
					sm.Scope().CopyTo(osm.Scope())
					osm.SetSchemaUrl(sm.SchemaUrl())
					om := osm.Metrics().AppendEmpty()
					m.CopyTo(om)
					keepPoint(om, j)
					out[pointKey(one)] = one
				}
			}
		}
	}
	return out
}

func pointCount(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}

func keepPoint(m pmetric.Metric, j int) {
	k := 0
	keep := func() bool { k++; return k-1 != j }
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		m.Gauge().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { return keep() })
	case pmetric.MetricTypeSum:
		m.Sum().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { return keep() })
	case pmetric.MetricTypeHistogram:
		m.Histogram().DataPoints().RemoveIf(func(pmetric.HistogramDataPoint) bool { return keep() })
	case pmetric.MetricTypeExponentialHistogram:
		m.ExponentialHistogram().DataPoints().RemoveIf(func(pmetric.ExponentialHistogramDataPoint) bool { return keep() })
	case pmetric.MetricTypeSummary:
		m.Summary().DataPoints().RemoveIf(func(pmetric.SummaryDataPoint) bool { return keep() })
	}
}

func pointKey(one pmetric.Metrics) string {
	rm := one.ResourceMetrics().At(0)
	m := rm.ScopeMetrics().At(0).Metrics().At(0)
	svc, _ := rm.Resource().Attributes().Get("service.name")
	var ts pcommon.Timestamp
	var attrs pcommon.Map
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		ts, attrs = m.Gauge().DataPoints().At(0).Timestamp(), m.Gauge().DataPoints().At(0).Attributes()
	case pmetric.MetricTypeSum:
		ts, attrs = m.Sum().DataPoints().At(0).Timestamp(), m.Sum().DataPoints().At(0).Attributes()
	case pmetric.MetricTypeHistogram:
		ts, attrs = m.Histogram().DataPoints().At(0).Timestamp(), m.Histogram().DataPoints().At(0).Attributes()
	case pmetric.MetricTypeExponentialHistogram:
		ts, attrs = m.ExponentialHistogram().DataPoints().At(0).Timestamp(), m.ExponentialHistogram().DataPoints().At(0).Attributes()
	case pmetric.MetricTypeSummary:
		ts, attrs = m.Summary().DataPoints().At(0).Timestamp(), m.Summary().DataPoints().At(0).Attributes()
	}
	return fmt.Sprintf("%s|%s|%d|%v", svc.AsString(), m.Name(), ts, attrs.AsRaw())
}

const metricHeadCols = `TimeUnixNano, StartTimeUnixNano, MetricName, MetricDescription, MetricUnit,
	AttributeKeys, AttributeValues, AttributeTypes, Flags`

const metricTailCols = `MetricMetadataKeys, MetricMetadataValues, MetricMetadataTypes,
	ResourceAttributeKeys, ResourceAttributeValues, ResourceAttributeTypes,
	ResourceDroppedAttributesCount, ResourceSchemaUrl,
	ScopeName, ScopeVersion, ScopeAttributeKeys, ScopeAttributeValues, ScopeAttributeTypes,
	ScopeDroppedAttributesCount, ScopeSchemaUrl,
	Exemplars.TimeUnixNano, Exemplars.ValueType, Exemplars.DoubleValue, Exemplars.IntValue,
	Exemplars.TraceId, Exemplars.SpanId, Exemplars.FilteredAttributeKeys,
	Exemplars.FilteredAttributeValues, Exemplars.FilteredAttributeTypes`

// metricRow scans the columns every metric table shares and rebuilds the Metrics around
// the type-specific part, which set fills from its own scanned values.
type metricRow struct {
	timeNano, startNano                     uint64
	name, desc, unit                        string
	ak, av, mk, mv, rk, rv, sk, sv          []string
	at, mt, rt, st                          []uint8
	flags, resDropped, scopeDropped         uint32
	resSchema, scopeName, scopeVer, scSchem string
	exTime                                  []uint64
	exType                                  []uint8
	exDouble                                []float64
	exInt                                   []int64
	exTrace, exSpan                         []string
	exK, exV                                [][]string
	exT                                     [][]uint8
}

func (r *metricRow) head() []any {
	return []any{&r.timeNano, &r.startNano, &r.name, &r.desc, &r.unit, &r.ak, &r.av, &r.at, &r.flags}
}

func (r *metricRow) tail() []any {
	return []any{&r.mk, &r.mv, &r.mt, &r.rk, &r.rv, &r.rt, &r.resDropped, &r.resSchema,
		&r.scopeName, &r.scopeVer, &r.sk, &r.sv, &r.st, &r.scopeDropped, &r.scSchem,
		&r.exTime, &r.exType, &r.exDouble, &r.exInt, &r.exTrace, &r.exSpan, &r.exK, &r.exV, &r.exT}
}

// build returns the Metrics holding this row's resource, scope and metric, and the metric.
func (r *metricRow) build(t *testing.T) (pmetric.Metrics, pmetric.Metric) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	putAttrs(t, rm.Resource().Attributes(), r.rk, r.rv, r.rt)
	rm.Resource().SetDroppedAttributesCount(r.resDropped)
	rm.SetSchemaUrl(r.resSchema)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(r.scopeName)
	sm.Scope().SetVersion(r.scopeVer)
	putAttrs(t, sm.Scope().Attributes(), r.sk, r.sv, r.st)
	sm.Scope().SetDroppedAttributesCount(r.scopeDropped)
	sm.SetSchemaUrl(r.scSchem)
	m := sm.Metrics().AppendEmpty()
	m.SetName(r.name)
	m.SetDescription(r.desc)
	m.SetUnit(r.unit)
	putAttrs(t, m.Metadata(), r.mk, r.mv, r.mt)
	return md, m
}

// point fills the fields every data point has.
func (r *metricRow) point(t *testing.T, p interface {
	SetStartTimestamp(pcommon.Timestamp)
	SetTimestamp(pcommon.Timestamp)
	Attributes() pcommon.Map
	SetFlags(pmetric.DataPointFlags)
}) {
	p.SetStartTimestamp(pcommon.Timestamp(r.startNano))
	p.SetTimestamp(pcommon.Timestamp(r.timeNano))
	putAttrs(t, p.Attributes(), r.ak, r.av, r.at)
	p.SetFlags(pmetric.DataPointFlags(r.flags))
}

func (r *metricRow) exemplars(t *testing.T, es pmetric.ExemplarSlice) {
	for i := range r.exTime {
		e := es.AppendEmpty()
		e.SetTimestamp(pcommon.Timestamp(r.exTime[i]))
		if pmetric.ExemplarValueType(r.exType[i]) == pmetric.ExemplarValueTypeInt {
			e.SetIntValue(r.exInt[i])
		} else if pmetric.ExemplarValueType(r.exType[i]) == pmetric.ExemplarValueTypeDouble {
			e.SetDoubleValue(r.exDouble[i])
		}
		var tid [16]byte
		var sid [8]byte
		copy(tid[:], r.exTrace[i])
		copy(sid[:], r.exSpan[i])
		e.SetTraceID(tid)
		e.SetSpanID(sid)
		putAttrs(t, e.FilteredAttributes(), r.exK[i], r.exV[i], r.exT[i])
	}
}

func readMetrics(t *testing.T, db *chtest.DB) map[string]pmetric.Metrics {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string]pmetric.Metrics{}
	query := func(table, typeCols string, scan func(r *metricRow) []any, rebuild func(r *metricRow, m pmetric.Metric)) {
		rows, err := db.Conn.Query(ctx, "SELECT "+metricHeadCols+", "+typeCols+", "+metricTailCols+" FROM "+db.Table(table))
		require.NoError(t, err, table)
		defer rows.Close()
		for rows.Next() {
			r := &metricRow{}
			dest := append(append(r.head(), scan(r)...), r.tail()...)
			require.NoError(t, rows.Scan(dest...), table)
			md, m := r.build(t)
			rebuild(r, m)
			out[pointKey(md)] = md
		}
		require.NoError(t, rows.Err())
	}
	var vt, temp, mono uint8
	var dbl float64
	var iv int64
	num := func(r *metricRow, p pmetric.NumberDataPoint) {
		r.point(t, p)
		if pmetric.NumberDataPointValueType(vt) == pmetric.NumberDataPointValueTypeInt {
			p.SetIntValue(iv)
		} else if pmetric.NumberDataPointValueType(vt) == pmetric.NumberDataPointValueTypeDouble {
			p.SetDoubleValue(dbl)
		}
		r.exemplars(t, p.Exemplars())
	}
	query("metrics_gauge", "ValueType, DoubleValue, IntValue",
		func(*metricRow) []any { return []any{&vt, &dbl, &iv} },
		func(r *metricRow, m pmetric.Metric) { num(r, m.SetEmptyGauge().DataPoints().AppendEmpty()) })
	query("metrics_sum", "AggregationTemporality, IsMonotonic, ValueType, DoubleValue, IntValue",
		func(*metricRow) []any { return []any{&temp, &mono, &vt, &dbl, &iv} },
		func(r *metricRow, m pmetric.Metric) {
			s := m.SetEmptySum()
			s.SetAggregationTemporality(pmetric.AggregationTemporality(temp))
			s.SetIsMonotonic(mono == 1)
			num(r, s.DataPoints().AppendEmpty())
		})
	var count, zeroCount uint64
	var sum, min, max, zeroThr float64
	var hasSum, hasMin, hasMax uint8
	var buckets, pos, neg []uint64
	var bounds, quantiles, qvalues []float64
	var scale, posOff, negOff int32
	query("metrics_histogram", "AggregationTemporality, Count, Sum, HasSum, Min, HasMin, Max, HasMax, BucketCounts, ExplicitBounds",
		func(*metricRow) []any {
			return []any{&temp, &count, &sum, &hasSum, &min, &hasMin, &max, &hasMax, &buckets, &bounds}
		},
		func(r *metricRow, m pmetric.Metric) {
			h := m.SetEmptyHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporality(temp))
			p := h.DataPoints().AppendEmpty()
			r.point(t, p)
			p.SetCount(count)
			if hasSum == 1 {
				p.SetSum(sum)
			}
			if hasMin == 1 {
				p.SetMin(min)
			}
			if hasMax == 1 {
				p.SetMax(max)
			}
			p.BucketCounts().FromRaw(buckets)
			p.ExplicitBounds().FromRaw(bounds)
			r.exemplars(t, p.Exemplars())
		})
	query("metrics_exponential_histogram", "AggregationTemporality, Count, Sum, HasSum, Min, HasMin, Max, HasMax, Scale, ZeroCount, ZeroThreshold, PositiveOffset, PositiveBucketCounts, NegativeOffset, NegativeBucketCounts",
		func(*metricRow) []any {
			return []any{&temp, &count, &sum, &hasSum, &min, &hasMin, &max, &hasMax, &scale, &zeroCount, &zeroThr, &posOff, &pos, &negOff, &neg}
		},
		func(r *metricRow, m pmetric.Metric) {
			h := m.SetEmptyExponentialHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporality(temp))
			p := h.DataPoints().AppendEmpty()
			r.point(t, p)
			p.SetCount(count)
			if hasSum == 1 {
				p.SetSum(sum)
			}
			if hasMin == 1 {
				p.SetMin(min)
			}
			if hasMax == 1 {
				p.SetMax(max)
			}
			p.SetScale(scale)
			p.SetZeroCount(zeroCount)
			p.SetZeroThreshold(zeroThr)
			p.Positive().SetOffset(posOff)
			p.Positive().BucketCounts().FromRaw(pos)
			p.Negative().SetOffset(negOff)
			p.Negative().BucketCounts().FromRaw(neg)
			r.exemplars(t, p.Exemplars())
		})
	query("metrics_summary", "Count, Sum, Quantiles.Quantile, Quantiles.Value",
		func(*metricRow) []any { return []any{&count, &sum, &quantiles, &qvalues} },
		func(r *metricRow, m pmetric.Metric) {
			p := m.SetEmptySummary().DataPoints().AppendEmpty()
			r.point(t, p)
			p.SetCount(count)
			p.SetSum(sum)
			for i := range quantiles {
				q := p.QuantileValues().AppendEmpty()
				q.SetQuantile(quantiles[i])
				q.SetValue(qvalues[i])
			}
		})
	return out
}

func requireSameMetrics(t *testing.T, want, got map[string]pmetric.Metrics) {
	t.Helper()
	m := &pmetric.JSONMarshaler{}
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g, ok := got[k]
		if !ok {
			t.Errorf("point %s was sent but is not in ClickHouse", k)
			continue
		}
		wj, err := m.MarshalMetrics(want[k])
		require.NoError(t, err)
		gj, err := m.MarshalMetrics(g)
		require.NoError(t, err)
		require.JSONEq(t, string(wj), string(gj), "point %s", k)
	}
	require.Len(t, got, len(want), "ClickHouse holds points that were not sent")
}

func TestRoundTrip_Metrics(t *testing.T) {
	t.Parallel()
	w := startWeir(t, weirOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := map[string]pmetric.Metrics{}
	add := func(md pmetric.Metrics) pmetric.Metrics {
		for k, v := range flatPoints(md) {
			want[k] = v
		}
		return md
	}
	conn, err := grpc.NewClient(w.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	_, err = pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(add(richMetrics(1))))
	require.NoError(t, err)
	body, err := pmetricotlp.NewExportRequestFromMetrics(add(richMetrics(2))).MarshalJSON()
	require.NoError(t, err)
	require.NoError(t, postOTLP(ctx, "http://"+w.HTTPAddr+"/v1/metrics", "application/json", "", body))
	body, err = pmetricotlp.NewExportRequestFromMetrics(add(richMetrics(3))).MarshalProto()
	require.NoError(t, err)
	require.NoError(t, postOTLP(ctx, "http://"+w.HTTPAddr+"/v1/metrics", "application/x-protobuf", "zstd", zstdBytes(t, body)))

	total := "SELECT (SELECT count() FROM " + w.DB.Table("metrics_gauge") + ") + (SELECT count() FROM " + w.DB.Table("metrics_sum") +
		") + (SELECT count() FROM " + w.DB.Table("metrics_histogram") + ") + (SELECT count() FROM " + w.DB.Table("metrics_exponential_histogram") +
		") + (SELECT count() FROM " + w.DB.Table("metrics_summary") + ")"
	waitForCount(t, w.DB, total, uint64(len(want)), 30*time.Second)
	requireSameMetrics(t, want, readMetrics(t, w.DB))
	// Points of one series share a SeriesHash; different attributes make different series.
	require.Equal(t, uint64(3*3), w.DB.QueryUint64(t, "SELECT uniqExact(SeriesHash) FROM "+w.DB.Table("metrics_gauge")))
}
