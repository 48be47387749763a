package weirotlpreceiver

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/weirhq/weir/internal/testnet"
)

// serverOnly is a receiver with its servers' parts and no engine: for what happens before a
// request reaches the engine (limits, shutdown), with no journal or ClickHouse behind.
func serverOnly(t *testing.T, cfg *Config) *otlpReceiver {
	t.Helper()
	set := receivertest.NewNopSettings(receivertest.NopType)
	tel, err := newTelemetry(set.TelemetrySettings)
	require.NoError(t, err)
	return &otlpReceiver{cfg: cfg, set: set, logger: set.Logger, tel: tel, limits: newLimits(cfg)}
}

// URL paths that http.ServeMux would panic on at start, or take as a wildcard or a subtree,
// are refused by Validate with a message naming the setting.
func TestConfig_URLPaths(t *testing.T) {
	for _, tc := range []struct {
		traces, metrics, err string
	}{
		{"/v1/traces", "/v1/metrics", ""},
		{"/v1/traces", "/v1/traces", `traces_url_path and metrics_url_path are both "/v1/traces"; they must differ`},
		{"/v1/{traces", "/v1/metrics", `traces_url_path "/v1/{traces" must be a plain path`},
		{"/v1/traces", "/v1/{x}", `metrics_url_path "/v1/{x}" must be a plain path`},
		{"/v1/", "/v1/metrics", `traces_url_path "/v1/" must be a plain path`},
		{"v1/traces", "/v1/metrics", `traces_url_path "v1/traces" must start with /`},
	} {
		cfg := createDefaultConfig().(*Config)
		h := cfg.Protocols.HTTP.GetOrInsertDefault()
		h.TracesURLPath, h.MetricsURLPath = tc.traces, tc.metrics
		err := cfg.Validate()
		if tc.err == "" {
			assert.NoError(t, err)
			continue
		}
		assert.ErrorContains(t, err, tc.err)
	}
}

// max_inflight_mib must hold one request of the largest size the servers take, with what
// decoding it takes: a request that needs more passes only when no other is in flight.
func TestConfig_InflightBoundHoldsOneRequest(t *testing.T) {
	for _, tc := range []struct {
		inflight, grpcMiB int
		body              int64
		err               string
	}{
		{64, 8, 8 << 20, ""},
		{32, 8, 8 << 20, ""},
		{31, 8, 8 << 20, "max_inflight_mib 31 is below what one OTLP/HTTP request may take, 32 MiB: its body (protocols::http::max_request_body_size, 8388608 bytes) and 3 times that"},
		{64, 8, 0, "max_inflight_mib 64 is below what one OTLP/HTTP request may take, 80 MiB"}, // confighttp's 20 MiB
		{1, 1, 256 << 10, ""},
		{4, 8, 1 << 20, "max_inflight_mib 4 is below protocols::grpc::max_recv_msg_size_mib 8"},
	} {
		cfg := createDefaultConfig().(*Config)
		cfg.MaxInflightMiB = tc.inflight
		cfg.Protocols.GRPC.GetOrInsertDefault().MaxRecvMsgSizeMiB = tc.grpcMiB
		cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.MaxRequestBodySize = tc.body
		err := cfg.Validate()
		if tc.err == "" {
			assert.NoError(t, err, "%+v", tc)
			continue
		}
		assert.ErrorContains(t, err, tc.err)
	}
}

// A sender that stalls mid-body holds at most 1 MiB of max_inflight_mib beyond what it sent,
// and only until the read timeout (30 s by default) ends its request.
func TestHTTP_StalledSenderHoldsLittle(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, 30*time.Second, cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.ReadTimeout)

	r := serverOnly(t, cfg)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.handleHTTP(w, req, signalTraces)
	}))
	defer srv.Close()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, srv.URL, pr)
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentProtobuf)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}()
	const sent = 4<<20 + 1
	_, err = io.Copy(pw, bytes.NewReader(make([]byte, sent))) // then it stalls
	require.NoError(t, err)
	require.Eventually(t, func() bool { return r.limits.inflight.Load() >= sent }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	assert.LessOrEqual(t, r.limits.inflight.Load(), int64(sent+1<<20), "held beyond what was sent")
	_ = pw.CloseWithError(io.ErrUnexpectedEOF)
	<-done
	require.Eventually(t, func() bool { return r.limits.inflight.Load() == 0 }, 5*time.Second, 10*time.Millisecond)
}

// A gRPC client that stalls mid-message does not hold Shutdown past its deadline:
// GracefulStop alone waits for its stream for ever.
func TestGRPC_ShutdownDeadlineWithStalledClient(t *testing.T) {
	r, fr := rawGRPC(t)

	// An HTTP/2 stream of Export whose message announces 1,000 bytes and sends 10.
	var hdr bytes.Buffer
	enc := hpack.NewEncoder(&hdr)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "weir"},
		{":path", "/opentelemetry.proto.collector.trace.v1.TraceService/Export"},
		{"content-type", "application/grpc"}, {"te", "trailers"}} {
		require.NoError(t, enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}))
	}
	require.NoError(t, fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hdr.Bytes(), EndHeaders: true}))
	msg := append([]byte{0, 0, 0, 0x03, 0xe8}, make([]byte, 10)...) // uncompressed, 1,000 bytes
	require.NoError(t, fr.WriteData(1, false, msg))
	time.Sleep(200 * time.Millisecond) // the server has the stream

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := r.stop(ctx)
	assert.Less(t, time.Since(start), 3*time.Second, "Shutdown returned near its deadline")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// An HTTP sender stalled mid-body at Shutdown's deadline: its connection is closed and its
// handler has returned when Shutdown does, so no handler runs on after the engine is gone.
func TestHTTP_ShutdownDeadlineWithStalledSender(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	h := cfg.Protocols.HTTP.GetOrInsertDefault()
	h.ServerConfig.NetAddr.Endpoint = testnet.FreeAddr(t)
	r := serverOnly(t, cfg)
	require.NoError(t, r.startHTTP(context.Background(), componenttest.NewNopHost(), h))

	pr, pw := io.Pipe()
	defer pw.Close()
	req, err := http.NewRequest(http.MethodPost, "http://"+h.ServerConfig.NetAddr.Endpoint+h.TracesURLPath, pr)
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentProtobuf)
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}()
	_, err = pw.Write(make([]byte, 1000)) // then it stalls
	require.NoError(t, err)
	require.Eventually(t, func() bool { return r.limits.inflight.Load() > 0 }, 5*time.Second, 10*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = r.stop(ctx)
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Zero(t, r.limits.inflight.Load(), "the handler returned and gave its share back")
}

// The server announces flow-control windows sized for OTLP batches: a request of a few hundred
// KB goes in without a window update from the server every 16 KB (grpc-go's defaults).
func TestGRPC_FlowControlWindows(t *testing.T) {
	_, fr := rawGRPC(t)
	var stream, connIncrement uint32
	for stream == 0 || connIncrement == 0 {
		f, err := fr.ReadFrame()
		require.NoError(t, err)
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
				stream = v
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				connIncrement = f.Increment
			}
		}
	}
	assert.Equal(t, uint32(streamWindow), stream, "a stream's window")
	assert.Equal(t, uint32(connWindow-65535), connIncrement, "the connection's window, over HTTP/2's initial 65,535")
}

// grpcOnly starts a receiver's gRPC server alone, with no engine (a request that reached a
// handler would panic), stopped when t ends, and returns it and its address.
func grpcOnly(t *testing.T) (*otlpReceiver, string) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	g := cfg.Protocols.GRPC.GetOrInsertDefault()
	g.NetAddr.Endpoint = testnet.FreeAddr(t)
	r := serverOnly(t, cfg)
	require.NoError(t, r.startGRPC(context.Background(), componenttest.NewNopHost(), g))
	t.Cleanup(func() { _ = r.stop(context.Background()) })
	return r, g.NetAddr.Endpoint
}

// rawGRPC starts a receiver's gRPC server alone (no engine) and opens an HTTP/2 connection to
// it, the preface and the client's settings sent. When t ends the connection closes, then the
// server stops; any read or write on it fails after 10 s.
func rawGRPC(t *testing.T) (*otlpReceiver, *http2.Framer) {
	t.Helper()
	r, addr := grpcOnly(t)
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = conn.Write([]byte(http2.ClientPreface))
	require.NoError(t, err)
	fr := http2.NewFramer(conn, conn)
	require.NoError(t, fr.WriteSettings())
	return r, fr
}

// With request bodies filling max_inflight_mib, a new gRPC request is refused as soon as its
// headers arrive, before grpc-go reads its message into memory, with UNAVAILABLE.
func TestGRPC_RefusedBeforeReading(t *testing.T) {
	r, addr := grpcOnly(t)
	r.limits.inflight.Store(r.limits.maxInflight)

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("x")
	_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	assert.Contains(t, status.Convert(err).Message(), "refused before reading")
}

// A request alone passes max_inflight_mib however many shares of it it takes (an HTTP body
// takes one per chunk as it arrives): a bound below the largest request must not refuse it
// for ever. With another request in the handlers, the bound holds.
func TestHTTP_LoneRequestPastTheBound(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxInflightMiB = 1
	r := serverOnly(t, cfg)
	read := func() (int64, error) {
		req := httptest.NewRequest(http.MethodPost, "/v1/traces", bytes.NewReader(make([]byte, 3<<20)))
		var reserved int64
		defer func() { r.limits.release(reserved) }()
		_, err := r.readBody(req, &reserved)
		return reserved, err
	}
	r.limits.enter()
	reserved, err := read()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, reserved, int64(3<<20))

	r.limits.enter() // another request, holding a little
	require.NoError(t, r.limits.acquire(1000, r.tel))
	_, err = read()
	assert.ErrorIs(t, err, errOverloaded)
	r.limits.release(1000)
	r.limits.exit()
	r.limits.exit()
	assert.Zero(t, r.limits.inflight.Load())
}

// A snappy body in block format (which does not stream) is counted against max_inflight_mib at
// its decoded size, from its header, before the rest of it is read: a request that does not
// fit is refused while its sender is still sending. confighttp's own decoder read and decoded
// the whole body first, and the decoded bytes were never counted.
func TestHTTP_SnappyCountedBeforeDecoding(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxInflightMiB = 1
	h := cfg.Protocols.HTTP.GetOrInsertDefault()
	h.ServerConfig.NetAddr.Endpoint = testnet.FreeAddr(t)
	r := serverOnly(t, cfg)
	require.NoError(t, r.startHTTP(context.Background(), componenttest.NewNopHost(), h))
	t.Cleanup(func() { _ = r.stop(context.Background()) })
	url := "http://" + h.ServerConfig.NetAddr.Endpoint + h.TracesURLPath
	send := func(body io.Reader, encoding string) <-chan int {
		answered := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodPost, url, body)
			req.Header.Set("Content-Type", contentProtobuf)
			if encoding != "" {
				req.Header.Set("Content-Encoding", encoding)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answered <- 0
				return
			}
			_ = resp.Body.Close()
			answered <- resp.StatusCode
		}()
		return answered
	}

	// A sender that stalls after 200 KB holds a quarter of the bound.
	stalled, stall := io.Pipe()
	defer stall.CloseWithError(io.ErrUnexpectedEOF) // a broken body: no request to handle after
	send(stalled, "")
	_, err := stall.Write(make([]byte, 200<<10))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return r.limits.inflight.Load() >= 200<<10 }, 5*time.Second, 10*time.Millisecond)
	held := r.limits.inflight.Load()

	// A snappy block of 2 MiB (incompressible) is sent in part: its first 300 KB, which is
	// more than the server reads of a refused request's body before it answers.
	plain := make([]byte, 2<<20)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(plain)
	block := snappy.Encode(nil, plain)
	body, sender := io.Pipe()
	defer sender.Close()
	answered := send(body, "snappy")
	go func() { _, _ = sender.Write(block[:300<<10]) }()
	select {
	case code := <-answered:
		assert.Equal(t, http.StatusServiceUnavailable, code)
	case <-time.After(5 * time.Second):
		t.Fatal("no answer while the body is incomplete: it was read whole before being counted")
	}
	assert.Equal(t, held, r.limits.inflight.Load(), "the refused request gave its share back")
}
