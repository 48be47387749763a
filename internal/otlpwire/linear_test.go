package otlpwire

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/protobuf/encoding/protowire"
)

// The readers must take time linear in the request, whatever its shape: a request is read
// before anything tells whether its sender is to be trusted. These tests build the shapes
// that once took time quadratic in some count (seconds for a request under 1 MB) and hold
// the readers to a bound far above what linear reading takes, and to pdata's reading of the
// same bytes.

// hostileEntries is how many entries the hostile requests repeat: with the quadratic readers
// they took 5 to 30 s; read linearly, a few milliseconds.
const hostileEntries = 160_000

// hostileBudget bounds the reading of one hostile request: generous, for slow and loaded
// machines and the race detector.
const hostileBudget = 2 * time.Second

// wmsg appends field n of b holding message m.
func wmsg(b []byte, n protowire.Number, m []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, n, protowire.BytesType), m)
}

// scopesReq is one ResourceSpans (ResourceMetrics: the field numbers are the same) holding
// the entries of order, in order: 2 for a scope_spans (scope_metrics), 1000 for a deprecated
// instrumentation_library_spans (…_metrics), each holding scope.
func scopesReq(order []protowire.Number, scope []byte) []byte {
	var rs []byte
	for _, n := range order {
		rs = wmsg(rs, n, scope)
	}
	return wmsg(nil, 1, rs)
}

// repeatNum is n times num.
func repeatNum(num protowire.Number, n int) []protowire.Number {
	s := make([]protowire.Number, n)
	for i := range s {
		s[i] = num
	}
	return s
}

// hostileScopeShapes are the orders of a ResourceSpans' scope fields the scope tests read:
// the reported one (every deprecated entry first, then every scope_spans) and its variants.
func hostileScopeShapes() map[string][]protowire.Number {
	n := hostileEntries
	alternate := make([]protowire.Number, 0, 2*n)
	for i := 0; i < n; i++ {
		alternate = append(alternate, 1000, 2)
	}
	return map[string][]protowire.Number{
		"deprecated then scopes": append(repeatNum(1000, n), repeatNum(2, n)...),
		"scopes then deprecated": append(repeatNum(2, n), repeatNum(1000, n)...),
		"alternating":            alternate,
		"deprecated only":        repeatNum(1000, n),
		"scopes only":            repeatNum(2, n),
	}
}

// scopeReader is what Traces and Metrics share for walking a request's scopes.
type scopeReader interface {
	Reset(req []byte)
	NextResource() bool
	NextScope() bool
	Err() error
}

// countScopes reads req's scopes with r within hostileBudget and returns how many there are.
func countScopes(t *testing.T, r scopeReader, req []byte) int {
	t.Helper()
	scopes := 0
	start := time.Now()
	r.Reset(req)
	for r.NextResource() {
		for r.NextScope() {
			scopes++
		}
	}
	took := time.Since(start)
	require.NoError(t, r.Err())
	assert.Less(t, took, hostileBudget, "reading %d bytes", len(req))
	return scopes
}

// TestTraces_ManyScopesLinear: a ResourceSpans with many scope_spans and many deprecated
// entries is read in linear time, and gives the scopes pdata gives.
func TestTraces_ManyScopesLinear(t *testing.T) {
	for name, order := range hostileScopeShapes() {
		t.Run(name, func(t *testing.T) {
			req := scopesReq(order, nil)
			var r Traces
			start := time.Now()
			st, err := CheckTraces(&r, req)
			took := time.Since(start)
			require.NoError(t, err)
			t.Logf("CheckTraces: %d bytes in %v", len(req), took)
			assert.Less(t, took, hostileBudget, "CheckTraces of %d bytes", len(req))

			scopes := countScopes(t, &r, req)

			pd := ptraceotlp.NewExportRequest()
			require.NoError(t, pd.UnmarshalProto(req))
			rss := pd.Traces().ResourceSpans()
			require.Equal(t, 1, rss.Len())
			assert.Equal(t, rss.At(0).ScopeSpans().Len(), scopes)
			assert.Equal(t, hostileEntries, scopes)
			assert.Equal(t, pd.Traces().SpanCount(), st.Spans)
		})
	}
}

// TestMetrics_ManyScopesLinear is TestTraces_ManyScopesLinear for a ResourceMetrics.
func TestMetrics_ManyScopesLinear(t *testing.T) {
	for name, order := range hostileScopeShapes() {
		t.Run(name, func(t *testing.T) {
			req := scopesReq(order, nil)
			var r Metrics
			start := time.Now()
			st, err := CheckMetrics(&r, req)
			took := time.Since(start)
			require.NoError(t, err)
			t.Logf("CheckMetrics: %d bytes in %v", len(req), took)
			assert.Less(t, took, hostileBudget, "CheckMetrics of %d bytes", len(req))

			scopes := countScopes(t, &r, req)

			pd := pmetricotlp.NewExportRequest()
			require.NoError(t, pd.UnmarshalProto(req))
			rms := pd.Metrics().ResourceMetrics()
			require.Equal(t, 1, rms.Len())
			assert.Equal(t, rms.At(0).ScopeMetrics().Len(), scopes)
			assert.Equal(t, hostileEntries, scopes)
			assert.Equal(t, pd.Metrics().DataPointCount(), st.Points)
		})
	}
}

// TestScopes_DeprecatedField: which scopes are read, and in which order, when scope_spans
// (scope_metrics) and the deprecated field 1000 are mixed: as pdata reads them, field 2's in
// their order when there are any, else field 1000's. Every scope is told apart by its name
// and carries a span (a metric) for the dumps to show it.
func TestScopes_DeprecatedField(t *testing.T) {
	orders := map[string][]protowire.Number{
		"mixed, deprecated first": {1000, 2, 1000, 2, 1000},
		"mixed, scopes first":     {2, 1000, 2, 1000},
		"deprecated only":         {1000, 1000, 1000},
		"scopes only":             {2, 2},
		"one deprecated":          {1000},
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			var traces, metrics []byte
			var rsT, rsM []byte
			for i, n := range order {
				scope := wmsg(nil, fScopeName, []byte("scope"+strconv.Itoa(i)+"-field"+strconv.Itoa(int(n))))
				span := wmsg(nil, fSpanName, []byte("span"+strconv.Itoa(i)))
				rsT = wmsg(rsT, n, wmsg(wmsg(nil, fSSScope, scope), fSSSpans, span))
				metric := wmsg(wmsg(nil, fMetricName, []byte("m"+strconv.Itoa(i))), fMetricGauge,
					wmsg(nil, fDataPoints, nil))
				rsM = wmsg(rsM, n, wmsg(wmsg(nil, fSMScope, scope), fSMMetrics, metric))
			}
			traces = wmsg(nil, fTracesResourceSpans, rsT)
			metrics = wmsg(nil, fMetricsResourceMetrics, rsM)

			pt := ptraceotlp.NewExportRequest()
			require.NoError(t, pt.UnmarshalProto(traces))
			got, err := dumpWire(t, traces)
			require.NoError(t, err)
			want := dumpPdata(pt.Traces())
			assert.Equal(t, want, got)
			assert.NotEmpty(t, got)

			pm := pmetricotlp.NewExportRequest()
			require.NoError(t, pm.UnmarshalProto(metrics))
			got, err = dumpMetricsWire(metrics)
			require.NoError(t, err)
			want = dumpMetricsPdata(pm.Metrics())
			assert.Equal(t, want, got)
			assert.NotEmpty(t, got)
		})
	}
}

// pointReq is a request of one metric of type num (gauge, histogram or exponential
// histogram) with one point holding point's fields.
func pointReq(num protowire.Number, point []byte) []byte {
	m := wmsg(wmsg(nil, fMetricName, []byte("m")), num, wmsg(nil, fDataPoints, point))
	return wmsg(nil, fMetricsResourceMetrics, wmsg(nil, fRMScopeMetrics, wmsg(nil, fSMMetrics, m)))
}

// exemplarField is the field of a point of a metric type that holds its exemplars.
var exemplarField = map[protowire.Number]protowire.Number{
	fMetricGauge:     fNumberExemplars,
	fMetricSum:       fNumberExemplars,
	fMetricHistogram: fHistExemplars,
	fMetricExpHist:   fExpExemplars,
}

var metricTypeName = map[protowire.Number]string{
	fMetricGauge: "gauge", fMetricSum: "sum", fMetricHistogram: "histogram", fMetricExpHist: "exponential histogram",
}

// pdataExemplars is how many exemplars pdata reads in the first point of md's first metric.
func pdataExemplars(t *testing.T, md pmetric.Metrics) int {
	m := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0)
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().At(0).Exemplars().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().At(0).Exemplars().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().At(0).Exemplars().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().At(0).Exemplars().Len()
	}
	t.Fatalf("metric type %v", m.Type())
	return 0
}

// TestMetrics_ManyExemplarsLinear: a point with many exemplars is read in linear time, and
// gives the exemplars pdata gives.
func TestMetrics_ManyExemplarsLinear(t *testing.T) {
	for _, num := range []protowire.Number{fMetricGauge, fMetricSum, fMetricHistogram, fMetricExpHist} {
		t.Run(metricTypeName[num], func(t *testing.T) {
			var point []byte
			for i := 0; i < hostileEntries; i++ {
				point = wmsg(point, exemplarField[num], nil)
			}
			req := pointReq(num, point)
			var r Metrics
			start := time.Now()
			st, err := CheckMetrics(&r, req)
			took := time.Since(start)
			require.NoError(t, err)
			t.Logf("CheckMetrics: %d bytes in %v", len(req), took)
			assert.Less(t, took, hostileBudget, "CheckMetrics of %d bytes", len(req))

			pd := pmetricotlp.NewExportRequest()
			require.NoError(t, pd.UnmarshalProto(req))
			assert.Equal(t, pd.Metrics().DataPointCount(), st.Points)
			assert.Equal(t, 1, st.Points)
			want := pdataExemplars(t, pd.Metrics())
			assert.Equal(t, hostileEntries, want)

			// The reader left on the point checked: its exemplars are all there.
			assert.Len(t, r.Point().Exemplars, want)
		})
	}
}

// TestMetrics_ExemplarAttrsView: however ExemplarAttrs grew while a point's exemplars were
// read (moving it), every exemplar's Attrs is its own attributes, viewed in the point's
// final ExemplarAttrs, as pdata reads them.
func TestMetrics_ExemplarAttrsView(t *testing.T) {
	kv := func(k string, v int) []byte {
		val := protowire.AppendVarint(protowire.AppendTag(nil, fAnyInt, protowire.VarintType), uint64(v))
		return wmsg(wmsg(nil, fKVKey, []byte(k)), fKVValue, val)
	}
	const n = 300
	var point []byte
	for i := 0; i < n; i++ {
		var ex []byte
		ex = protowire.AppendFixed64(protowire.AppendTag(ex, fExemplarInt, protowire.Fixed64Type), uint64(i))
		for a := 0; a < i%5; a++ { // 0 to 4 attributes, runs of empty ones
			ex = wmsg(ex, fExemplarAttrs, kv("k"+strconv.Itoa(a), i))
		}
		point = wmsg(point, fNumberExemplars, ex)
	}
	req := pointReq(fMetricGauge, point)

	pd := pmetricotlp.NewExportRequest()
	require.NoError(t, pd.UnmarshalProto(req))
	got, err := dumpMetricsWire(req)
	require.NoError(t, err)
	assert.Equal(t, dumpMetricsPdata(pd.Metrics()), got)

	var r Metrics
	r.Reset(req)
	require.True(t, r.NextResource())
	require.True(t, r.NextScope())
	require.True(t, r.NextMetric())
	require.True(t, r.NextPoint())
	p := r.Point()
	require.Len(t, p.Exemplars, n)
	at := 0
	for i := range p.Exemplars {
		ex := &p.Exemplars[i]
		require.Equal(t, int64(i), ex.Int)
		require.Len(t, ex.Attrs, i%5)
		for a := range ex.Attrs {
			require.Equal(t, "k"+strconv.Itoa(a), string(ex.Attrs[a].Key))
			require.Equal(t, int64(i), ex.Attrs[a].Value.Int())
			require.Same(t, &p.ExemplarAttrs[at+a], &ex.Attrs[a], "exemplar %d views ExemplarAttrs", i)
		}
		at += len(ex.Attrs)
	}
	require.Equal(t, len(p.ExemplarAttrs), at)
	require.NoError(t, r.Err())
}

// TestReaders_HostileInputsDoNotAllocate: once its buffers have grown, a reader reads the
// hostile shapes without allocating, as it reads any request.
func TestReaders_HostileInputsDoNotAllocate(t *testing.T) {
	const n = 2000
	scopes := scopesReq(append(repeatNum(1000, n), repeatNum(2, n)...), nil)
	var point []byte
	for i := 0; i < n; i++ {
		attr := wmsg(wmsg(nil, fKVKey, []byte("k")), fKVValue, wmsg(nil, fAnyString, []byte("v")))
		point = wmsg(point, fNumberExemplars, wmsg(nil, fExemplarAttrs, attr))
		point = wmsg(point, fNumberExemplars, nil)
	}
	exemplars := pointReq(fMetricGauge, point)

	var tr Traces
	var mr Metrics
	_, _ = CheckTraces(&tr, scopes)
	_, _ = CheckMetrics(&mr, scopes)
	_, _ = CheckMetrics(&mr, exemplars)
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := CheckTraces(&tr, scopes); err != nil {
			t.Fatal(err)
		}
		if _, err := CheckMetrics(&mr, scopes); err != nil {
			t.Fatal(err)
		}
		if _, err := CheckMetrics(&mr, exemplars); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

// metricsBenchRequest is 512 points of 128 metrics (gauges and histograms) with two
// attributes and two exemplars each (one of them with an attribute): a request of the shape
// weir is sent, to see the cost per point.
func metricsBenchRequest(tb testing.TB) ([]byte, int) {
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("bench")
	for i := 0; i < 128; i++ {
		m := sm.Metrics().AppendEmpty()
		m.SetName("metric." + strconv.Itoa(i))
		for j := 0; j < 4; j++ {
			var attrs pcommon.Map
			var exs pmetric.ExemplarSlice
			if i%2 == 0 {
				if j == 0 {
					m.SetEmptyGauge()
				}
				p := m.Gauge().DataPoints().AppendEmpty()
				p.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + i))
				p.SetDoubleValue(float64(i * j))
				attrs, exs = p.Attributes(), p.Exemplars()
			} else {
				if j == 0 {
					m.SetEmptyHistogram()
				}
				p := m.Histogram().DataPoints().AppendEmpty()
				p.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + i))
				p.SetCount(10)
				p.SetSum(55)
				p.BucketCounts().FromRaw([]uint64{1, 2, 3, 4})
				p.ExplicitBounds().FromRaw([]float64{1, 5, 10})
				attrs, exs = p.Attributes(), p.Exemplars()
			}
			attrs.PutStr("host.name", "host-"+strconv.Itoa(j))
			attrs.PutInt("shard", int64(j))
			for k := 0; k < 2; k++ {
				e := exs.AppendEmpty()
				e.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + k))
				e.SetDoubleValue(1.5)
				e.SetTraceID(pcommon.TraceID{1, byte(i), byte(j)})
				e.SetSpanID(pcommon.SpanID{2, byte(k)})
				if k == 0 {
					e.FilteredAttributes().PutStr("user", "u"+strconv.Itoa(i))
				}
			}
		}
	}
	req, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(tb, err)
	return req, md.DataPointCount()
}

func BenchmarkCheckMetrics(b *testing.B) {
	req, points := metricsBenchRequest(b)
	var r Metrics
	_, err := CheckMetrics(&r, req)
	require.NoError(b, err)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_, _ = CheckMetrics(&r, req)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*points), "ns/point")
}
