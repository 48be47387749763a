package otlpwire

import (
	"errors"
	"fmt"
	"iter"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weirhq/weir/internal/anyvalue"
	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/internal/otlpgen"
)

func (d *dump) float(name string, v float64) {
	d.b.WriteString(" " + name + "=" + strconv.FormatUint(math.Float64bits(v), 16))
}

func (d *dump) boolean(name string, v bool) {
	d.b.WriteString(" " + name + "=" + strconv.FormatBool(v))
}

func (d *dump) u64s(name string, v []uint64) {
	d.b.WriteString(" " + name + "=[")
	for _, x := range v {
		d.b.WriteString(strconv.FormatUint(x, 10) + ",")
	}
	d.b.WriteString("]")
}

func (d *dump) f64s(name string, v []float64) {
	d.b.WriteString(" " + name + "=[")
	for _, x := range v {
		d.b.WriteString(strconv.FormatUint(math.Float64bits(x), 16) + ",")
	}
	d.b.WriteString("]")
}

// dumpMetricsPdata writes every point the way weir stores it, with its metric, scope and
// resource: what both decoders must agree on.
func dumpMetricsPdata(md pmetric.Metrics) string {
	var d dump
	rms := md.ResourceMetrics()
	for r := 0; r < rms.Len(); r++ {
		rm := rms.At(r)
		for s := 0; s < rm.ScopeMetrics().Len(); s++ {
			sm := rm.ScopeMetrics().At(s)
			for i := 0; i < sm.Metrics().Len(); i++ {
				m := sm.Metrics().At(i)
				head := func() {
					d.kvPdata("res", rm.Resource().Attributes())
					d.f("resDropped", rm.Resource().DroppedAttributesCount())
					d.f("resSchema", rm.SchemaUrl())
					d.f("scope", sm.Scope().Name())
					d.f("ver", sm.Scope().Version())
					d.kvPdata("scopeAttrs", sm.Scope().Attributes())
					d.f("scopeDropped", sm.Scope().DroppedAttributesCount())
					d.f("scopeSchema", sm.SchemaUrl())
					d.f("name", m.Name())
					d.f("desc", m.Description())
					d.f("unit", m.Unit())
					d.kvPdata("meta", m.Metadata())
					d.f("type", uint32(m.Type()))
				}
				point := func(attrs pcommon.Map, start, ts pcommon.Timestamp, flags pmetric.DataPointFlags) {
					head()
					d.kvPdata("attrs", attrs)
					d.f("start", uint64(start))
					d.f("time", uint64(ts))
					d.f("flags", uint32(flags))
				}
				exemplars := func(es pmetric.ExemplarSlice) {
					for j := 0; j < es.Len(); j++ {
						e := es.At(j)
						tid, sid := e.TraceID(), e.SpanID()
						d.f("exTime", uint64(e.Timestamp()))
						d.f("exType", uint32(e.ValueType()))
						d.f("exInt", uint64(e.IntValue()))
						d.float("exDouble", e.DoubleValue())
						d.f("exTrace", tid[:])
						d.f("exSpan", sid[:])
						d.kvPdata("exAttrs", e.FilteredAttributes())
					}
					d.b.WriteString("\n")
				}
				number := func(p pmetric.NumberDataPoint) {
					point(p.Attributes(), p.StartTimestamp(), p.Timestamp(), p.Flags())
					d.f("vt", uint32(p.ValueType()))
					d.f("int", uint64(p.IntValue()))
					d.float("double", p.DoubleValue())
					exemplars(p.Exemplars())
				}
				switch m.Type() {
				case pmetric.MetricTypeEmpty:
					head()
					d.b.WriteString("\n")
				case pmetric.MetricTypeGauge:
					for j := 0; j < m.Gauge().DataPoints().Len(); j++ {
						number(m.Gauge().DataPoints().At(j))
					}
				case pmetric.MetricTypeSum:
					for j := 0; j < m.Sum().DataPoints().Len(); j++ {
						d.f("temp", int32(m.Sum().AggregationTemporality()))
						d.boolean("mono", m.Sum().IsMonotonic())
						number(m.Sum().DataPoints().At(j))
					}
				case pmetric.MetricTypeHistogram:
					for j := 0; j < m.Histogram().DataPoints().Len(); j++ {
						p := m.Histogram().DataPoints().At(j)
						d.f("temp", int32(m.Histogram().AggregationTemporality()))
						point(p.Attributes(), p.StartTimestamp(), p.Timestamp(), p.Flags())
						d.f("count", p.Count())
						d.float("sum", p.Sum())
						d.boolean("hasSum", p.HasSum())
						d.float("min", p.Min())
						d.boolean("hasMin", p.HasMin())
						d.float("max", p.Max())
						d.boolean("hasMax", p.HasMax())
						d.u64s("buckets", p.BucketCounts().AsRaw())
						d.f64s("bounds", p.ExplicitBounds().AsRaw())
						exemplars(p.Exemplars())
					}
				case pmetric.MetricTypeExponentialHistogram:
					for j := 0; j < m.ExponentialHistogram().DataPoints().Len(); j++ {
						p := m.ExponentialHistogram().DataPoints().At(j)
						d.f("temp", int32(m.ExponentialHistogram().AggregationTemporality()))
						point(p.Attributes(), p.StartTimestamp(), p.Timestamp(), p.Flags())
						d.f("count", p.Count())
						d.float("sum", p.Sum())
						d.boolean("hasSum", p.HasSum())
						d.float("min", p.Min())
						d.boolean("hasMin", p.HasMin())
						d.float("max", p.Max())
						d.boolean("hasMax", p.HasMax())
						d.f("scale", p.Scale())
						d.f("zero", p.ZeroCount())
						d.float("zeroThr", p.ZeroThreshold())
						d.f("posOff", p.Positive().Offset())
						d.u64s("pos", p.Positive().BucketCounts().AsRaw())
						d.f("negOff", p.Negative().Offset())
						d.u64s("neg", p.Negative().BucketCounts().AsRaw())
						exemplars(p.Exemplars())
					}
				case pmetric.MetricTypeSummary:
					for j := 0; j < m.Summary().DataPoints().Len(); j++ {
						p := m.Summary().DataPoints().At(j)
						point(p.Attributes(), p.StartTimestamp(), p.Timestamp(), p.Flags())
						d.f("count", p.Count())
						d.float("sum", p.Sum())
						for k := 0; k < p.QuantileValues().Len(); k++ {
							d.float("q", p.QuantileValues().At(k).Quantile())
							d.float("v", p.QuantileValues().At(k).Value())
						}
						d.b.WriteString("\n")
					}
				}
			}
		}
	}
	return d.b.String()
}

func dumpMetricsWire(req []byte) (string, error) {
	var d dump
	var r Metrics
	r.Reset(req)
	for r.NextResource() {
		for r.NextScope() {
			for r.NextMetric() {
				d.metricWire(r.Resource(), r.Scope(), r.Metric(), func(yield func(*Point) bool) {
					for r.NextPoint() {
						if !yield(r.Point()) {
							return
						}
					}
				})
			}
		}
	}
	return d.b.String(), r.Err()
}

// dumpMetricsBatch is dumpMetricsWire of a request read whole.
func dumpMetricsBatch(mb *MetricsBatch) string {
	var d dump
	for _, res := range mb.Resources {
		for _, sc := range mb.Scopes[res.First:res.End] {
			for _, m := range mb.Metrics[sc.First:sc.End] {
				d.metricWire(&res.Resource, &sc.Scope, &m.Metric, func(yield func(*Point) bool) {
					for i := m.First; i < m.End; i++ {
						if !yield(&mb.Points[i]) {
							return
						}
					}
				})
			}
		}
	}
	return d.b.String()
}

// metricWire dumps one metric and its points.
func (d *dump) metricWire(res *Resource, sc *Scope, m *Metric, points iter.Seq[*Point]) {
	head := func() {
		d.resourceScope(res, sc)
		d.f("name", string(m.Name))
		d.f("desc", string(m.Description))
		d.f("unit", string(m.Unit))
		d.kvWire("meta", m.Metadata)
		d.f("type", uint32(m.Type))
	}
	if m.Type == MetricEmpty {
		head()
		d.b.WriteString("\n")
	}
	for p := range points {
		if m.Type != MetricGauge && m.Type != MetricSummary {
			d.f("temp", m.Temporality)
		}
		if m.Type == MetricSum {
			d.boolean("mono", m.Monotonic)
		}
		head()
		d.kvWire("attrs", p.Attrs)
		d.f("start", p.Start)
		d.f("time", p.Time)
		d.f("flags", p.Flags)
		switch m.Type {
		case MetricGauge, MetricSum:
			d.f("vt", uint32(p.ValueType))
			d.f("int", uint64(p.Int))
			d.float("double", p.Double)
		case MetricHistogram, MetricExponentialHistogram:
			d.f("count", p.Count)
			d.float("sum", p.Sum)
			d.boolean("hasSum", p.HasSum)
			d.float("min", p.Min)
			d.boolean("hasMin", p.HasMin)
			d.float("max", p.Max)
			d.boolean("hasMax", p.HasMax)
			if m.Type == MetricHistogram {
				d.u64s("buckets", p.BucketCounts)
				d.f64s("bounds", p.ExplicitBounds)
			} else {
				d.f("scale", p.Scale)
				d.f("zero", p.ZeroCount)
				d.float("zeroThr", p.ZeroThreshold)
				d.f("posOff", p.PositiveOffset)
				d.u64s("pos", p.PositiveBucketCounts)
				d.f("negOff", p.NegativeOffset)
				d.u64s("neg", p.NegativeBucketCounts)
			}
		case MetricSummary:
			d.f("count", p.Count)
			d.float("sum", p.Sum)
			for _, q := range p.Quantiles {
				d.float("q", q.Quantile)
				d.float("v", q.Value)
			}
		}
		for _, e := range p.Exemplars {
			d.f("exTime", e.Time)
			d.f("exType", uint32(e.ValueType))
			d.f("exInt", uint64(e.Int))
			d.float("exDouble", e.Double)
			d.f("exTrace", e.TraceID[:])
			d.f("exSpan", e.SpanID[:])
			d.kvWire("exAttrs", e.Attrs)
		}
		d.b.WriteString("\n")
	}
}

// TestMetrics_SameAsPdata: random requests (the five types, exemplars, NaN and infinities,
// histograms without buckets, empty and 200-attribute sets) read by both decoders give the
// same points; so does a batch reading each whole, reused from request to request (its
// arenas hold the last request's views).
func TestMetrics_SameAsPdata(t *testing.T) {
	var mb MetricsBatch
	for seed := uint64(0); seed < 300; seed++ {
		g := otlpgen.New(seed)
		if seed%10 != 0 {
			g.Big = 300
		}
		md := g.Metrics(3, 3, 6)
		req, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
		require.NoError(t, err)
		got, err := dumpMetricsWire(req)
		require.NoError(t, err, "seed %d", seed)
		require.Equal(t, dumpMetricsPdata(md), got, "seed %d", seed)
		bst, err := mb.Read(req)
		require.NoError(t, err, "seed %d", seed)
		require.True(t, mb.Whole)
		require.Equal(t, md.DataPointCount(), bst.Points)
		require.Equal(t, got, dumpMetricsBatch(&mb), "seed %d", seed)
		var r Metrics
		st, err := CheckMetrics(&r, req)
		require.NoError(t, err)
		require.Equal(t, md.DataPointCount(), st.Points)
	}
}

// FuzzMetrics holds the reader to pdata on arbitrary bytes: both decode a request the same or
// both refuse it. Never a panic.
func FuzzMetrics(f *testing.F) {
	for seed := uint64(0); seed < 8; seed++ {
		g := otlpgen.New(seed)
		g.Big = 40
		req, err := pmetricotlp.NewExportRequestFromMetrics(g.Metrics(2, 2, 4)).MarshalProto()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(req)
	}
	f.Fuzz(func(t *testing.T, req []byte) {
		pd := pmetricotlp.NewExportRequest()
		perr := pd.UnmarshalProto(req)
		got, werr := dumpMetricsWire(req)
		switch {
		case perr == nil && werr == nil:
			if want := dumpMetricsPdata(pd.Metrics()); got != want {
				t.Fatalf("decoded differently:\npdata:\n%s\nwire:\n%s", want, got)
			}
		case perr == nil:
			t.Fatalf("pdata decodes the request, the reader refuses it: %v", werr)
		case werr == nil:
			t.Fatalf("the reader decodes a request pdata refuses: %v", perr)
		}
		// A request read whole gives what the reader gives, and the same error.
		var mb MetricsBatch
		st, berr := mb.Read(req)
		if fmt.Sprint(berr) != fmt.Sprint(werr) {
			t.Fatalf("MetricsBatch.Read: %v, the reader: %v", berr, werr)
		}
		if werr == nil && mb.Whole {
			if b := dumpMetricsBatch(&mb); b != got {
				t.Fatalf("read whole differently:\nreader:\n%s\nbatch:\n%s", got, b)
			}
		}
		if cst, _ := CheckMetrics(new(Metrics), req); cst != st {
			t.Fatalf("MetricsBatch.Read counts %+v, CheckMetrics %+v", st, cst)
		}
	})
}

// Packed and unpacked repeated fields, and the oneof rules, as pdata reads them.
func TestMetrics_WireForms(t *testing.T) {
	fixed := func(b []byte, num protowire.Number, v uint64) []byte {
		b = protowire.AppendTag(b, num, protowire.Fixed64Type)
		return protowire.AppendFixed64(b, v)
	}
	msg := func(b []byte, num protowire.Number, m []byte) []byte {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendBytes(b, m)
	}
	var packed []byte
	for _, v := range []uint64{5, 6} {
		packed = protowire.AppendFixed64(packed, v)
	}
	// A histogram point: buckets 1, 2 unpacked, then packed 5, 6 (replaces), then 7 (appends).
	var hp []byte
	hp = fixed(hp, fHistBuckets, 1)
	hp = fixed(hp, fHistBuckets, 2)
	hp = msg(hp, fHistBuckets, packed)
	hp = fixed(hp, fHistBuckets, 7)
	// Exponential histogram buckets given twice merge.
	var pos1, pos2 []byte
	pos1 = protowire.AppendTag(pos1, fBucketsOffset, protowire.VarintType)
	pos1 = protowire.AppendVarint(pos1, protowire.EncodeZigZag(-3))
	pos1 = protowire.AppendTag(pos1, fBucketsCounts, protowire.VarintType)
	pos1 = protowire.AppendVarint(pos1, 9)
	pos2 = msg(pos2, fBucketsCounts, protowire.AppendVarint(protowire.AppendVarint(nil, 10), 11))
	var ep []byte
	ep = msg(ep, fExpPositive, pos1)
	ep = msg(ep, fExpPositive, pos2)

	metric := func(name string, num protowire.Number, point []byte) []byte {
		var data, m []byte
		data = msg(data, fDataPoints, point)
		m = msg(m, fMetricName, []byte(name))
		m = msg(m, fMetricGauge, msg(nil, fDataPoints, nil)) // replaced by the next data field
		return msg(m, num, data)
	}
	var sm, rm, req []byte
	sm = msg(sm, fSMMetrics, metric("h", fMetricHistogram, hp))
	sm = msg(sm, fSMMetrics, metric("e", fMetricExpHist, ep))
	rm = msg(rm, fRMScopeMetrics, sm)
	req = msg(req, fMetricsResourceMetrics, rm)

	pd := pmetricotlp.NewExportRequest()
	require.NoError(t, pd.UnmarshalProto(req))
	got, err := dumpMetricsWire(req)
	require.NoError(t, err)
	assert.Equal(t, dumpMetricsPdata(pd.Metrics()), got)
	assert.Contains(t, got, "buckets=[5,6,7,]")
	assert.Contains(t, got, "posOff=-3 pos=[9,10,11,]")
}

func TestMetrics_Errors(t *testing.T) {
	var r Metrics
	// A metric whose exemplar has a 3-byte trace ID: pdata refuses the request, so does the
	// reader, saying where.
	ex := protowire.AppendBytes(protowire.AppendTag(nil, fExemplarTraceID, protowire.BytesType), []byte{1, 2, 3})
	point := protowire.AppendBytes(protowire.AppendTag(nil, fNumberExemplars, protowire.BytesType), ex)
	gauge := protowire.AppendBytes(protowire.AppendTag(nil, fDataPoints, protowire.BytesType), point)
	m := protowire.AppendBytes(protowire.AppendTag(nil, fMetricGauge, protowire.BytesType), gauge)
	sm := protowire.AppendBytes(protowire.AppendTag(nil, fSMMetrics, protowire.BytesType), m)
	rm := protowire.AppendBytes(protowire.AppendTag(nil, fRMScopeMetrics, protowire.BytesType), sm)
	req := protowire.AppendBytes(protowire.AppendTag(nil, fMetricsResourceMetrics, protowire.BytesType), rm)
	_, err := CheckMetrics(&r, req)
	var we *Error
	require.True(t, errors.As(err, &we), "%v", err)
	assert.Equal(t, "Exemplar", we.Msg)
	assert.ErrorIs(t, err, errTraceIDSize)
	assert.Error(t, pmetricotlp.NewExportRequest().UnmarshalProto(req))

	_, err = CheckMetrics(&r, []byte{0x0a, 0x05, 0x12})
	assert.True(t, strings.HasPrefix(err.Error(), "otlp: "), "%v", err)
}

// TestMetricsBatch_TooManyPoints: past MaxBatchPoints the batch keeps nothing but still checks
// the request to its end, as CheckMetrics does.
func TestMetricsBatch_TooManyPoints(t *testing.T) {
	md := pmetric.NewMetrics()
	g := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge()
	for i := 0; i <= MaxBatchPoints; i++ {
		g.DataPoints().AppendEmpty().SetIntValue(int64(i))
	}
	req, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)
	var mb MetricsBatch
	st, err := mb.Read(req)
	require.NoError(t, err)
	require.False(t, mb.Whole)
	require.Empty(t, mb.Points)
	require.Equal(t, MaxBatchPoints+1, st.Points)

	// A bad point after the bound still refuses the request, with the reader's error.
	bad := protowire.AppendTag(nil, 1, protowire.BytesType) // ResourceMetrics, truncated
	bad = append(req, bad...)
	_, werr := CheckMetrics(new(Metrics), bad)
	require.Error(t, werr)
	_, err = mb.Read(bad)
	require.EqualError(t, err, werr.Error())
	require.False(t, mb.Whole)

	// MaxBatchPoints points are kept.
	g.DataPoints().RemoveIf(func(p pmetric.NumberDataPoint) bool { return p.IntValue() == MaxBatchPoints })
	req, err = pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)
	st, err = mb.Read(req)
	require.NoError(t, err)
	require.True(t, mb.Whole)
	require.Len(t, mb.Points, MaxBatchPoints)
	require.Equal(t, MaxBatchPoints, st.Points)

	// And the batch takes a request within the bound again.
	g.DataPoints().RemoveIf(func(p pmetric.NumberDataPoint) bool { return p.IntValue() >= 10 })
	req, err = pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)
	st, err = mb.Read(req)
	require.NoError(t, err)
	require.True(t, mb.Whole)
	require.Len(t, mb.Points, 10)
	require.Equal(t, 10, st.Points)
}

// TestMetricsBatch_TooLarge: a request of tiny messages (empty metrics, empty attributes)
// could make a batch hundreds of times its size; past MaxBatchBytes the batch gives up
// keeping it, reads it to the end as CheckMetrics does, and stays small.
func TestMetricsBatch_TooLarge(t *testing.T) {
	manyMetrics := pmetric.NewMetrics()
	sm := manyMetrics.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	for range 200_000 {
		sm.Metrics().AppendEmpty()
	}
	manyAttrs := pmetric.NewMetrics()
	p := manyAttrs.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty()
	raw := make(map[string]any, 100_000)
	for i := range 100_000 {
		raw[strconv.Itoa(i)] = ""
	}
	require.NoError(t, p.Attributes().FromRaw(raw)) // PutStr would look for each key first
	small := pmetric.NewMetrics()
	small.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)

	var mb MetricsBatch
	for _, c := range []struct {
		name   string
		md     pmetric.Metrics
		points int
	}{{"200,000 empty metrics", manyMetrics, 0}, {"a point of 100,000 attributes", manyAttrs, 1}} {
		req, err := pmetricotlp.NewExportRequestFromMetrics(c.md).MarshalProto()
		require.NoError(t, err)
		st, err := mb.Read(req)
		require.NoError(t, err, c.name)
		assert.False(t, mb.Whole, c.name)
		assert.Equal(t, c.points, st.Points, c.name)
		assert.LessOrEqual(t, mb.Footprint(), 4*MaxBatchBytes, c.name)
	}
	req, err := pmetricotlp.NewExportRequestFromMetrics(small).MarshalProto()
	require.NoError(t, err)
	st, err := mb.Read(req)
	require.NoError(t, err)
	assert.True(t, mb.Whole)
	assert.Equal(t, 1, st.Points)
}

// HashKVs, the wire path's series hash of an attribute set, equals anyvalue.HashMap, the
// pdata path's, for every value type: stored SeriesHash values must not depend on the path.
func TestHashKVs_SameAsHashMap(t *testing.T) {
	var h model.Hasher
	var scratch, pscratch []byte
	for seed := uint64(0); seed < 100; seed++ {
		g := otlpgen.New(seed)
		g.Big = 100
		md := g.Metrics(2, 2, 6)
		req, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
		require.NoError(t, err)
		var want []uint64
		for _, rm := range md.ResourceMetrics().All() {
			sum, _ := anyvalue.HashMap(&h, rm.Resource().Attributes(), nil)
			want = append(want, sum)
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					for _, attrs := range pointAttrs(m) {
						sum, pscratch = anyvalue.HashMap(&h, attrs, pscratch)
						want = append(want, sum)
					}
				}
			}
		}
		var got []uint64
		var r Metrics
		r.Reset(req)
		for r.NextResource() {
			var sum uint64
			sum, scratch = HashKVs(r.Resource().Attrs, scratch)
			got = append(got, sum)
			for r.NextScope() {
				for r.NextMetric() {
					for r.NextPoint() {
						sum, scratch = HashKVs(r.Point().Attrs, scratch)
						got = append(got, sum)
					}
				}
			}
		}
		require.NoError(t, r.Err())
		require.Equal(t, want, got, "seed %d", seed)
	}
}

// pointAttrs is the attributes of m's points, in order.
func pointAttrs(m pmetric.Metric) []pcommon.Map {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return attrsOf(m.Gauge().DataPoints().All())
	case pmetric.MetricTypeSum:
		return attrsOf(m.Sum().DataPoints().All())
	case pmetric.MetricTypeHistogram:
		return attrsOf(m.Histogram().DataPoints().All())
	case pmetric.MetricTypeExponentialHistogram:
		return attrsOf(m.ExponentialHistogram().DataPoints().All())
	case pmetric.MetricTypeSummary:
		return attrsOf(m.Summary().DataPoints().All())
	}
	return nil
}

func attrsOf[P interface{ Attributes() pcommon.Map }](points iter.Seq2[int, P]) []pcommon.Map {
	var out []pcommon.Map
	for _, p := range points {
		out = append(out, p.Attributes())
	}
	return out
}
