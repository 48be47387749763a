package chshard

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weirhq/weir/internal/chblock"
	"github.com/weirhq/weir/internal/chcluster"
	"github.com/weirhq/weir/internal/otlpgen"
	"github.com/weirhq/weir/internal/otlpwire"
)

// benchRows is the spans per insert: one large block, as weir sends them.
const benchRows = 200_000

// encodeSpans fills telemetrygen-shaped spans into one block for the Distributed table and
// into one block per shard (by Selector and TraceKey, as a writer that picks shards would),
// and returns them Native-encoded and LZ4-framed, as weir keeps and sends blocks.
func encodeSpans(b *testing.B, sel *Selector, shards int) (all []byte, perShard [][]byte) {
	b.Helper()
	req, err := ptraceotlp.NewExportRequestFromTraces(otlpgen.New(1).Telemetrygen(benchRows)).MarshalProto()
	require.NoError(b, err)
	whole := chblock.NewSpanBlock(false, time.UTC)
	parts := make([]*chblock.SpanBlock, shards)
	for i := range parts {
		parts[i] = chblock.NewSpanBlock(false, time.UTC)
	}
	var r otlpwire.Traces
	r.Reset(req)
	for r.NextResource() {
		svc := chblock.ServiceNameWire(r.Resource().Attrs)
		for r.NextScope() {
			for r.NextSpan() {
				sp := r.Span()
				if !sp.ValidIDs() {
					continue
				}
				whole.AppendWire(r.Resource(), svc, r.Scope(), sp, nil)
				parts[sel.Shard(TraceKey([16]byte(sp.TraceID)))].AppendWire(r.Resource(), svc, r.Scope(), sp, nil)
			}
		}
	}
	require.NoError(b, r.Err())
	frame := func(blk *chblock.SpanBlock) []byte {
		enc, err := blk.Encode(nil, 1)
		require.NoError(b, err)
		w := compress.NewWriter(compress.LevelZero, compress.LZ4)
		require.NoError(b, w.Compress(enc))
		return append([]byte(nil), w.Data...)
	}
	all = frame(whole)
	for _, p := range parts {
		perShard = append(perShard, frame(p))
	}
	return all, perShard
}

// postNative sends body as INSERT INTO table FORMAT Native to a server's HTTP interface.
func postNative(b *testing.B, endpoint, table string, body []byte, settings string) {
	u := endpoint + "/?decompress=1&query=" + url.QueryEscape("INSERT INTO "+table+" FORMAT Native") + settings
	resp, err := http.Post(u, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		b.Error(err)
		return
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.Errorf("insert into %s: %s: %s", table, resp.Status, msg)
	}
}

// cpuTime is the user and system CPU time of the process pid so far.
func cpuTime(b *testing.B, pid int) time.Duration {
	b.Helper()
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	require.NoError(b, err)
	// The command may hold spaces; the fields after its closing parenthesis do not.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, err := strconv.ParseInt(f[11], 10, 64)
	require.NoError(b, err)
	stime, err := strconv.ParseInt(f[12], 10, 64)
	require.NoError(b, err)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// BenchmarkInsert_DistributedVsLocal measures what picking the shard in weir saves: the
// same spans go as one block into the Distributed table (insert_distributed_sync=1, which
// splits it and forwards the other shard's rows), or as one block per shard straight into
// the first replica's spans_local, both at once. It reports the servers' CPU per insert
// (all four, replication included) besides the wall time.
func BenchmarkInsert_DistributedVsLocal(b *testing.B) {
	db := chcluster.New(b)
	migrated(b, db, 0)
	sel := selector(b, db)
	firsts := replicas(db, 1)
	all, perShard := encodeSpans(b, sel, len(firsts))
	var pids []int
	for _, n := range db.Nodes {
		pids = append(pids, db.Cluster.PID(b, n.Name))
	}
	serverCPU := func() time.Duration {
		var d time.Duration
		for _, pid := range pids {
			d += cpuTime(b, pid)
		}
		return d
	}
	run := func(b *testing.B, insert func()) {
		b.SetBytes(int64(len(all)))
		cpu := serverCPU()
		b.ResetTimer()
		for b.Loop() {
			insert()
		}
		b.StopTimer()
		// Let the other replicas fetch what was written, so their CPU counts too.
		for _, n := range replicas(db, 2) {
			syncReplica(b, db, n, "spans_local")
		}
		b.ReportMetric(float64((serverCPU()-cpu).Milliseconds())/float64(b.N), "server-cpu-ms/op")
		b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	}
	b.Run("distributed", func(b *testing.B) {
		run(b, func() {
			postNative(b, db.Cluster.Node(b, firsts[0]).HTTP, db.Name+".spans", all, "&insert_distributed_sync=1")
		})
	})
	b.Run("local", func(b *testing.B) {
		run(b, func() {
			var wg sync.WaitGroup
			for i, node := range firsts {
				wg.Go(func() { postNative(b, db.Cluster.Node(b, node).HTTP, db.Name+".spans_local", perShard[i], "") })
			}
			wg.Wait()
		})
	})
}
