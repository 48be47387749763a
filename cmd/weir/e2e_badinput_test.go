package main

// Bad input against a running weir: garbage, oversize bodies, compression bombs and spans with
// invalid IDs. Each test checks what the sender is told, that nothing of the bad request reaches
// ClickHouse, and that weir keeps serving good requests afterwards.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weirhq/weir/internal/chtest"
)

// traceExportMethod is the gRPC method OTLP trace exporters call.
const traceExportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// otlpReply is what weir answered to an OTLP/HTTP request: the HTTP status and the
// google.rpc.Status the body carries (decoded from protobuf or JSON by the response
// Content-Type; for text/plain bodies only Message is set).
type otlpReply struct {
	Code   int
	Status *spb.Status
	Body   []byte // the raw body
}

// postRaw posts body to url and decodes the reply; it fails the test only on transport errors.
func postRaw(t *testing.T, ctx context.Context, url, contentType, encoding string, hdr http.Header, body []byte) otlpReply {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "POST %s", url)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	st := &spb.Status{}
	switch ct := resp.Header.Get("Content-Type"); {
	case resp.StatusCode == http.StatusOK:
	case strings.HasPrefix(ct, "application/x-protobuf"):
		require.NoError(t, proto.Unmarshal(raw, st), "error body %q", raw)
	case strings.HasPrefix(ct, "application/json"):
		require.NoError(t, protojson.Unmarshal(raw, st), "error body %q", raw)
	default:
		st.Message = string(raw)
	}
	return otlpReply{Code: resp.StatusCode, Status: st, Body: raw}
}

// rawCodec sends and receives gRPC messages as the bytes they are, so a test can put any
// wire format on the line. It is forced per call, never registered.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }

func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}

// Name is "proto" so the request goes out as application/grpc+proto, as a real exporter's does.
func (rawCodec) Name() string { return "proto" }

// invokeRaw calls TraceService/Export with msg as the serialized request.
func invokeRaw(ctx context.Context, conn *grpc.ClientConn, msg []byte, opts ...grpc.CallOption) error {
	var reply []byte
	return conn.Invoke(ctx, traceExportMethod, &msg, &reply, append(opts, grpc.ForceCodec(rawCodec{}))...)
}

func dialGRPC(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// grpcFrame calls TraceService/Export over plain HTTP/2 with payload as the message, already
// compressed with grpcEncoding when that is not empty. grpc-go's client cannot send a message it
// did not compress itself, and compressing a bomb client-side would inflate it in this process,
// the one whose heap the bomb tests measure. It returns the gRPC status code and message.
func grpcFrame(t *testing.T, ctx context.Context, addr, grpcEncoding string, payload []byte) (codes.Code, string) {
	t.Helper()
	frame := make([]byte, 5, 5+len(payload))
	if grpcEncoding != "" {
		frame[0] = 1
	}
	binary.BigEndian.PutUint32(frame[1:], uint32(len(payload)))
	frame = append(frame, payload...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+traceExportMethod, bytes.NewReader(frame))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/grpc+proto")
	req.Header.Set("TE", "trailers")
	if grpcEncoding != "" {
		req.Header.Set("Grpc-Encoding", grpcEncoding)
	}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "gRPC answers errors in grpc-status, not the HTTP status")
	get := func(k string) string {
		if v := resp.Header.Get(k); v != "" { // trailers-only response
			return v
		}
		return resp.Trailer.Get(k)
	}
	code, err := strconv.Atoi(get("Grpc-Status"))
	require.NoError(t, err, "grpc-status")
	msg, err := url.PathUnescape(get("Grpc-Message"))
	require.NoError(t, err)
	return codes.Code(code), msg
}

// countSpans is the query that counts db's stored spans.
func countSpans(db *chtest.DB) string { return "SELECT count() FROM " + db.Table("spans") }

// requireStoredIDs asserts that ClickHouse holds exactly the spans whose IDs are in want.
func requireStoredIDs(t *testing.T, db *chtest.DB, want []string) {
	t.Helper()
	var got []string
	for id := range readSpans(t, db) {
		got = append(got, id)
	}
	assert.ElementsMatch(t, want, got)
}

// spanIDs lists the hex span IDs of td.
func spanIDs(td ptrace.Traces) []string {
	var ids []string
	for id := range flatSpans(td) {
		ids = append(ids, id)
	}
	return ids
}

func TestBadInput_Malformed(t *testing.T) {
	t.Parallel()
	w := startWeir(t, weirOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tracesURL := "http://" + w.HTTPAddr + "/v1/traces"

	// Protobuf skips unknown fields, so "garbage" has to be invalid at the wire level to be
	// refused: a length running past the end, a wire type that does not exist, a field number 0.
	badProto := []struct {
		name string
		body []byte
	}{
		{"length past end", []byte{0x0a, 0x64, 0x01, 0x02, 0x03}},
		{"wire type 7", []byte{0x0f, 0x01, 0x02}},
		{"field 0", []byte{0x00, 0x00}},
		{"text", []byte("this is not protobuf \xff\xfe\xfd")},
	}
	badJSON := []struct {
		name string
		body string
	}{
		{"not json", "this is not json"},
		{"truncated", `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"`},
		{"wrong type", `{"resourceSpans":"nope"}`},
	}

	for _, tc := range badProto {
		t.Run("http protobuf "+tc.name, func(t *testing.T) {
			r := postRaw(t, ctx, tracesURL, "application/x-protobuf", "", nil, tc.body)
			assert.Equal(t, http.StatusBadRequest, r.Code)
			assert.Equal(t, int32(codes.InvalidArgument), r.Status.GetCode())
			assert.NotEmpty(t, r.Status.GetMessage())
			t.Logf("HTTP %d: %q", r.Code, r.Status.GetMessage())
		})
	}
	for _, tc := range badJSON {
		t.Run("http json "+tc.name, func(t *testing.T) {
			r := postRaw(t, ctx, tracesURL, "application/json", "", nil, []byte(tc.body))
			assert.Equal(t, http.StatusBadRequest, r.Code)
			assert.Equal(t, int32(codes.InvalidArgument), r.Status.GetCode())
			assert.NotEmpty(t, r.Status.GetMessage())
			t.Logf("HTTP %d: %q", r.Code, r.Status.GetMessage())
		})
	}
	conn := dialGRPC(t, w.GRPCAddr)
	for _, tc := range badProto {
		t.Run("grpc "+tc.name, func(t *testing.T) {
			err := invokeRaw(ctx, conn, tc.body)
			// weir_otlp reads the request itself: InvalidArgument (do not retry), saying which
			// message and field are wrong, as OTLP/HTTP's 400 does.
			st := status.Convert(err)
			assert.Equal(t, codes.InvalidArgument, st.Code(), "%v", err)
			assert.Contains(t, st.Message(), "otlp: ")
			t.Logf("gRPC %s: %q", st.Code(), st.Message())
		})
	}

	// weir is still up: a good request over each transport is stored.
	grpcTD, httpTD := richTraces(31, 5), richTraces(32, 5)
	_, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(grpcTD))
	require.NoError(t, err)
	body, err := ptraceotlp.NewExportRequestFromTraces(httpTD).MarshalProto()
	require.NoError(t, err)
	require.NoError(t, postOTLP(ctx, tracesURL, "application/x-protobuf", "", body))
	waitForCount(t, w.DB, countSpans(w.DB), 10, 20*time.Second)
	requireStoredIDs(t, w.DB, append(spanIDs(grpcTD), spanIDs(httpTD)...))
}

// bigTraces is one span whose attribute makes the request about size bytes.
func bigTraces(seed byte, size int) ptrace.Traces {
	td := richTraces(seed, 1)
	sp := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	sp.Attributes().PutStr("blob", strings.Repeat("x", size))
	return td
}

func TestBadInput_Oversize(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	w := startWeir(t, weirOptions{
		ReceiverExtraHTTP: "        max_request_body_size: " + strconv.Itoa(limit) + "\n",
		ReceiverExtraGRPC: "        max_recv_msg_size_mib: 1\n",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tracesURL := "http://" + w.HTTPAddr + "/v1/traces"
	conn := dialGRPC(t, w.GRPCAddr)
	client := ptraceotlp.NewGRPCClient(conn)

	// confighttp wraps the body in http.MaxBytesReader; weir_otlp answers 413 and says which
	// limit.
	refusedHTTP := func(t *testing.T, contentType string, body []byte) {
		require.Greater(t, len(body), limit)
		r := postRaw(t, ctx, tracesURL, contentType, "", nil, body)
		assert.Equal(t, http.StatusRequestEntityTooLarge, r.Code)
		assert.Equal(t, int32(codes.InvalidArgument), r.Status.GetCode())
		assert.Equal(t, fmt.Sprintf("request body larger than %d bytes (max_request_body_size, after decompression)", limit), r.Status.GetMessage())
	}
	big := ptraceotlp.NewExportRequestFromTraces(bigTraces(40, limit))
	t.Run("http protobuf", func(t *testing.T) {
		body, err := big.MarshalProto()
		require.NoError(t, err)
		refusedHTTP(t, "application/x-protobuf", body)
	})
	t.Run("http json", func(t *testing.T) {
		body, err := big.MarshalJSON()
		require.NoError(t, err)
		refusedHTTP(t, "application/json", body)
	})
	t.Run("grpc", func(t *testing.T) {
		_, err := client.Export(ctx, big)
		st := status.Convert(err)
		assert.Equal(t, codes.ResourceExhausted, st.Code(), "%v", err)
		assert.Regexp(t, `^grpc: received message larger than max \(\d+ vs\. 1048576\)$`, st.Message())
		t.Logf("gRPC %s: %q", st.Code(), st.Message())
	})

	// Small requests afterwards are stored, and nothing of the big ones is.
	small1, small2 := richTraces(41, 3), richTraces(42, 3)
	_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(small1))
	require.NoError(t, err)
	body, err := ptraceotlp.NewExportRequestFromTraces(small2).MarshalProto()
	require.NoError(t, err)
	require.NoError(t, postOTLP(ctx, tracesURL, "application/x-protobuf", "", body))
	stored := append(spanIDs(small1), spanIDs(small2)...)
	waitForCount(t, w.DB, countSpans(w.DB), uint64(len(stored)), 20*time.Second)
	requireStoredIDs(t, w.DB, stored)
}

// bombPattern is an empty ResourceSpans (field 1, length 0): a valid OTLP request made of it
// would decode into one object per two bytes, so a bomb of it is as costly as possible if the
// size limit did not hold.
var bombPattern = []byte{0x0a, 0x00}

// bomb is inflated bytes of bombPattern compressed by newWriter: one compressed MiB repeated.
// gzip and zstd decoders read concatenated members (frames) as one stream, and repeating one
// member keeps the test from compressing 200 MiB, which takes long under -race.
func bomb(t *testing.T, inflated int, newWriter func(io.Writer) (io.WriteCloser, error)) []byte {
	t.Helper()
	var member bytes.Buffer
	zw, err := newWriter(&member)
	require.NoError(t, err)
	_, err = zw.Write(bytes.Repeat(bombPattern, 512<<10))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return bytes.Repeat(member.Bytes(), inflated>>20)
}

func gzipBomb(t *testing.T, inflated int) []byte {
	return bomb(t, inflated, func(w io.Writer) (io.WriteCloser, error) {
		return gzip.NewWriterLevel(w, gzip.BestCompression)
	})
}

func zstdBomb(t *testing.T, inflated int) []byte {
	return bomb(t, inflated, func(w io.Writer) (io.WriteCloser, error) {
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	})
}

// allocatedBy returns how many bytes the whole process allocated while f ran, and how much the
// in-use heap grew. weir runs in this process, so this bounds what a request cost it.
func allocatedBy(f func()) (total uint64, heapGrowth int64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, int64(after.HeapInuse) - int64(before.HeapInuse)
}

// TestBadInput_Bomb sends small compressed bodies that inflate to 200 MiB. confighttp applies
// max_request_body_size twice, to the received body and to the decompressed one
// (http.MaxBytesReader around the decoder); grpc-go reads at most max_recv_msg_size+1 bytes out
// of the decompressor. Either way weir must refuse the request having allocated a few times the
// limit, not the inflated size.
//
// It does not call t.Parallel: it measures this process's allocations, and a parallel test
// running at the same time would be counted as the bomb's.
func TestBadInput_Bomb(t *testing.T) {
	const (
		limitMiB   = 8
		limit      = limitMiB << 20
		inflated   = 200 << 20
		allocBound = 64 << 20 // well under inflated, a few times the limit
	)
	w := startWeir(t, weirOptions{
		ReceiverExtraHTTP: "        max_request_body_size: " + strconv.Itoa(limit) + "\n",
		ReceiverExtraGRPC: "        max_recv_msg_size_mib: " + strconv.Itoa(limitMiB) + "\n",
	})
	gz, zs := gzipBomb(t, inflated), zstdBomb(t, inflated)
	// deflate cannot do better than about 1:1030, so the gzip bomb is ~200 KB; zstd's ~20 KB
	// is mostly the headers of its 200 frames.
	t.Logf("bombs inflating to %d MiB: gzip %d bytes, zstd %d bytes", inflated>>20, len(gz), len(zs))
	require.Less(t, len(gz), limit, "the compressed bomb must pass the limit on received bytes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tracesURL := "http://" + w.HTTPAddr + "/v1/traces"

	for _, tc := range []struct {
		name string
		send func(t *testing.T)
	}{{
		name: "http gzip",
		send: func(t *testing.T) {
			r := postRaw(t, ctx, tracesURL, "application/x-protobuf", "gzip", nil, gz)
			assert.Equal(t, http.StatusRequestEntityTooLarge, r.Code)
			assert.Equal(t, "request body larger than 8388608 bytes (max_request_body_size, after decompression)", r.Status.GetMessage())
		},
	}, {
		name: "http zstd",
		send: func(t *testing.T) {
			r := postRaw(t, ctx, tracesURL, "application/x-protobuf", "zstd", nil, zs)
			assert.Equal(t, http.StatusRequestEntityTooLarge, r.Code)
			assert.Equal(t, "request body larger than 8388608 bytes (max_request_body_size, after decompression)", r.Status.GetMessage())
		},
	}, {
		name: "grpc gzip",
		send: func(t *testing.T) {
			code, msg := grpcFrame(t, ctx, w.GRPCAddr, "gzip", gz)
			assert.Equal(t, codes.ResourceExhausted, code, msg)
			assert.Equal(t, fmt.Sprintf("grpc: received message after decompression larger than max %d", limit), msg)
		},
	}, {
		name: "grpc zstd",
		send: func(t *testing.T) {
			code, msg := grpcFrame(t, ctx, w.GRPCAddr, "zstd", zs)
			assert.Equal(t, codes.ResourceExhausted, code, msg)
			assert.Equal(t, fmt.Sprintf("grpc: received message after decompression larger than max %d", limit), msg)
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			total, growth := allocatedBy(func() { tc.send(t) })
			t.Logf("allocated %.1f MiB, heap in use grew %.1f MiB", float64(total)/(1<<20), float64(growth)/(1<<20))
			assert.Less(t, total, uint64(allocBound),
				"a body inflating to %d MiB cost %d MiB with a %d MiB limit: decompression is not bounded",
				inflated>>20, total>>20, limitMiB)
		})
	}

	// weir is still up, and nothing of the bombs was stored.
	td := richTraces(51, 4)
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	require.NoError(t, postOTLP(ctx, tracesURL, "application/x-protobuf", "gzip", gzipBytes(t, body)))
	waitForCount(t, w.DB, countSpans(w.DB), 4, 20*time.Second)
	requireStoredIDs(t, w.DB, spanIDs(td))
}

// scrapeCounter sums the samples of the Prometheus metric name (with or without the _total
// suffix the exporter may add) at metricsURL; with labels, only the samples whose label set
// holds each of them (e.g. `decision="kept"`).
func scrapeCounter(t *testing.T, metricsURL, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(metricsURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok {
			continue
		}
		rest = strings.TrimPrefix(rest, "_total")
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue // another metric sharing the prefix
		}
		if !hasLabels(rest, labels) {
			continue
		}
		fields := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		require.NotEmpty(t, fields, "sample line %q", line)
		v, err := strconv.ParseFloat(fields[0], 64)
		require.NoError(t, err, "sample line %q", line)
		sum += v
	}
	require.NoError(t, sc.Err())
	return sum
}

// hasLabels reports whether a sample line (after its name) holds every label.
func hasLabels(rest string, labels []string) bool {
	set := ""
	if rest[0] == '{' {
		set = rest[:strings.LastIndexByte(rest, '}')+1]
	}
	for _, l := range labels {
		if !strings.Contains(set, l) {
			return false
		}
	}
	return true
}

// waitForCounter polls the counter until it reaches want or the timeout passes.
func waitForCounter(t *testing.T, metricsURL, name string, want float64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got float64
	for {
		got = scrapeCounter(t, metricsURL, name)
		if got >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, want, got, "%s at %s", name, metricsURL)
}

// withZeroIDs takes richTraces(seed, 6) and zeroes the trace ID of span 1, the span ID of span
// 3 and both of span 4. It returns the traces and the span IDs of the three valid spans.
func withZeroIDs(seed byte) (ptrace.Traces, []string) {
	td := richTraces(seed, 6)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	spans.At(1).SetTraceID(pcommon.NewTraceIDEmpty())
	spans.At(3).SetSpanID(pcommon.NewSpanIDEmpty())
	spans.At(4).SetTraceID(pcommon.NewTraceIDEmpty())
	spans.At(4).SetSpanID(pcommon.NewSpanIDEmpty())
	var valid []string
	for _, i := range []int{0, 2, 5} {
		id := spans.At(i).SpanID()
		valid = append(valid, hex.EncodeToString(id[:]))
	}
	return td, valid
}

// TestInvalidID_ZeroIDs mixes spans with an all-zero trace or span ID (valid OTLP on the wire)
// with valid spans in one request. The receiver accepts the whole request (200 / OK, no partial
// success reported); weir's exporter then stores the valid spans, skips the others and counts
// them in weir_invalid_spans.
func TestInvalidID_ZeroIDs(t *testing.T) {
	t.Parallel()
	w := startWeir(t, weirOptions{ServeMetrics: true})
	metricsURL := w.MetricsURL
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tracesURL := "http://" + w.HTTPAddr + "/v1/traces"
	conn := dialGRPC(t, w.GRPCAddr)

	var stored []string
	for _, tc := range []struct {
		name string
		seed byte
		send func(req ptraceotlp.ExportRequest) error
	}{
		{"grpc", 61, func(req ptraceotlp.ExportRequest) error {
			_, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, req)
			return err
		}},
		{"http protobuf", 62, func(req ptraceotlp.ExportRequest) error {
			body, err := req.MarshalProto()
			require.NoError(t, err)
			return postOTLP(ctx, tracesURL, "application/x-protobuf", "", body)
		}},
		{"http json", 63, func(req ptraceotlp.ExportRequest) error {
			body, err := req.MarshalJSON()
			require.NoError(t, err)
			return postOTLP(ctx, tracesURL, "application/json", "", body)
		}},
	} {
		td, valid := withZeroIDs(tc.seed)
		stored = append(stored, valid...)
		require.NoError(t, tc.send(ptraceotlp.NewExportRequestFromTraces(td)), tc.name)
	}
	// pdata leaves an empty ID out of OTLP/JSON; senders may also spell it as zero hex digits.
	const times = `"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000000001000"`
	js := `{"resourceSpans":[{"scopeSpans":[{"spans":[` +
		`{"traceId":"` + strings.Repeat("65", 16) + `","spanId":"` + strings.Repeat("65", 8) + `","name":"valid",` + times + `},` +
		`{"traceId":"` + strings.Repeat("0", 32) + `","spanId":"` + strings.Repeat("66", 8) + `","name":"zero trace id",` + times + `},` +
		`{"traceId":"` + strings.Repeat("67", 16) + `","spanId":"` + strings.Repeat("0", 16) + `","name":"zero span id",` + times + `}]}]}]}`
	require.NoError(t, postOTLP(ctx, tracesURL, "application/json", "", []byte(js)))
	stored = append(stored, strings.Repeat("65", 8))
	const invalid = 3*3 + 2

	waitForCount(t, w.DB, countSpans(w.DB), uint64(len(stored)), 20*time.Second)
	requireStoredIDs(t, w.DB, stored)
	waitForCounter(t, metricsURL, "weir_invalid_spans", float64(invalid), 20*time.Second)
}

// spanProto is an OTLP Span on the wire with the given raw ID bytes, which may be of any length.
func spanProto(traceID, spanID []byte, name string) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, traceID)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, spanID)
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, 7, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 1_700_000_000_000_000_000)
	b = protowire.AppendTag(b, 8, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 1_700_000_000_000_001_000)
	return b
}

// requestProto wraps spans in ScopeSpans, ResourceSpans and ExportTraceServiceRequest.
func requestProto(spans ...[]byte) []byte {
	var ss []byte
	for _, s := range spans {
		ss = protowire.AppendTag(ss, 2, protowire.BytesType) // ScopeSpans.spans
		ss = protowire.AppendBytes(ss, s)
	}
	var rs []byte
	rs = protowire.AppendTag(rs, 2, protowire.BytesType) // ResourceSpans.scope_spans
	rs = protowire.AppendBytes(rs, ss)
	var req []byte
	req = protowire.AppendTag(req, 1, protowire.BytesType) // ExportTraceServiceRequest.resource_spans
	return protowire.AppendBytes(req, rs)
}

func repeatByte(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// TestInvalidID_WrongLength sends one valid span and one whose trace ID (or span ID) has the
// wrong length in the same request. weir_otlp reads the request itself: the span with the bad
// ID is dropped, the valid one stored, and the answer is a partial success that says so
// (rejected_spans 1). (Behind the collector's own OTLP receiver, pdata refuses the whole
// request, the valid span included.)
//
// OTLP/JSON goes through pdata's JSON decoding, which refuses hex of the wrong length for the
// whole request: 400, code 3, "ID.UnmarshalJSONIter: length mismatch, ..." or
// "ID.UnmarshalJSONIter: encoding/hex: invalid byte: ...".
//
// An empty ID (length 0) decodes to the all-zero ID, which weir drops and counts the same way
// (TestInvalidID_ZeroIDs).
func TestInvalidID_WrongLength(t *testing.T) {
	t.Parallel()
	w := startWeir(t, weirOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tracesURL := "http://" + w.HTTPAddr + "/v1/traces"
	conn := dialGRPC(t, w.GRPCAddr)

	cases := []struct {
		name string
		bad  []byte
	}{
		{"trace id 15 bytes", spanProto(repeatByte(0x72, 15), repeatByte(0x72, 8), "short trace id")},
		{"trace id 17 bytes", spanProto(repeatByte(0x73, 17), repeatByte(0x73, 8), "long trace id")},
		{"span id 7 bytes", spanProto(repeatByte(0x74, 16), repeatByte(0x74, 7), "short span id")},
	}
	var stored []string
	for i, tc := range cases {
		httpValid, grpcValid := byte(0x40+2*i), byte(0x41+2*i)
		stored = append(stored, strings.Repeat(fmt.Sprintf("%02x", httpValid), 8), strings.Repeat(fmt.Sprintf("%02x", grpcValid), 8))
		t.Run("http protobuf "+tc.name, func(t *testing.T) {
			body := requestProto(spanProto(repeatByte(httpValid, 16), repeatByte(httpValid, 8), "valid"), tc.bad)
			r := postRaw(t, ctx, tracesURL, "application/x-protobuf", "", nil, body)
			require.Equal(t, http.StatusOK, r.Code)
			resp := ptraceotlp.NewExportResponse()
			require.NoError(t, resp.UnmarshalProto(r.Body))
			assert.Equal(t, int64(1), resp.PartialSuccess().RejectedSpans())
			assert.Equal(t, "1 spans with an all-zero or malformed trace or span ID were dropped", resp.PartialSuccess().ErrorMessage())
		})
		t.Run("grpc "+tc.name, func(t *testing.T) {
			body := requestProto(spanProto(repeatByte(grpcValid, 16), repeatByte(grpcValid, 8), "valid"), tc.bad)
			require.NoError(t, invokeRaw(ctx, conn, body))
		})
	}

	const mismatch = "ID.UnmarshalJSONIter: length mismatch, "
	jsonCases := []struct{ name, traceID, spanID, msg string }{
		{"trace id 15 bytes", strings.Repeat("72", 15), strings.Repeat("72", 8), mismatch},
		{"trace id odd hex", strings.Repeat("7", 31), strings.Repeat("73", 8), mismatch},
		{"span id 9 bytes", strings.Repeat("74", 16), strings.Repeat("74", 9), mismatch},
		{"trace id not hex", strings.Repeat("zz", 16), strings.Repeat("75", 8), "ID.UnmarshalJSONIter: encoding/hex: invalid byte: U+007A 'z'"},
	}
	for _, tc := range jsonCases {
		t.Run("http json "+tc.name, func(t *testing.T) {
			body := `{"resourceSpans":[{"scopeSpans":[{"spans":[` +
				`{"traceId":"` + strings.Repeat("71", 16) + `","spanId":"` + strings.Repeat("71", 8) + `","name":"valid"},` +
				`{"traceId":"` + tc.traceID + `","spanId":"` + tc.spanID + `","name":"bad"}]}]}]}`
			r := postRaw(t, ctx, tracesURL, "application/json", "", nil, []byte(body))
			assert.Equal(t, http.StatusBadRequest, r.Code)
			assert.Equal(t, int32(codes.InvalidArgument), r.Status.GetCode())
			assert.Contains(t, r.Status.GetMessage(), tc.msg)
			t.Logf("HTTP %d: %q", r.Code, r.Status.GetMessage())
		})
	}

	// The valid spans of the protobuf requests are stored; nothing of the refused JSON ones is.
	waitForCount(t, w.DB, countSpans(w.DB), uint64(len(stored)), 20*time.Second)
	requireStoredIDs(t, w.DB, stored)
}
