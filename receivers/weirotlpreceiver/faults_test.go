package weirotlpreceiver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/weirhq/weir/exporters/clickhouseexporter"
	"github.com/weirhq/weir/extensions/journalextension"
	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/otlpgen"
	"github.com/weirhq/weir/internal/tailsample"
)

// export sends a raw request over gRPC.
func export(ctx context.Context, conn *grpc.ClientConn, req []byte) error {
	return conn.Invoke(ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
		&message{b: req}, new(message), grpc.ForceCodecV2(rawCodec{}))
}

func keepAll(c *Config) { c.TailSampling = configoptional.None[tailsample.Config]() }

// TestFault_JournalFull: ClickHouse away long enough for the blocks waiting for it to fill the
// journal. weir refuses new requests with Unavailable, saying why (the sender retries them
// later), takes nothing more in, and crashes not; once ClickHouse is back it drains and takes
// requests again. Every request it acknowledged is stored once.
func TestFault_JournalFull(t *testing.T) {
	proxy := chtest.NewProxy(t, chtest.HTTPAddr())
	p := startPipelineWith(t, pipelineOptions{
		receiver: keepAll,
		exporter: func(c *clickhouseexporter.Config) {
			c.HTTPEndpoints = []string{"http://" + proxy.Addr}
			c.Timeout = time.Second
			c.Retry = clickhouseexporter.RetryConfig{InitialInterval: 50 * time.Millisecond, MaxInterval: 200 * time.Millisecond}
		},
		journal: func(c *journalextension.Config) { c.MaxSizeMiB, c.SegmentSizeMiB = 3, 1 },
	})
	proxy.Down()
	conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx := context.Background()
	g := otlpgen.New(11)
	acked := 0
	var refusal error
	for i := 0; i < 2000 && refusal == nil; i++ {
		req, err := ptraceotlp.NewExportRequestFromTraces(g.Telemetrygen(500)).MarshalProto()
		require.NoError(t, err)
		if err := export(ctx, conn, req); err != nil {
			refusal = err
			break
		}
		acked += 500
	}
	require.Error(t, refusal, "3 MiB of blocks never filled")
	assert.Equal(t, codes.Unavailable, status.Code(refusal), "%v", refusal)
	assert.Contains(t, status.Convert(refusal).Message(), "the journal is full")
	t.Logf("%d spans acknowledged before the refusal: %v", acked, refusal)

	proxy.Up()
	// Back: the sender drains the journal, and requests are taken again.
	var last error
	require.Eventually(t, func() bool {
		req, _ := ptraceotlp.NewExportRequestFromTraces(g.Telemetrygen(500)).MarshalProto()
		last = export(ctx, conn, req)
		return last == nil
	}, 60*time.Second, 200*time.Millisecond, "still refused: %v", &last)
	acked += 500
	p.eventually(t, "SELECT count() FROM "+p.db.Table("spans"), uint64(acked))
	assert.Equal(t, uint64(acked), p.db.QueryUint64(t, "SELECT uniqExact(SpanId) FROM "+p.db.Table("spans")))
}

// TestFault_ManyConnectionsAndSlowSenders: 1000 idle connections to the gRPC port and 100
// OTLP/HTTP senders that trickle their bodies cost bounded memory, and a normal sender is
// still served promptly.
func TestFault_ManyConnectionsAndSlowSenders(t *testing.T) {
	p := startPipelineWith(t, pipelineOptions{receiver: keepAll})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := 0; i < 1000; i++ {
		c, err := net.Dial("tcp", p.grpcAddr)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	slowCtx, stopSlow := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr := &slowReader{ctx: slowCtx, left: 1 << 20}
			req, _ := http.NewRequestWithContext(slowCtx, http.MethodPost, "http://"+p.httpAddr+"/v1/traces", pr)
			req.Header.Set("Content-Type", contentProtobuf)
			req.ContentLength = 1 << 20
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	time.Sleep(2 * time.Second)

	conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	g := otlpgen.New(12)
	for i := 0; i < 20; i++ {
		req, err := ptraceotlp.NewExportRequestFromTraces(g.Telemetrygen(500)).MarshalProto()
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		require.NoError(t, export(ctx, conn, req), "request %d among the idle and slow connections", i)
		cancel()
		require.Less(t, time.Since(start), 2*time.Second, "request %d took long", i)
	}
	runtime.GC()
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	growth := int64(during.HeapInuse) - int64(before.HeapInuse)
	t.Logf("heap in use grew %d MiB with 1000 idle connections and 100 slow senders", growth>>20)
	assert.Less(t, growth, int64(128<<20), "memory for idle and slow connections is not bounded")
	stopSlow()
	wg.Wait()
	p.eventually(t, "SELECT count() FROM "+p.db.Table("spans"), 20*500)
}

// slowReader is a request body that gives one byte every 50 ms.
type slowReader struct {
	ctx  context.Context
	left int
}

func (r *slowReader) Read(b []byte) (int, error) {
	if r.left == 0 {
		return 0, fmt.Errorf("done")
	}
	select {
	case <-r.ctx.Done():
		return 0, r.ctx.Err()
	case <-time.After(50 * time.Millisecond):
	}
	b[0] = 0x0a
	r.left--
	return 1, nil
}
