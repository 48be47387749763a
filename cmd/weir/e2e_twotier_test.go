package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/testnet"
)

// TestTwoTier_RoutesWholeTracesToOneSampler runs the example two-tier deployment
// (config/examples/two-tier) as real processes: one router in front of two samplers, each
// sampler writing into its own ClickHouse database. Every trace's spans are sent in two
// requests; the router must bring them together at one sampler, so that each stored trace is
// whole, no trace is stored twice, and every error trace is kept.
func TestTwoTier_RoutesWholeTracesToOneSampler(t *testing.T) {
	t.Parallel()
	bin := buildWeir(t)
	const examples = "../../config/examples/two-tier/"

	var samplerAddrs []string
	var dbs []*chtest.DB
	for i := 0; i < 2; i++ {
		db := chtest.New(t)
		addr := testnet.FreeAddr(t)
		startWeirProcess(t, bin, "sampler-"+strconv.Itoa(i+1), examples+"sampler.yaml", addr,
			"WEIR_JOURNAL_DIR="+filepath.Join(t.TempDir(), "journal"),
			"WEIR_CLICKHOUSE_ENDPOINT="+chtest.Endpoint(),
			"WEIR_CLICKHOUSE_HTTP_ENDPOINT=http://"+chtest.HTTPAddr(),
			"WEIR_CLICKHOUSE_DATABASE="+db.Name,
			"WEIR_CLICKHOUSE_USER=default",
			"WEIR_CLICKHOUSE_PASSWORD=",
			"WEIR_EPOCH=200ms",
			"WEIR_SAMPLING_IDLE_TIME=500ms",
			"WEIR_SAMPLING_MAX_WAIT=10s",
			"WEIR_SAMPLING_BASELINE=0.5",
		)
		samplerAddrs = append(samplerAddrs, addr)
		dbs = append(dbs, db)
	}
	routerAddr := testnet.FreeAddr(t)
	startWeirProcess(t, bin, "router", examples+"router.yaml", routerAddr,
		"WEIR_SAMPLER_ENDPOINTS=["+samplerAddrs[0]+", "+samplerAddrs[1]+"]",
	)

	// 600 traces of 4 spans: two children in a first round of requests, the third child and
	// the root in a second round, batched differently. Every tenth trace has an error.
	const traces = 600
	rng := rand.New(rand.NewPCG(21, 22))
	ids := make([]pcommon.TraceID, traces)
	sent := make(map[pcommon.TraceID]bool, traces)
	var errorIDs []pcommon.TraceID
	for i := range ids {
		binary.BigEndian.PutUint64(ids[i][:8], rng.Uint64())
		binary.BigEndian.PutUint64(ids[i][8:], rng.Uint64())
		sent[ids[i]] = true
		if i%10 == 0 {
			errorIDs = append(errorIDs, ids[i])
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := dialGRPC(t, routerAddr)
	client := ptraceotlp.NewGRPCClient(conn)
	now := time.Now()
	send := func(batch int, spanNums ...int) {
		for start := 0; start < traces; start += batch {
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", "twotier")
			spans := rs.ScopeSpans().AppendEmpty().Spans()
			for i := start; i < min(start+batch, traces); i++ {
				for _, k := range spanNums {
					sp := spans.AppendEmpty()
					sp.SetTraceID(ids[i])
					sp.SetSpanID(pcommon.SpanID{byte(k + 1), 0, byte(i >> 8), byte(i)})
					if k > 0 {
						sp.SetParentSpanID(pcommon.SpanID{1, 0, byte(i >> 8), byte(i)})
					}
					sp.SetName("op-" + strconv.Itoa(k))
					sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
					sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(10 * time.Millisecond)))
					if k == 1 && i%10 == 0 {
						sp.Status().SetCode(ptrace.StatusCodeError)
					}
				}
			}
			_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
			require.NoError(t, err)
		}
	}
	send(100, 1, 2) // children first: a trace is not decided before its root has ended
	send(75, 3, 0)

	// Wait until every error trace is stored, then until both databases stop growing.
	stored := func() []map[pcommon.TraceID]uint64 {
		return []map[pcommon.TraceID]uint64{storedTraces(t, dbs[0]), storedTraces(t, dbs[1])}
	}
	deadline := time.Now().Add(25 * time.Second)
	var got []map[pcommon.TraceID]uint64
	for {
		got = stored()
		missing := 0
		for _, id := range errorIDs {
			if got[0][id]+got[1][id] < 4 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d error traces are not stored whole after 25s", missing, len(errorIDs))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for last, quiet := spanTotal(got), 0; quiet < 6 && time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
		got = stored()
		if n := spanTotal(got); n == last {
			quiet++
		} else {
			last, quiet = n, 0
		}
	}

	kept := 0
	for i, m := range got {
		assert.NotEmpty(t, m, "sampler-%d stored no trace: the router did not spread traces", i+1)
		for id, n := range m {
			assert.True(t, sent[id], "sampler-%d stored trace %s that was never sent", i+1, id)
			assert.Equal(t, uint64(4), n, "sampler-%d stored trace %s with %d of 4 spans", i+1, id, n)
			if _, both := got[1-i][id]; both && i == 0 {
				t.Errorf("trace %s is stored by both samplers", id)
			}
			kept++
		}
	}
	for _, id := range errorIDs {
		assert.Equal(t, uint64(4), got[0][id]+got[1][id], "error trace %s", id)
	}
	// 60 error traces plus about half of the other 540 (binomial, standard deviation ~12).
	t.Logf("stored %d + %d of %d traces", len(got[0]), len(got[1]), traces)
	assert.InDelta(t, 60+270, kept, 60)
}

// storedTraces returns the span count per trace ID in db.spans; empty before the exporter
// has created the table.
func storedTraces(t *testing.T, db *chtest.DB) map[pcommon.TraceID]uint64 {
	t.Helper()
	out := map[pcommon.TraceID]uint64{}
	if db.QueryUint64(t, "SELECT count() FROM system.tables WHERE database = '"+db.Name+"' AND name = 'spans'") == 0 {
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := db.Conn.Query(ctx, "SELECT TraceId, count() FROM "+db.Table("spans")+" GROUP BY TraceId")
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var tid string
		var n uint64
		require.NoError(t, rows.Scan(&tid, &n))
		var id pcommon.TraceID
		require.Len(t, tid, len(id))
		copy(id[:], tid)
		out[id] = n
	}
	require.NoError(t, rows.Err())
	return out
}

func spanTotal(ms []map[pcommon.TraceID]uint64) uint64 {
	var n uint64
	for _, m := range ms {
		for _, c := range m {
			n += c
		}
	}
	return n
}

// buildWeir builds the weir binary of this package into a temporary directory.
func buildWeir(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "weir")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build:\n%s", out)
	return bin
}

// syncBuffer is a bytes.Buffer safe for a process's output copier and the test together.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startWeirProcess runs `bin --config config` with the given environment on top of the test's
// (fresh ports for OTLP HTTP, health_check and the metrics endpoint are added) and waits until
// it accepts connections on grpcAddr, which it must be configured to listen on. A cleanup
// stops it (SIGTERM, SIGKILL after 10s) whatever the outcome, and logs its output if the
// test failed.
func startWeirProcess(t *testing.T, bin, name, config, grpcAddr string, env ...string) {
	t.Helper()
	cmd := exec.Command(bin, "--config", config)
	cmd.Env = append(os.Environ(),
		"WEIR_OTLP_GRPC_ENDPOINT="+grpcAddr,
		"WEIR_OTLP_HTTP_ENDPOINT="+testnet.FreeAddr(t),
		"WEIR_HEALTH_CHECK_ENDPOINT="+testnet.FreeAddr(t),
		"WEIR_METRICS_HOST=127.0.0.1",
		"WEIR_METRICS_PORT="+strconv.Itoa(testnet.FreePort(t)),
	)
	cmd.Env = append(cmd.Env, env...)
	out := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	// Should the test binary die without its cleanups, the process dies with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start(), "start %s", name)
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("%s did not stop within 10s of SIGTERM; killing it", name)
				_ = cmd.Process.Kill()
				<-done
			}
		}
		if t.Failed() {
			t.Logf("%s (%v) output:\n%s", name, waitErr, out)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("%s exited before listening on %s: %v\n%s", name, grpcAddr, waitErr, out)
		default:
		}
		if c, err := net.DialTimeout("tcp", grpcAddr, 200*time.Millisecond); err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not listening on %s after 30s", name, grpcAddr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
