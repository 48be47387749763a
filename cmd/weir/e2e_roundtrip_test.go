package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// richTraces builds spans that use every OTLP span field and every attribute value type.
// seed keeps IDs distinct between calls.
func richTraces(seed byte, spans int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
	res := rs.Resource()
	res.Attributes().PutStr("service.name", fmt.Sprintf("checkout-%d", seed))
	res.Attributes().PutStr("deployment.environment", "test")
	res.Attributes().PutInt("process.pid", 4242)
	res.SetDroppedAttributesCount(2)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.SetSchemaUrl("https://opentelemetry.io/schemas/1.25.0")
	ss.Scope().SetName("weir.test/roundtrip")
	ss.Scope().SetVersion("1.2.3")
	ss.Scope().Attributes().PutBool("scope.flag", true)
	ss.Scope().SetDroppedAttributesCount(1)
	base := time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.UTC)
	for i := 0; i < spans; i++ {
		sp := ss.Spans().AppendEmpty()
		var tid [16]byte
		var sid, pid [8]byte
		tid[0], tid[1] = seed, 0xa0
		binary.BigEndian.PutUint64(tid[8:], uint64(i/3+1))
		sid[0] = seed
		binary.BigEndian.PutUint32(sid[4:], uint32(i+1))
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		if i%3 != 0 {
			pid[0] = seed
			binary.BigEndian.PutUint32(pid[4:], uint32(i/3*3+1))
			sp.SetParentSpanID(pid)
		}
		sp.TraceState().FromRaw("ot=th:c;rv:8cc62e28b3e2f2,vendor=x")
		sp.SetFlags(0x101)
		sp.SetName(fmt.Sprintf("GET /items/{id} %d", i%4))
		sp.SetKind(ptrace.SpanKind(i % 6))
		start := base.Add(time.Duration(i) * time.Millisecond)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(1+i)*time.Microsecond + 7)))
		sp.Status().SetCode(ptrace.StatusCode(i % 3))
		if i%3 == 2 {
			sp.Status().SetMessage("boom: \"quoted\"\nnewline")
		}
		a := sp.Attributes()
		a.PutStr("http.route", "/items/{id}")
		a.PutStr("empty", "")
		a.PutBool("cache.hit", i%2 == 0)
		a.PutInt("http.response.status_code", 200+int64(i%5))
		a.PutInt("int.min", math.MinInt64)
		a.PutDouble("ratio", 1.0/3.0)
		a.PutDouble("whole", 2)
		a.PutDouble("nan", math.NaN())
		a.PutDouble("inf", math.Inf(-1))
		a.PutEmptyBytes("payload").FromRaw([]byte{0, 1, 2, 0xfe, 0xff})
		arr := a.PutEmptySlice("mixed.array")
		arr.AppendEmpty().SetStr("a")
		arr.AppendEmpty().SetInt(1)
		arr.AppendEmpty().SetDouble(1)
		arr.AppendEmpty().SetBool(false)
		arr.AppendEmpty().SetEmptyBytes().FromRaw([]byte("b"))
		arr.AppendEmpty().SetEmptySlice().AppendEmpty().SetStr("nested")
		mp := a.PutEmptyMap("a.map")
		mp.PutStr("k", "v")
		mp.PutEmptyMap("inner").PutInt("deep", 7)
		a.PutEmpty("nothing")
		a.PutStr("unicode", "żółw 🐢")
		sp.SetDroppedAttributesCount(3)
		if i%2 == 0 {
			ev := sp.Events().AppendEmpty()
			ev.SetName("exception")
			ev.SetTimestamp(pcommon.NewTimestampFromTime(start.Add(500)))
			ev.Attributes().PutStr("exception.type", "IOError")
			ev.Attributes().PutInt("attempt", 2)
			ev.SetDroppedAttributesCount(1)
			ev2 := sp.Events().AppendEmpty()
			ev2.SetName("no attributes")
			ev2.SetTimestamp(pcommon.NewTimestampFromTime(start.Add(600)))
			sp.SetDroppedEventsCount(4)
		}
		if i%3 == 1 {
			lk := sp.Links().AppendEmpty()
			var ltid [16]byte
			var lsid [8]byte
			ltid[15], lsid[7] = 0x42, seed
			lk.SetTraceID(ltid)
			lk.SetSpanID(lsid)
			lk.TraceState().FromRaw("congo=t61rcWkgMzE")
			lk.SetFlags(1)
			lk.Attributes().PutDouble("link.weight", 0.5)
			lk.Attributes().PutEmptySlice("link.list").AppendEmpty().SetInt(9)
			lk.SetDroppedAttributesCount(5)
			sp.SetDroppedLinksCount(6)
		}
	}
	return td
}

func TestRoundTrip_Traces(t *testing.T) {
	t.Parallel()
	w := startWeir(t, weirOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	want := map[string]ptrace.Traces{}
	send := func(name string, seed byte, do func(ptrace.Traces) error) {
		td := richTraces(seed, 12)
		for id, one := range flatSpans(td) {
			want[id] = one
		}
		require.NoError(t, do(td), name)
	}

	conn, err := grpc.NewClient(w.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	send("grpc", 1, func(td ptrace.Traces) error {
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		return err
	})
	send("grpc gzip", 2, func(td ptrace.Traces) error {
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td), grpc.UseCompressor("gzip"))
		return err
	})
	url := "http://" + w.HTTPAddr + "/v1/traces"
	send("http protobuf", 3, func(td ptrace.Traces) error {
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		require.NoError(t, err)
		return postOTLP(ctx, url, "application/x-protobuf", "", body)
	})
	send("http json", 4, func(td ptrace.Traces) error {
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
		require.NoError(t, err)
		return postOTLP(ctx, url, "application/json", "", body)
	})
	send("http protobuf gzip", 5, func(td ptrace.Traces) error {
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		require.NoError(t, err)
		return postOTLP(ctx, url, "application/x-protobuf", "gzip", gzipBytes(t, body))
	})
	send("http json zstd", 6, func(td ptrace.Traces) error {
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
		require.NoError(t, err)
		return postOTLP(ctx, url, "application/json", "zstd", zstdBytes(t, body))
	})

	waitForCount(t, w.DB, "SELECT count() FROM "+w.DB.Table("spans"), uint64(len(want)), 30*time.Second)
	requireSameSpans(t, want, readSpans(t, w.DB))

	// tracestate ot=th:c says a sampler kept 1 in 4 (threshold 0xc of 0x10): each span weighs 4.
	require.Equal(t, uint64(4*len(want)), w.DB.QueryUint64(t, "SELECT toUInt64(sum(SampleWeight)) FROM "+w.DB.Table("spans")))
	// The trace index holds every trace with its span count, time range and services. The
	// exporter writes it right after each block of spans, so it may trail them briefly.
	index := "SELECT TraceId, minMerge(StartUnixNano) AS i_start, maxMerge(EndUnixNano) AS i_end, " +
		"countMerge(SpanCount) AS i_count, arraySort(groupUniqArrayMerge(Services)) AS i_services FROM " +
		w.DB.Table("trace_index") + " GROUP BY TraceId"
	waitForCount(t, w.DB, "SELECT toUInt64(sum(i_count)) FROM ("+index+")", uint64(len(want)), 30*time.Second)
	require.Equal(t, uint64(6*4), w.DB.QueryUint64(t, "SELECT count() FROM ("+index+")"))
	// Each trace's entry agrees with its spans.
	require.Equal(t, uint64(6*4), w.DB.QueryUint64(t, "SELECT count() FROM ("+
		"SELECT TraceId, min(StartTimeUnixNano) AS s_start, max(toUInt64(StartTimeUnixNano + DurationNano)) AS s_end, "+
		"count() AS s_count, arraySort(groupUniqArray(toString(ServiceName))) AS s_services FROM "+w.DB.Table("spans")+
		" GROUP BY TraceId) ANY INNER JOIN ("+index+") USING TraceId "+
		"WHERE s_start = i_start AND s_end = i_end AND s_count = i_count AND s_services = i_services"))
}

func postOTLP(ctx context.Context, url, contentType, encoding string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s: %s", url, resp.Status, msg)
	}
	return nil
}

func gzipBytes(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func zstdBytes(t *testing.T, b []byte) []byte {
	enc, err := zstd.NewWriter(nil)
	require.NoError(t, err)
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}
