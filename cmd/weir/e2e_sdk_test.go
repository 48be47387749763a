package main

import (
	"context"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestSDK_TracesAndMetrics sends through the real OpenTelemetry Go SDK exporters, over
// gRPC and over HTTP, and checks what ClickHouse holds against what the SDK recorded.
func TestSDK_TracesAndMetrics(t *testing.T) {
	t.Parallel()
	w := startWeir(t, weirOptions{})
	for _, proto := range []string{"grpc", "http"} {
		t.Run(proto, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			service := "sdk-" + proto
			res := resource.NewSchemaless(
				attribute.String("service.name", service),
				attribute.StringSlice("host.tags", []string{"a", "b"}),
			)
			var spanExp sdktrace.SpanExporter
			var metricExp sdkmetric.Exporter
			var err error
			if proto == "grpc" {
				spanExp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(w.GRPCAddr), otlptracegrpc.WithInsecure())
				require.NoError(t, err)
				metricExp, err = otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(w.GRPCAddr), otlpmetricgrpc.WithInsecure())
			} else {
				spanExp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(w.HTTPAddr), otlptracehttp.WithInsecure(),
					otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
				require.NoError(t, err)
				metricExp, err = otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(w.HTTPAddr), otlpmetrichttp.WithInsecure())
			}
			require.NoError(t, err)
			recorded := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res),
				sdktrace.WithBatcher(spanExp), sdktrace.WithSpanProcessor(recorded))
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
				sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExp, sdkmetric.WithInterval(time.Hour))),
				sdkmetric.WithExemplarFilter(exemplar.AlwaysOnFilter),
				sdkmetric.WithView(sdkmetric.NewView(sdkmetric.Instrument{Name: "latency.exp"},
					sdkmetric.Stream{Aggregation: sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}})))

			tracer := tp.Tracer("weir.test/sdk", trace.WithInstrumentationVersion("9.9.9"))
			meter := mp.Meter("weir.test/sdk")
			requests, err := meter.Int64Counter("requests")
			require.NoError(t, err)
			latency, err := meter.Float64Histogram("latency", metric.WithExplicitBucketBoundaries(1, 5, 10))
			require.NoError(t, err)
			latencyExp, err := meter.Float64Histogram("latency.exp")
			require.NoError(t, err)
			inflight, err := meter.Int64Gauge("inflight")
			require.NoError(t, err)

			var linkTo trace.SpanContext
			for i := 0; i < 5; i++ {
				opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer),
					trace.WithAttributes(
						attribute.String("http.route", "/pay"),
						attribute.Int("attempt", i),
						attribute.Float64("ratio", 0.25*float64(i)),
						attribute.Bool("retry", i > 2),
						attribute.Int64Slice("ints", []int64{1, int64(i)}),
						attribute.Float64Slice("floats", []float64{0.5}),
						attribute.BoolSlice("bools", []bool{true, false}),
					)}
				if linkTo.IsValid() {
					opts = append(opts, trace.WithLinks(trace.Link{SpanContext: linkTo,
						Attributes: []attribute.KeyValue{attribute.String("why", "follows")}}))
				}
				sctx, span := tracer.Start(ctx, "POST /pay", opts...)
				_, child := tracer.Start(sctx, "SELECT payments", trace.WithSpanKind(trace.SpanKindClient),
					trace.WithAttributes(attribute.String("db.system", "postgresql")))
				child.AddEvent("rows", trace.WithAttributes(attribute.Int("count", 3*i)))
				child.End()
				requests.Add(sctx, 1, metric.WithAttributes(attribute.String("route", "/pay")))
				latency.Record(sctx, float64(i*3), metric.WithAttributes(attribute.String("route", "/pay")))
				latencyExp.Record(sctx, 0.001*float64(i+1))
				inflight.Record(sctx, int64(10+i))
				if i == 4 {
					span.RecordError(errors.New("card declined"))
					span.SetStatus(codes.Error, "card declined")
				}
				linkTo = span.SpanContext()
				span.End()
			}
			require.NoError(t, tp.Shutdown(ctx))
			require.NoError(t, mp.Shutdown(ctx))

			sent := tracetest.SpanStubsFromReadOnlySpans(recorded.Ended())
			require.Len(t, sent, 10)
			spans := w.DB.Table("spans")
			waitForCount(t, w.DB, "SELECT count() FROM "+spans+" WHERE ServiceName = '"+service+"'", 10, 30*time.Second)
			got := readSpans(t, w.DB)
			for _, s := range sent {
				id := s.SpanContext.SpanID()
				td, ok := got[hex.EncodeToString(id[:])]
				require.True(t, ok, "span %s %s not stored", s.Name, id)
				requireSDKSpan(t, s, td)
			}

			// Metrics: the cumulative totals the SDK exported at shutdown.
			db := w.DB
			where := " WHERE ServiceName = '" + service + "'"
			waitForCount(t, db, "SELECT count() FROM "+db.Table("metrics_sum")+where+" AND MetricName = 'requests'", 1, 30*time.Second)
			assert.Equal(t, uint64(5), db.QueryUint64(t, "SELECT toUInt64(IntValue) FROM "+db.Table("metrics_sum")+where+" AND MetricName = 'requests' AND IsMonotonic = 1 AND AggregationTemporality = 2"))
			// Each table's blocks go in INSERTs of their own: wait for the gauge's too.
			waitForCount(t, db, "SELECT count() FROM "+db.Table("metrics_gauge")+where+" AND MetricName = 'inflight'", 1, 30*time.Second)
			assert.Equal(t, uint64(14), db.QueryUint64(t, "SELECT toUInt64(argMax(IntValue, TimeUnixNano)) FROM "+db.Table("metrics_gauge")+where+" AND MetricName = 'inflight'"))
			waitForCount(t, db, "SELECT count() FROM "+db.Table("metrics_histogram")+where, 1, 30*time.Second)
			assert.Equal(t, uint64(5), db.QueryUint64(t, "SELECT Count FROM "+db.Table("metrics_histogram")+where))
			assert.Equal(t, uint64(30), db.QueryUint64(t, "SELECT toUInt64(Sum) FROM "+db.Table("metrics_histogram")+where))
			// 0,3,6,9,12 over bounds 1,5,10: one in (-inf,1], one in (1,5], two in (5,10], one above.
			assert.Equal(t, uint64(1), db.QueryUint64(t, "SELECT toUInt64(BucketCounts = [1,1,2,1] AND ExplicitBounds = [1.,5.,10.]) FROM "+db.Table("metrics_histogram")+where), db.QueryString(t, "SELECT toString(BucketCounts) || toString(ExplicitBounds) FROM "+db.Table("metrics_histogram")+where))
			assert.Equal(t, uint64(5), db.QueryUint64(t, "SELECT toUInt64(length(Exemplars.TraceId) > 0) * 5 FROM "+db.Table("metrics_histogram")+where))
			// Exemplars point at spans that are stored.
			exTraces := "(SELECT arrayJoin(Exemplars.TraceId) AS TraceId FROM " + db.Table("metrics_sum") + where + ")"
			n := db.QueryUint64(t, "SELECT uniqExact(TraceId) FROM "+exTraces)
			assert.NotZero(t, n, "the counter carries exemplars")
			assert.Equal(t, n, db.QueryUint64(t, "SELECT uniqExact(TraceId) FROM "+spans+" WHERE TraceId IN "+exTraces+" AND SpanName = 'POST /pay'"))
			waitForCount(t, db, "SELECT count() FROM "+db.Table("metrics_exponential_histogram")+where, 1, 30*time.Second)
			assert.Equal(t, uint64(5), db.QueryUint64(t, "SELECT Count FROM "+db.Table("metrics_exponential_histogram")+where))
			assert.Equal(t, uint64(5), db.QueryUint64(t, "SELECT toUInt64(arraySum(PositiveBucketCounts) + ZeroCount) FROM "+db.Table("metrics_exponential_histogram")+where))
		})
	}
}

// requireSDKSpan checks every field the SDK recorded against the stored span.
func requireSDKSpan(t *testing.T, s tracetest.SpanStub, td ptrace.Traces) {
	t.Helper()
	rs := td.ResourceSpans().At(0)
	ss := rs.ScopeSpans().At(0)
	sp := ss.Spans().At(0)
	assert.Equal(t, s.Name, sp.Name())
	assert.Equal(t, [16]byte(s.SpanContext.TraceID()), [16]byte(sp.TraceID()))
	assert.Equal(t, [8]byte(s.Parent.SpanID()), [8]byte(sp.ParentSpanID()))
	assert.Equal(t, s.SpanContext.TraceState().String(), sp.TraceState().AsRaw())
	assert.Equal(t, uint64(s.StartTime.UnixNano()), uint64(sp.StartTimestamp()))
	assert.Equal(t, uint64(s.EndTime.UnixNano()), uint64(sp.EndTimestamp()))
	assert.Equal(t, int(s.SpanKind), int(sp.Kind()), "kind")
	wantCode := map[codes.Code]ptrace.StatusCode{codes.Unset: ptrace.StatusCodeUnset, codes.Ok: ptrace.StatusCodeOk, codes.Error: ptrace.StatusCodeError}
	assert.Equal(t, wantCode[s.Status.Code], sp.Status().Code())
	assert.Equal(t, s.Status.Description, sp.Status().Message())
	assert.Equal(t, s.InstrumentationScope.Name, ss.Scope().Name())
	assert.Equal(t, s.InstrumentationScope.Version, ss.Scope().Version())
	assertAttrs(t, s.Attributes, sp.Attributes())
	assertAttrs(t, s.Resource.Attributes(), rs.Resource().Attributes())
	require.Equal(t, len(s.Events), sp.Events().Len())
	for i, ev := range s.Events {
		assert.Equal(t, ev.Name, sp.Events().At(i).Name())
		assert.Equal(t, uint64(ev.Time.UnixNano()), uint64(sp.Events().At(i).Timestamp()))
		assertAttrs(t, ev.Attributes, sp.Events().At(i).Attributes())
	}
	require.Equal(t, len(s.Links), sp.Links().Len())
	for i, l := range s.Links {
		assert.Equal(t, [16]byte(l.SpanContext.TraceID()), [16]byte(sp.Links().At(i).TraceID()))
		assert.Equal(t, [8]byte(l.SpanContext.SpanID()), [8]byte(sp.Links().At(i).SpanID()))
		assertAttrs(t, l.Attributes, sp.Links().At(i).Attributes())
	}
}

// assertAttrs compares SDK attributes with stored ones, type included.
func assertAttrs(t *testing.T, want []attribute.KeyValue, got pcommon.Map) {
	t.Helper()
	require.Equal(t, len(want), got.Len(), "attribute count")
	for _, kv := range want {
		v, ok := got.Get(string(kv.Key))
		require.True(t, ok, "attribute %s missing", kv.Key)
		switch kv.Value.Type() {
		case attribute.STRING:
			assert.Equal(t, kv.Value.AsString(), v.Str(), string(kv.Key))
		case attribute.BOOL:
			assert.Equal(t, kv.Value.AsBool(), v.Bool(), string(kv.Key))
		case attribute.INT64:
			assert.Equal(t, kv.Value.AsInt64(), v.Int(), string(kv.Key))
		case attribute.FLOAT64:
			assert.Equal(t, kv.Value.AsFloat64(), v.Double(), string(kv.Key))
		case attribute.STRINGSLICE:
			assert.Equal(t, kv.Value.AsStringSlice(), toStrings(v.Slice()), string(kv.Key))
		case attribute.INT64SLICE:
			assert.Equal(t, kv.Value.AsInt64Slice(), toInts(v.Slice()), string(kv.Key))
		case attribute.FLOAT64SLICE:
			var fs []float64
			for i := 0; i < v.Slice().Len(); i++ {
				fs = append(fs, v.Slice().At(i).Double())
			}
			assert.Equal(t, kv.Value.AsFloat64Slice(), fs, string(kv.Key))
		case attribute.BOOLSLICE:
			var bs []bool
			for i := 0; i < v.Slice().Len(); i++ {
				bs = append(bs, v.Slice().At(i).Bool())
			}
			assert.Equal(t, kv.Value.AsBoolSlice(), bs, string(kv.Key))
		default:
			t.Errorf("attribute %s: type %s not covered", kv.Key, kv.Value.Type())
		}
	}
}

func toStrings(s pcommon.Slice) []string {
	var out []string
	for i := 0; i < s.Len(); i++ {
		out = append(out, s.At(i).Str())
	}
	return out
}

func toInts(s pcommon.Slice) []int64 {
	var out []int64
	for i := 0; i < s.Len(); i++ {
		out = append(out, s.At(i).Int())
	}
	return out
}
