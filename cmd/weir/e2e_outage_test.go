package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weirhq/weir/internal/testnet"
)

// TestOutage_ClickHouseAwayAndBack stops weir's ClickHouse for 30 s while spans keep
// arriving, starts it again on the same data and ports, and checks that every span the
// receiver acknowledged ends up stored: the persistent queue absorbs the outage and the
// retries resume once the server is back.
//
// It uses a private server (scripts/clickhouse.sh with its own WEIR_HOME and ports), never
// the shared one, which other tests keep using.
func TestOutage_ClickHouseAwayAndBack(t *testing.T) {
	checkNoExporterGoroutines(t) // first cleanup, so it runs last
	ch := startPrivateClickHouse(t)
	w := startWeir(t, weirOptions{Endpoint: "tcp://" + ch.Addr, HTTPEndpoint: "http://" + ch.HTTPAddr})
	db := w.DB.Name // created on the shared server by startWeir; on ours by the exporter

	conn, err := grpc.NewClient(w.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	s := &outageSender{client: ptraceotlp.NewGRPCClient(conn), batch: 200}
	stop := s.run(100 * time.Millisecond)
	t.Cleanup(stop) // stops the sender if the test ends early; harmless when already stopped

	// Before the outage: the pipeline works end to end.
	time.Sleep(3 * time.Second)
	require.Eventually(t, func() bool {
		n, _, err := ch.spanCounts(db)
		return err == nil && n > 0
	}, 10*time.Second, 250*time.Millisecond, "no span reached ClickHouse before the outage")

	// Outage: at least 30 s without a server; the receiver must keep accepting.
	stopping := time.Now()
	ch.stop(t)
	down := time.Now()
	ackedBefore, rejectedBefore := s.acked.Load(), s.rejected.Load()
	time.Sleep(30 * time.Second)
	ackedDuring, rejectedDuring := s.acked.Load()-ackedBefore, s.rejected.Load()-rejectedBefore
	starting := time.Now()
	ch.start(t)
	up := time.Now()
	t.Logf("outage %s (stop took %s, start %s): %d spans acknowledged, %d rejected while ClickHouse was down",
		up.Sub(down).Round(time.Millisecond), down.Sub(stopping).Round(time.Millisecond),
		up.Sub(starting).Round(time.Millisecond), ackedDuring, rejectedDuring)
	assert.Positive(t, ackedDuring, "receiver accepted nothing while ClickHouse was down")
	assert.Zero(t, rejectedDuring, "receiver rejected spans while ClickHouse was down (last error: %v)", s.lastErr())

	time.Sleep(3 * time.Second)
	stop()
	sendingStopped := time.Now()
	acked, rejected := s.acked.Load(), s.rejected.Load()
	t.Logf("sent %d spans in total: %d acknowledged, %d rejected", s.sent.Load(), acked, rejected)
	require.Zero(t, rejected, "receiver rejected spans (last error: %v)", s.lastErr())

	// Drain: every acknowledged span must reach ClickHouse.
	var count, uniq uint64
	var lastErr error
	deadline := time.Now().Add(60 * time.Second)
	for {
		count, uniq, lastErr = ch.spanCounts(db)
		if lastErr == nil && uniq >= uint64(acked) {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	drained := time.Now()
	t.Logf("stored %d rows, %d unique spans of %d acknowledged; drained %s after the server came back, %s after sending stopped",
		count, uniq, acked, drained.Sub(up).Round(time.Millisecond), drained.Sub(sendingStopped).Round(time.Millisecond))
	require.NoError(t, lastErr, "count spans in %s.spans", db)
	require.Equal(t, uint64(acked), uniq, "unique spans in ClickHouse vs spans acknowledged by weir (lost %d)",
		int64(acked)-int64(uniq))
	if count > uniq {
		t.Logf("duplicates: %d rows stored more than once (a retried INSERT that had reached the server)", count-uniq)
	}
}

// outageSender exports batches of spans with unique span IDs over OTLP gRPC and counts what
// the receiver acknowledged.
type outageSender struct {
	client ptraceotlp.GRPCClient
	batch  int

	next     uint64 // number of the next span; span IDs are 1, 2, 3, ...
	sent     atomic.Int64
	acked    atomic.Int64
	rejected atomic.Int64
	mu       sync.Mutex
	err      error // last Export error
}

// run sends a batch every interval until the returned stop is called; stop waits for the
// batch in flight and may be called more than once.
func (s *outageSender) run(interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			s.sendBatch(ctx)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

func (s *outageSender) sendBatch(ctx context.Context) {
	td := s.traces()
	n := int64(td.SpanCount())
	// Not ctx: a batch that started goes to the end, so it is either acknowledged or not.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	s.sent.Add(n)
	if _, err := s.client.Export(callCtx, ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
		s.rejected.Add(n)
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		return
	}
	s.acked.Add(n)
}

func (s *outageSender) lastErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// traces builds the next batch: one service, span IDs from a counter, three spans a trace.
func (s *outageSender) traces() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "outage-test")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("weir.test/outage")
	now := time.Now()
	for i := 0; i < s.batch; i++ {
		s.next++
		var tid [16]byte
		var sid [8]byte
		tid[0] = 0x0a
		binary.BigEndian.PutUint64(tid[8:], (s.next+2)/3)
		binary.BigEndian.PutUint64(sid[:], s.next)
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		sp.SetName("GET /outage")
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
		sp.Attributes().PutInt("seq", int64(s.next))
	}
	return td
}

// privateClickHouse is a ClickHouse server of one test, run by scripts/clickhouse.sh with its
// own WEIR_HOME and ports.
type privateClickHouse struct {
	Addr     string // native protocol, host:port
	HTTPAddr string // HTTP interface, host:port
	script   string
	home     string
	env      []string

	mu   sync.Mutex
	pids []int // every server process the script started
}

// startPrivateClickHouse starts a server and registers a cleanup that stops it, whatever
// the test's outcome, and checks that none of its processes survive.
func startPrivateClickHouse(t *testing.T) *privateClickHouse {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "clickhouse.sh"))
	require.NoError(t, err)
	tcp := testnet.FreePort(t)
	httpPort := testnet.FreePort(t)
	for httpPort == tcp {
		httpPort = testnet.FreePort(t)
	}
	home := t.TempDir()
	ch := &privateClickHouse{
		Addr:     "127.0.0.1:" + strconv.Itoa(tcp),
		HTTPAddr: "127.0.0.1:" + strconv.Itoa(httpPort),
		script:   script,
		home:     home,
		env: append(os.Environ(),
			"WEIR_HOME="+home,
			"WEIR_CLICKHOUSE_TCP_PORT="+strconv.Itoa(tcp),
			"WEIR_CLICKHOUSE_HTTP_PORT="+strconv.Itoa(httpPort),
		),
	}
	// Registered before start so that a start that fails halfway is cleaned up too.
	t.Cleanup(func() {
		if out, err := ch.run("stop"); err != nil {
			t.Errorf("scripts/clickhouse.sh stop: %v\n%s", err, out)
		}
		for _, pid := range ch.pids {
			if processAlive(pid) {
				t.Errorf("private ClickHouse pid %d still alive after stop; killing it", pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	ch.start(t)
	return ch
}

// start runs `clickhouse.sh start` and fails the test with the script's output if it fails.
func (ch *privateClickHouse) start(t *testing.T) {
	t.Helper()
	out, err := ch.run("start")
	if err != nil {
		t.Fatalf("scripts/clickhouse.sh start (WEIR_HOME=%s, %s): %v\n%s", ch.home, ch.Addr, err, out)
	}
	b, err := os.ReadFile(filepath.Join(ch.home, "clickhouse-server.pid"))
	if err != nil {
		t.Fatalf("read pid file of private ClickHouse: %v\nscript output:\n%s", err, out)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file of private ClickHouse: %v", err)
	}
	ch.mu.Lock()
	ch.pids = append(ch.pids, pid)
	ch.mu.Unlock()
}

// stop runs `clickhouse.sh stop` and checks that the server is gone.
func (ch *privateClickHouse) stop(t *testing.T) {
	t.Helper()
	out, err := ch.run("stop")
	if err != nil {
		t.Fatalf("scripts/clickhouse.sh stop: %v\n%s", err, out)
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	for _, pid := range ch.pids {
		// The script's last resort is SIGKILL, which a busy machine takes a moment to carry out.
		for deadline := time.Now().Add(10 * time.Second); processAlive(pid) && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		if processAlive(pid) {
			t.Fatalf("private ClickHouse pid %d still alive after stop:\n%s", pid, out)
		}
	}
}

func (ch *privateClickHouse) run(arg string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ch.script, arg)
	cmd.Env = ch.env
	cmd.WaitDelay = 5 * time.Second // in case a child keeps the output pipe open
	return cmd.CombinedOutput()
}

// spanCounts returns count() and uniqExact(SpanId) of db.spans. It opens a connection per
// call, so no pooled connection outlives a server restart.
func (ch *privateClickHouse) spanCounts(db string) (count, uniq uint64, err error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{ch.Addr},
		Auth:        clickhouse.Auth{Database: "default", Username: "default"},
		DialTimeout: 2 * time.Second,
	})
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = conn.QueryRow(ctx, "SELECT count(), uniqExact(SpanId) FROM "+db+".spans").Scan(&count, &uniq)
	return count, uniq, err
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z' && b[i+2] != 'X'
	}
	return true
}

// checkNoExporterGoroutines registers a cleanup that fails the test when goroutines of the
// exporter, the exporterhelper queue or the ClickHouse driver that started during the test
// are still running after everything else was cleaned up (the collector shut down, the
// connections closed). Register it first, so that its cleanup runs last.
func checkNoExporterGoroutines(t *testing.T) {
	t.Helper()
	before := map[string]bool{}
	for _, g := range exporterGoroutines() {
		before[goroutineID(g)] = true
	}
	t.Cleanup(func() {
		var left []string
		deadline := time.Now().Add(10 * time.Second)
		for {
			left = left[:0]
			for _, g := range exporterGoroutines() {
				if !before[goroutineID(g)] {
					left = append(left, g)
				}
			}
			if len(left) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if len(left) > 0 {
			t.Errorf("%d exporter goroutines still running after shutdown:\n%s",
				len(left), strings.Join(left, "\n\n"))
		}
	})
}

// exporterGoroutines returns the stacks of goroutines running code of the exporter, the
// exporterhelper or the ClickHouse driver.
func exporterGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, mark := range []string{
			"weir/exporters/clickhouseexporter.",
			"weir/internal/ingest.",
			"weir/internal/chinsert.",
			"exporter/exporterhelper/",
			"ClickHouse/clickhouse-go/",
			"ClickHouse/ch-go/",
		} {
			if strings.Contains(g, mark) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// goroutineID returns "N" of a stack that starts with "goroutine N [state]:".
func goroutineID(stack string) string {
	id, _, _ := strings.Cut(strings.TrimPrefix(stack, "goroutine "), " ")
	return id
}
