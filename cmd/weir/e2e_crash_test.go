package main

import (
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weirhq/weir/internal/chtest"
)

var (
	weirBinOnce sync.Once
	weirBin     string
	weirBinErr  error
	weirBinDir  string
)

// sharedWeirBinary builds cmd/weir once for every test of the package that runs it as a
// process; TestMain removes it.
func sharedWeirBinary(t *testing.T) string {
	t.Helper()
	chtest.SkipIfShort(t) // every caller needs a server; do not build for nothing in -short
	weirBinOnce.Do(func() {
		if weirBinDir, weirBinErr = os.MkdirTemp("", "weir-e2e-bin"); weirBinErr != nil {
			return
		}
		weirBin = filepath.Join(weirBinDir, "weir")
		out, err := exec.Command("go", "build", "-o", weirBin, ".").CombinedOutput()
		if err != nil {
			weirBinErr = err
			weirBin = string(out)
		}
	})
	require.NoError(t, weirBinErr, "go build: %s", weirBin)
	return weirBin
}

// weirProc is weir run as a process on the shipped config, so a test can kill it.
type weirProc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// startShipped runs bin on config/weir.yaml with env, and returns once it answers. Each of
// configs is one more --config (such as "yaml:exporters::clickhouse::retry::max_interval: 2s"),
// merged over the shipped file in order.
func startShipped(t *testing.T, bin string, env map[string]string, configs ...string) *weirProc {
	t.Helper()
	args := []string{"--config", "../../config/weir.yaml"}
	for _, c := range configs {
		args = append(args, "--config", c)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &weirProc{cmd: cmd, out: new(syncBuffer), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("weir output:\n%s", p.out)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("weir exited at start:\n%s", p.out)
		default:
		}
		conn, err := grpc.NewClient(env["WEIR_OTLP_GRPC_ENDPOINT"], grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		// Ready: it answers a request (an empty one is accepted without touching the journal).
		_, err = ptraceotlp.NewGRPCClient(conn).Export(context.Background(), ptraceotlp.NewExportRequest())
		_ = conn.Close()
		if err == nil {
			return p
		}
		require.True(t, time.Now().Before(deadline), "weir not answering after 60s:\n%s", p.out)
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *weirProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *weirProc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Errorf("weir did not stop within 60s of SIGTERM; killing it")
		p.kill()
	}
}

// crashRequest is request number n: 100 traces of 2 spans (a SERVER root and a CLIENT
// child), whose span IDs carry n in their first 4 bytes, ending now.
func crashRequest(n uint32) ptraceotlp.ExportRequest {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "crash-"+strconv.Itoa(int(n%3)))
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	end := time.Now()
	for i := uint32(0); i < 100; i++ {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint32(tid[:], n)
		binary.BigEndian.PutUint32(tid[4:], i)
		// The low 56 bits are the sampler's randomness (W3C): spread them.
		binary.BigEndian.PutUint64(tid[8:], (uint64(n)<<32|uint64(i))*0x9e3779b97f4a7c15)
		for k := uint32(0); k < 2; k++ {
			sp := spans.AppendEmpty()
			var sid pcommon.SpanID
			binary.BigEndian.PutUint32(sid[:], n)
			binary.BigEndian.PutUint32(sid[4:], 2*i+k)
			sp.SetTraceID(tid)
			sp.SetSpanID(sid)
			sp.SetName("op")
			sp.SetKind(ptrace.SpanKindServer)
			if k == 1 {
				var parent pcommon.SpanID
				binary.BigEndian.PutUint32(parent[:], n)
				binary.BigEndian.PutUint32(parent[4:], 2*i)
				sp.SetParentSpanID(parent)
				sp.SetKind(ptrace.SpanKindClient)
			}
			if i == 0 && k == 1 {
				// One error trace a request: the sampler keeps it whatever its share, so every
				// request received has spans stored.
				sp.Status().SetCode(ptrace.StatusCodeError)
			}
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-time.Millisecond)))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
		}
	}
	return ptraceotlp.NewExportRequestFromTraces(td)
}

// TestCrash_SIGKILLUnderLoad kills weir (shipped config) with SIGKILL while four senders keep
// it busy, starts it again on the same journal, and checks that nothing it acknowledged is
// lost or stored twice, and that red_1m counts every span it received exactly once: the
// journal replays what was received but not yet written. Every span kept: every acknowledged
// span is stored once. The shipped 10% sampling: the kept traces of every acknowledged
// request are stored whole, once, and RED counts all 200 spans of every request received.
func TestCrash_SIGKILLUnderLoad(t *testing.T) {
	for _, sampling := range []string{"1", "0.1"} {
		t.Run("baseline "+sampling, func(t *testing.T) { testCrash(t, sampling) })
	}
}

func testCrash(t *testing.T, sampling string) {
	bin := sharedWeirBinary(t)
	db := chtest.New(t)
	env := weirEnv(t, chtest.Endpoint(), "http://"+chtest.HTTPAddr(), db.Name, map[string]string{
		"WEIR_SAMPLING_BASELINE":     sampling,
		"WEIR_CLICKHOUSE_MAX_WAIT":   "200ms",
		"WEIR_SELF_METRICS_ENDPOINT": selfMetricsSink(t),
		"WEIR_LOG_LEVEL":             "info",
	})
	grpcAddr := env["WEIR_OTLP_GRPC_ENDPOINT"]
	w := startShipped(t, bin, env)

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	var next atomic.Uint32
	var mu sync.Mutex
	acked := map[uint32]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := next.Add(1)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := client.Export(ctx, crashRequest(n))
				cancel()
				if err == nil {
					mu.Lock()
					acked[n] = true
					mu.Unlock()
				} else {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(4 * time.Second)
	w.kill() // mid-load: requests in flight, an epoch half written, blocks unsent
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	mu.Lock()
	ackedBefore := len(acked)
	mu.Unlock()
	require.Greater(t, ackedBefore, 50, "the load before the kill")

	w = startShipped(t, bin, env)
	// The replay ran: the kill left requests whose blocks were not sealed yet.
	require.Eventually(t, func() bool { return strings.Contains(w.out.String(), `"requests_replayed"`) }, 30*time.Second, 50*time.Millisecond)
	require.NotContains(t, w.out.String(), `"requests_replayed": 0`, "the kill came after the last seal: nothing to replay")
	// Every acknowledged request is stored whole; requests journaled but not acknowledged (the
	// kill came between the journal and the answer) may be stored too, whole as well.
	perRequest := func() map[uint32]uint64 {
		rows, err := db.Conn.Query(context.Background(), "SELECT reinterpretAsUInt32(reverse(substring(SpanId, 1, 4))) AS n, count() FROM "+
			db.Table("spans")+" GROUP BY n")
		require.NoError(t, err)
		defer rows.Close()
		out := map[uint32]uint64{}
		for rows.Next() {
			var n uint32
			var c uint64
			require.NoError(t, rows.Scan(&n, &c))
			out[n] = c
		}
		return out
	}
	keepAll := sampling == "1"
	missing := 0
	var example []uint32
	assert.Eventually(t, func() bool {
		got := perRequest()
		missing, example = 0, example[:0]
		for n := range acked {
			if got[n] == 0 || keepAll && got[n] < 200 {
				missing++
				if len(example) < 5 {
					example = append(example, n)
				}
			}
		}
		return missing == 0
	}, 60*time.Second, 250*time.Millisecond)
	require.Zero(t, missing, "acknowledged requests not stored (yet) after the restart, of %d (e.g. %v)", len(acked), example)
	w.stop(t) // a clean stop decides what is held, seals RED's last counts and sends the rest
	got := perRequest()
	var stored uint64
	for n, c := range got {
		if keepAll {
			require.Equal(t, uint64(200), c, "request %d: stored %d of its 200 spans (more: stored twice)", n, c)
		} else {
			require.LessOrEqual(t, c, uint64(200), "request %d: stored %d spans of its 200", n, c)
		}
		stored += c
	}
	for n := range acked {
		require.Positive(t, got[n], "acknowledged request %d: nothing stored", n)
	}
	assert.Equal(t, stored, db.QueryUint64(t, "SELECT uniqExact(SpanId) FROM "+db.Table("spans")), "no span stored twice")
	assert.Zero(t, db.QueryUint64(t, "SELECT count() FROM (SELECT TraceId, count() AS c FROM "+db.Table("spans")+
		" GROUP BY TraceId HAVING c != 2)"), "kept traces are whole")
	// Each request received has a kept trace (its error trace): the requests with stored spans
	// are the requests received.
	assert.Equal(t, 200*uint64(len(got)), db.QueryUint64(t, "SELECT sum(Requests) FROM "+db.Table("red_1m")),
		"red_1m counts every span received exactly once")
	t.Logf("%d requests acknowledged before the kill; %d requests received, %d spans stored", ackedBefore, len(got), stored)
}

// TestMemory_FullLoadKeepAll sends as fast as four senders can to weir (shipped config, every
// span kept, memory_limit_mib 256) and checks its peak RSS stays within 1.25 x the limit: the
// heap is refused new requests above it rather than growing.
func TestMemory_FullLoadKeepAll(t *testing.T) {
	const limitMiB = 256
	bin := sharedWeirBinary(t)
	db := chtest.New(t)
	env := weirEnv(t, chtest.Endpoint(), "http://"+chtest.HTTPAddr(), db.Name, map[string]string{
		"WEIR_SAMPLING_BASELINE":     "1",
		"WEIR_CLICKHOUSE_MAX_WAIT":   "200ms",
		"WEIR_MEMORY_LIMIT_MIB":      strconv.Itoa(limitMiB),
		"WEIR_SELF_METRICS_ENDPOINT": selfMetricsSink(t),
	})
	grpcAddr := env["WEIR_OTLP_GRPC_ENDPOINT"]
	w := startShipped(t, bin, env)
	// Requests built before the load, so the senders only send.
	reqs := make([][]byte, 300)
	for i := range reqs {
		b, err := crashRequest(uint32(i + 1)).MarshalProto()
		require.NoError(t, err)
		reqs[i] = b
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	var sent, refused atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for k := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; ; i += 4 {
				select {
				case <-stop:
					return
				default:
				}
				var reply []byte
				err := conn.Invoke(context.Background(), traceExportMethod, &reqs[i%len(reqs)], &reply, grpc.ForceCodec(rawCodec{}))
				if err != nil {
					refused.Add(1)
					continue
				}
				sent.Add(1)
			}
		}()
	}
	var peak int64
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		peak = max(peak, vmHWM(t, w.cmd.Process.Pid))
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	peak = max(peak, vmHWM(t, w.cmd.Process.Pid))
	t.Logf("%d requests of 200 spans accepted in 20 s (%.0f spans/s), %d refused; peak RSS %d MiB (limit %d MiB)",
		sent.Load(), float64(sent.Load())*200/20, refused.Load(), peak>>20, limitMiB)
	require.Positive(t, sent.Load())
	assert.LessOrEqual(t, peak, int64(limitMiB)<<20*5/4, "peak RSS above 1.25 x memory_limit_mib")
}

// vmHWM is a process's peak resident set size in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}
