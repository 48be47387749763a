package weirotlpreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	gosnappy "github.com/golang/snappy"
	"github.com/klauspost/compress/snappy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/weirhq/weir/exporters/clickhouseexporter"
	"github.com/weirhq/weir/extensions/journalextension"
	"github.com/weirhq/weir/extensions/journalextension/journaltest"
	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/otlpgen"
	"github.com/weirhq/weir/internal/tailsample"
	"github.com/weirhq/weir/internal/testnet"
)

// pipeline is weir_otlp and the clickhouse exporter over one journal, against a test database.
type pipeline struct {
	db       *chtest.DB
	grpcAddr string
	httpAddr string
	host     *journaltest.TestHost
}

var seq int

func startPipeline(t *testing.T, mutate func(*Config)) *pipeline {
	t.Helper()
	return startPipelineWith(t, pipelineOptions{receiver: mutate})
}

// pipelineOptions change the receiver's, the exporter's and the journal's configuration.
type pipelineOptions struct {
	receiver func(*Config)
	exporter func(*clickhouseexporter.Config)
	journal  func(*journalextension.Config)
}

func startPipelineWith(t *testing.T, opts pipelineOptions) *pipeline {
	t.Helper()
	db := chtest.New(t)
	p := &pipeline{db: db, grpcAddr: testnet.FreeAddr(t), httpAddr: testnet.FreeAddr(t)}
	host := journaltest.NewTestHostWith(t, t.TempDir(), opts.journal)
	p.host = host
	seq++
	name := fmt.Sprintf("t%d", seq)

	ef := clickhouseexporter.NewFactory()
	ecfg := ef.CreateDefaultConfig().(*clickhouseexporter.Config)
	ecfg.ClickHouse.Endpoint = chtest.Endpoint()
	ecfg.ClickHouse.Database = db.Name
	ecfg.HTTPEndpoints = []string{"http://" + chtest.HTTPAddr()}
	ecfg.Batch.MaxWait = 50 * time.Millisecond
	if opts.exporter != nil {
		opts.exporter(ecfg)
	}
	eset := exportertest.NewNopSettings(ef.Type())
	eset.ID = component.NewIDWithName(ef.Type(), name)
	exp, err := ef.CreateTraces(context.Background(), eset, ecfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })

	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = p.grpcAddr
	cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = p.httpAddr
	cfg.Epoch = 50 * time.Millisecond
	if opts.receiver != nil {
		opts.receiver(cfg)
	}
	require.NoError(t, cfg.Validate())
	set := receivertest.NewNopSettings(f.Type())
	set.ID = component.NewIDWithName(f.Type(), name)
	tr, err := f.CreateTraces(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	mr, err := f.CreateMetrics(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, tr.Start(context.Background(), host))
	require.NoError(t, mr.Start(context.Background(), host))
	// The receivers stop before the exporter (cleanups run last first), as in the collector.
	t.Cleanup(func() {
		require.NoError(t, tr.Shutdown(context.Background()))
		require.NoError(t, mr.Shutdown(context.Background()))
	})
	return p
}

func (p *pipeline) eventually(t *testing.T, query string, want uint64) {
	t.Helper()
	var got uint64
	require.Eventually(t, func() bool {
		got = p.db.QueryUint64(t, query)
		return got == want
	}, 30*time.Second, 50*time.Millisecond, "%s: %d, want %d", query, got, want)
}

// Real SDK exporters, gRPC and HTTP, for traces and metrics: every span is stored (no
// sampling) and counted in red_1m, the metrics reach their tables.
func TestReceiver_SDKExportersToClickHouse(t *testing.T) {
	p := startPipeline(t, func(c *Config) { c.TailSampling = configoptional.None[tailsample.Config]() })
	ctx := context.Background()
	res := resource.NewSchemaless(semconv.ServiceName("checkout"))
	grpcExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(p.grpcAddr), otlptracegrpc.WithInsecure())
	require.NoError(t, err)
	httpExp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(p.httpAddr), otlptracehttp.WithInsecure())
	require.NoError(t, err)
	const perExporter = 300
	for _, exp := range []sdktrace.SpanExporter{grpcExp, httpExp} {
		tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp))
		tr := tp.Tracer("test")
		for i := 0; i < perExporter; i++ {
			_, sp := tr.Start(ctx, "GET /cart")
			sp.End()
		}
		require.NoError(t, tp.Shutdown(ctx))
	}
	mexp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(p.grpcAddr), otlpmetricgrpc.WithInsecure())
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp)))
	c, err := mp.Meter("test").Int64Counter("orders")
	require.NoError(t, err)
	c.Add(ctx, 5, metric.WithAttributes())
	h, err := mp.Meter("test").Float64Histogram("latency")
	require.NoError(t, err)
	h.Record(ctx, 12.5)
	require.NoError(t, mp.Shutdown(ctx))

	// By name, not only by count: names are read from the request, whose buffer goes back to
	// a pool (poisoned in these tests) once it is handled, so a name kept as a view of it
	// would come out as garbage.
	p.eventually(t, "SELECT count() FROM "+p.db.Table("spans")+" WHERE ServiceName = 'checkout' AND SpanName = 'GET /cart'", 2*perExporter)
	p.eventually(t, "SELECT sum(Requests) FROM "+p.db.Table("red_1m")+" WHERE ServiceName = 'checkout' AND SpanName = 'GET /cart'", 2*perExporter)
	p.eventually(t, "SELECT count() FROM "+p.db.Table("metrics_sum")+" WHERE MetricName = 'orders' AND ServiceName = 'checkout'", 1)
	p.eventually(t, "SELECT count() FROM "+p.db.Table("metrics_histogram")+" WHERE MetricName = 'latency' AND ServiceName = 'checkout'", 1)
}

func post(t *testing.T, url, ct string, body []byte, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", ct)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

// A JSON body counts against max_inflight_mib at three times its size before it is decoded
// (pdata, then protobuf): with a fifth of the bound held by a stalled sender, a 200 KB JSON
// request is refused for now (it was taken before), and taken alone.
func TestReceiver_JSONCountedBeforeDecoding(t *testing.T) {
	var cfg *Config
	p := startPipeline(t, func(c *Config) {
		// The smallest bound Validate takes with bodies of up to 256 KiB.
		c.MaxInflightMiB = 1
		c.Protocols.HTTP.GetOrInsertDefault().ServerConfig.MaxRequestBodySize = 256 << 10
		c.Protocols.GRPC.GetOrInsertDefault().MaxRecvMsgSizeMiB = 1
		keepAll(c)
		cfg = c
	})
	receiversMu.Lock()
	r := receivers[cfg]
	receiversMu.Unlock()
	url := "http://" + p.httpAddr + "/v1/traces"
	js, err := ptraceotlp.NewExportRequestFromTraces(otlpgen.New(7).Telemetrygen(500)).MarshalJSON()
	require.NoError(t, err)
	require.Less(t, len(js), 256<<10)

	stalled, stall := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest(http.MethodPost, url, stalled)
		req.Header.Set("Content-Type", contentProtobuf)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}()
	_, err = stall.Write(make([]byte, 200<<10))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return r.limits.inflight.Load() >= 200<<10 }, 5*time.Second, 10*time.Millisecond)

	resp, body := post(t, url, contentJSON, js, nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", body)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))

	_ = stall.CloseWithError(io.ErrUnexpectedEOF)
	<-done
	require.Eventually(t, func() bool { return r.limits.inflight.Load() == 0 }, 5*time.Second, 10*time.Millisecond)
	resp, body = post(t, url, contentJSON, js, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	p.eventually(t, "SELECT count() FROM "+p.db.Table("spans"), 500)
}

// Bad input gets a precise answer and costs nothing else: malformed protobuf, a body over the
// limit (also when it is a small gzip that inflates past it), zero IDs (dropped, said in a
// partial success, the rest stored), JSON (accepted).
func TestReceiver_BadInput(t *testing.T) {
	p := startPipeline(t, func(c *Config) { c.TailSampling = configoptional.None[tailsample.Config]() })
	url := "http://" + p.httpAddr + "/v1/traces"

	resp, body := post(t, url, contentProtobuf, []byte{0x0a, 0x05, 0x12}, nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), "otlp: ")

	resp, _ = post(t, url, "text/plain", []byte("x"), nil)
	assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)

	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	_, _ = zw.Write(bytes.Repeat([]byte{0}, 20<<20))
	require.NoError(t, zw.Close())
	resp, _ = post(t, url, contentProtobuf, bomb.Bytes(), map[string]string{"Content-Encoding": "gzip"})
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "a %d-byte gzip of 20 MiB", bomb.Len())

	td := otlpgen.New(1).Telemetrygen(100)
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(3).SetSpanID([8]byte{})
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(4).SetTraceID([16]byte{})
	req, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	resp, body = post(t, url, contentProtobuf, req, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	out := ptraceotlp.NewExportResponse()
	require.NoError(t, out.UnmarshalProto(body))
	assert.Equal(t, int64(2), out.PartialSuccess().RejectedSpans())
	assert.Contains(t, out.PartialSuccess().ErrorMessage(), "2 spans with an all-zero or malformed")

	js, err := ptraceotlp.NewExportRequestFromTraces(otlpgen.New(2).Telemetrygen(10)).MarshalJSON()
	require.NoError(t, err)
	resp, body = post(t, url, contentJSON, js, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)

	// snappy, weir's own decoder: the block format, the framing format under the same name
	// (as some senders label it), a block that claims more than max_request_body_size, and
	// one that is cut short.
	for i, enc := range []func([]byte) []byte{
		func(b []byte) []byte { return snappy.Encode(nil, b) },
		// golang/snappy (confighttp's client, and the C++ library's layout) writes more
		// than klauspost's encoder for incompressible data: a literal header per 64 KiB.
		func(b []byte) []byte { return gosnappy.Encode(nil, b) },
		func(b []byte) []byte {
			var framed bytes.Buffer
			w := snappy.NewBufferedWriter(&framed)
			_, _ = w.Write(b)
			require.NoError(t, w.Close())
			return framed.Bytes()
		},
	} {
		td := otlpgen.New(uint64(3 + i)).Telemetrygen(5)
		// An attribute of 300 KB of random bytes: incompressible, past 64 KiB blocks.
		noise := make([]byte, 300<<10)
		_, _ = mrand.NewChaCha8([32]byte{byte(i)}).Read(noise)
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutEmptyBytes("noise").FromRaw(noise)
		req, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		require.NoError(t, err)
		resp, body = post(t, url, contentProtobuf, enc(req), map[string]string{"Content-Encoding": "snappy"})
		require.Equal(t, http.StatusOK, resp.StatusCode, "encoder %d: %s", i, body)
	}
	// A block whose header claims 9 MiB: refused from the header, before its data.
	claim := append(binary.AppendUvarint(nil, 9<<20), 0, 0, 0, 0)
	resp, _ = post(t, url, contentProtobuf, claim, map[string]string{"Content-Encoding": "snappy"})
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "a snappy block of 9 MiB")
	cut := snappy.Encode(nil, req)
	resp, body = post(t, url, contentProtobuf, cut[:len(cut)/2], map[string]string{"Content-Encoding": "snappy"})
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), "snappy")

	// gRPC: malformed protobuf is InvalidArgument, said precisely.
	conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{})))
	require.NoError(t, err)
	defer conn.Close()
	err = conn.Invoke(context.Background(), "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
		&message{b: []byte{0x0a, 0x05, 0x12}}, new(message))
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	assert.True(t, strings.Contains(status.Convert(err).Message(), "otlp: "), "%v", err)

	p.eventually(t, "SELECT count() FROM "+p.db.Table("spans"), 98+10+5+5+5)
}
