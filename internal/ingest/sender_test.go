package ingest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/weirhq/weir/internal/chblock"
	"github.com/weirhq/weir/internal/chinsert"
	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/otlpgen"
	"github.com/weirhq/weir/internal/red"
	"github.com/weirhq/weir/rollup"
)

// schemaDB is a test database with weir's schema.
func schemaDB(t *testing.T) *chtest.DB {
	t.Helper()
	db := chtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := rollup.Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)
	return db
}

func newClient(t *testing.T, addr string, timeout time.Duration) *chinsert.Client {
	t.Helper()
	c, err := chinsert.New(chinsert.Options{Endpoints: []string{"http://" + addr}, RequestTimeout: timeout,
		Backoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func startSender(t *testing.T, s *Store, c *chinsert.Client, db string, logger *zap.Logger) *Sender {
	t.Helper()
	set := componenttest.NewNopTelemetrySettings()
	if logger != nil {
		set.Logger = logger
	}
	snd, err := NewSender(s, c, SenderConfig{Database: db, RetryInitial: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		MaxBatchWait: 50 * time.Millisecond,
		Check:        map[string]bool{"spans": true, "red_1m": true, "edges_1m": true}}, set)
	require.NoError(t, err)
	snd.Start()
	return snd
}

// drain waits until the sender has no block left, and stops it.
func drain(t *testing.T, snd *Sender, within time.Duration) {
	t.Helper()
	require.Eventually(t, snd.Idle, within, 20*time.Millisecond, "blocks still queued")
	require.NoError(t, snd.Shutdown(context.Background()))
}

type tableCounts struct {
	spans, uniqSpans, requests, indexed uint64
}

func counts(t *testing.T, db *chtest.DB) tableCounts {
	t.Helper()
	return tableCounts{
		spans:     db.QueryUint64(t, "SELECT count() FROM "+db.Table("spans")),
		uniqSpans: db.QueryUint64(t, "SELECT uniqExact(TraceId, SpanId) FROM "+db.Table("spans")),
		requests:  db.QueryUint64(t, "SELECT sum(Requests) FROM "+db.Table("red_1m")),
		indexed:   db.QueryUint64(t, "SELECT countMerge(SpanCount) FROM "+db.Table("trace_index")),
	}
}

// storedOnce checks that db holds total spans, each once, each counted once in red_1m, and
// returns the counts.
func storedOnce(t *testing.T, db *chtest.DB, total int) tableCounts {
	t.Helper()
	got := counts(t, db)
	assert.Equal(t, uint64(total), got.spans)
	assert.Equal(t, uint64(total), got.uniqSpans, "no span stored twice")
	assert.Equal(t, uint64(total), got.requests, "red_1m")
	return got
}

// The engine's blocks reach ClickHouse: every span stored once, counted once in red_1m,
// indexed once; the blocks log is truncated behind the sender.
func TestSender_EngineToClickHouse(t *testing.T) {
	db := schemaDB(t)
	s := openStore(t, t.TempDir())
	defer s.Close()
	snd := startSender(t, s, newClient(t, chtest.HTTPAddr(), 30*time.Second), db.Name, nil)
	e := startEngine(t, s, EngineConfig{RED: red.DefaultConfig(), Epoch: 50 * time.Millisecond})
	reqs, total := requests(t, 3, 40, 256)
	for _, r := range reqs {
		require.NoError(t, e.Traces(context.Background(), r))
	}
	require.NoError(t, e.Shutdown(context.Background()))
	drain(t, snd, 30*time.Second)

	got := storedOnce(t, db, total)
	assert.Equal(t, uint64(total), got.indexed, "trace_index")
	assert.Less(t, s.Blocks.Size(), int64(1<<20), "the blocks log is truncated behind the sender")
}

// ClickHouse away: blocks wait, nothing is refused, and once it is back every block goes in
// once. A server that accepts connections and never answers costs timeouts only.
func TestSender_OutageAndHang(t *testing.T) {
	db := schemaDB(t)
	proxy := chtest.NewProxy(t, chtest.HTTPAddr())
	s := openStore(t, t.TempDir())
	defer s.Close()
	snd := startSender(t, s, newClient(t, proxy.Addr, 300*time.Millisecond), db.Name, nil)
	e := startEngine(t, s, EngineConfig{RED: red.DefaultConfig(), Epoch: 30 * time.Millisecond})
	reqs, total := requests(t, 4, 60, 128)
	base, peak, dump := runtime.NumGoroutine(), 0, ""
	for i, r := range reqs {
		switch i {
		case 10:
			proxy.Down()
		case 30:
			proxy.Hang()
		case 50:
			proxy.Up()
		}
		require.NoError(t, e.Traces(context.Background(), r))
		time.Sleep(10 * time.Millisecond)
		if i >= 30 && i < 50 {
			time.Sleep(60 * time.Millisecond) // over a second of hanging: a few timeouts
			if n := runtime.NumGoroutine(); n > peak {
				peak = n
				if peak >= base+20 && dump == "" {
					var b strings.Builder
					_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
					dump = b.String()
				}
			}
		}
	}
	// A server that never answers costs timeouts, not goroutines: the workers wait on it, and
	// nothing piles up behind them.
	assert.Less(t, peak, base+20, "goroutines while ClickHouse hangs: %d, before %d; at the peak:\n%s", peak, base, dump)
	require.NoError(t, e.Shutdown(context.Background()))
	drain(t, snd, 30*time.Second)
	storedOnce(t, db, total)
}

// TestSender_AuthFailureKeepsBlocks: when ClickHouse refuses weir's credentials (a password
// rotated under a running weir), no block is set aside: they all wait in the journal, and a
// sender with the right password, after a restart, stores every one of them once.
func TestSender_AuthFailureKeepsBlocks(t *testing.T) {
	db := schemaDB(t)
	dir := t.TempDir()
	s := openStore(t, dir)
	core, logs := observer.New(zap.WarnLevel)
	bad, err := chinsert.New(chinsert.Options{Endpoints: []string{"http://" + chtest.HTTPAddr()}, Username: "default",
		Password: "not-the-password", RequestTimeout: 10 * time.Second})
	require.NoError(t, err)
	snd := startSender(t, s, bad, db.Name, zap.New(core))
	e := startEngine(t, s, EngineConfig{RED: red.DefaultConfig(), Epoch: 30 * time.Millisecond})
	reqs, total := requests(t, 5, 10, 64)
	for _, r := range reqs {
		require.NoError(t, e.Traces(context.Background(), r))
	}
	require.NoError(t, e.Shutdown(context.Background()))
	require.Eventually(t, func() bool {
		return logs.FilterMessage("ClickHouse refuses weir's user or its grants; blocks wait in the journal until that is fixed").Len() > 0
	}, 10*time.Second, 20*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // more attempts, none of which may set a block aside
	require.NoError(t, snd.Shutdown(context.Background()))
	_ = bad.Close()
	assert.False(t, snd.Idle(), "the blocks are still queued")
	assert.Zero(t, logs.FilterMessage("ClickHouse refused a block for good; set aside, not retried").Len())
	files, err := filepath.Glob(filepath.Join(dir, "rejected", "*.native"))
	require.NoError(t, err)
	assert.Empty(t, files, "nothing set aside")
	assert.Zero(t, db.QueryUint64(t, "SELECT count() FROM "+db.Table("spans")))
	require.NoError(t, s.Close())

	// Restarted with the right password: everything goes in, once.
	s = openStore(t, dir)
	defer s.Close()
	snd = startSender(t, s, newClient(t, chtest.HTTPAddr(), 30*time.Second), db.Name, nil)
	drain(t, snd, 30*time.Second)
	storedOnce(t, db, total)
}

// A block whose INSERT went in but whose SENT record was not written (the process died in
// between) is found by its InsertId on the next start and not stored again.
func TestSender_InDoubtAfterCrash(t *testing.T) {
	db := schemaDB(t)
	s := openStore(t, t.TempDir())
	defer s.Close()
	c := newClient(t, chtest.HTTPAddr(), 30*time.Second)

	b := chblock.NewSpanBlock(false, time.UTC)
	td := otlpgen.New(5).Telemetrygen(300)
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		appendPdata(b, rss.At(i))
	}
	id := s.NextInsertID()
	data, err := b.Encode(nil, id)
	require.NoError(t, err)
	lo, hi := b.TimeRange()
	pos, err := s.AppendBlock(&Block{InsertID: id, Rows: b.Rows(), MinTime: lo, MaxTime: hi, Table: "spans"}, data)
	require.NoError(t, err)
	// The last run: SENDING, the INSERT, then death before SENT.
	_, err = s.Blocks.Append(RecSending, appendLE64(nil, uint64(pos)))
	require.NoError(t, err)
	require.NoError(t, c.Insert(context.Background(), chinsert.InsertRequest{Database: db.Name, Table: "spans", Body: data}))

	snd := startSender(t, s, c, db.Name, nil)
	drain(t, snd, 10*time.Second)
	assert.Equal(t, uint64(b.Rows()), counts(t, db).spans, "found, not sent again")
}

func appendPdata(b *chblock.SpanBlock, rs ptrace.ResourceSpans) {
	service := ""
	if v, ok := rs.Resource().Attributes().Get("service.name"); ok {
		service = v.AsString()
	}
	for j := 0; j < rs.ScopeSpans().Len(); j++ {
		ss := rs.ScopeSpans().At(j)
		for k := 0; k < ss.Spans().Len(); k++ {
			b.AppendPdata(rs, ss, ss.Spans().At(k), service)
		}
	}
}

// ClickHouse refusing a table's blocks for good (it was dropped) holds up nothing else: the
// block is set aside with a clear log, kept in rejected/, and the other tables' blocks go in.
func TestSender_PermanentErrorSetAside(t *testing.T) {
	db := schemaDB(t)
	db.Exec(t, "DROP TABLE "+db.Table("edges_1m"))
	dir := t.TempDir()
	s := openStore(t, dir)
	defer s.Close()
	core, logs := observer.New(zap.ErrorLevel)
	snd := startSender(t, s, newClient(t, chtest.HTTPAddr(), 30*time.Second), db.Name, zap.New(core))
	e := startEngine(t, s, EngineConfig{RED: red.DefaultConfig(), Epoch: 50 * time.Millisecond})
	reqs, total := requests(t, 6, 10, 256)
	for _, r := range reqs {
		require.NoError(t, e.Traces(context.Background(), r))
	}
	require.NoError(t, e.Shutdown(context.Background()))
	drain(t, snd, 30*time.Second)

	got := counts(t, db)
	assert.Equal(t, uint64(total), got.spans)
	assert.Equal(t, uint64(total), got.requests)
	entries := logs.FilterMessage("ClickHouse refused a block for good; set aside, not retried").All()
	require.NotEmpty(t, entries)
	assert.Equal(t, "edges_1m", entries[0].ContextMap()["table"])
	assert.EqualValues(t, chinsert.CodeUnknownTable, entries[0].ContextMap()["code"])
	files, err := filepath.Glob(filepath.Join(dir, "rejected", "*-edges_1m-*.native"))
	require.NoError(t, err)
	assert.Len(t, files, len(entries))
	note, err := os.ReadFile(files[0][:len(files[0])-len(".native")] + ".txt")
	require.NoError(t, err)
	assert.Contains(t, string(note), "UNKNOWN_TABLE")
}

// TestSender_CheckErrorIsRetried: the query that looks for blocks in doubt fails with a code
// that would set an INSERT's block aside (158 TOO_MANY_ROWS, from a max_rows_to_read on weir's
// user). The block was never refused: it waits to be retried, nothing is set aside. (The
// result is settled by hand: no server answers the lookup so.)
func TestSender_CheckErrorIsRetried(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "store"))
	defer s.Close()
	c, err := chinsert.New(chinsert.Options{Endpoints: []string{"http://127.0.0.1:1"}})
	require.NoError(t, err)
	defer c.Close()
	snd, err := NewSender(s, c, SenderConfig{Database: "db", RetryInitial: time.Second, RetryMax: time.Second,
		Check: map[string]bool{"spans": true}}, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	q := &queued{table: "spans", rows: 1, ready: true, group: 1}
	refused := &chinsert.Error{Code: 158, Message: "Limit for rows (controlled by 'max_rows_to_read' setting) exceeded"}
	require.True(t, chinsert.IsPermanent(refused), "the code alone would set an INSERT's block aside")
	snd.settle(result{batch: []*queued{q}, err: &checkError{fmt.Errorf("check: %w", refused)}})
	assert.False(t, q.settled, "not set aside")
	assert.False(t, q.solo)
	assert.NotZero(t, snd.retryAt["spans"], "retried later")
	assert.Equal(t, uint64(1), q.group, "still in doubt")
}

// TestStore_InsertIDsNotReusedAfterRestart: IDs taken for blocks whose appends failed (a full
// blocks log) do not come back after a restart, where a counter started at the log's end
// would hand them out again, to blocks the in-doubt lookup would then find already in.
func TestStore_InsertIDsNotReusedAfterRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	seen := map[uint64]bool{}
	for run := range 3 {
		s := openStore(t, dir)
		for range 1000 { // blocks that did not fit: IDs taken, the log's end unmoved
			id := s.NextInsertID()
			require.False(t, seen[id], "run %d: ID %x handed out again", run, id)
			seen[id] = true
		}
		require.NoError(t, s.Close())
	}
}

// TestSender_OutageWritesFewSendingRecords: while ClickHouse is away, every attempt fails;
// the blocks are listed in one SENDING record, not one per attempt (those filled the blocks
// log's reserve in a long outage, and then no INSERT could start even with ClickHouse back).
func TestSender_OutageWritesFewSendingRecords(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	e := startEngine(t, s, EngineConfig{Epoch: time.Hour})
	ctx := context.Background()
	reqs, _ := requests(t, 6, 3, 64)
	for _, r := range reqs {
		require.NoError(t, e.Traces(ctx, r))
	}
	require.NoError(t, e.Shutdown(ctx))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens: every attempt is refused
	c, err := chinsert.New(chinsert.Options{Endpoints: []string{"http://" + addr}, RequestTimeout: time.Second})
	require.NoError(t, err)
	defer c.Close()
	snd, err := NewSender(s, c, SenderConfig{Database: "db", RetryInitial: time.Millisecond, RetryMax: 5 * time.Millisecond,
		MaxBatchWait: time.Millisecond}, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	snd.Start()
	time.Sleep(time.Second)
	require.NoError(t, snd.Shutdown(ctx))

	sending := 0
	for rec := range records(t, s.Blocks) {
		if rec.Type == RecSending {
			sending++
		}
	}
	attempts := int(snd.tel.failedInserts.Load())
	t.Logf("%d attempts, %d SENDING records", attempts, sending)
	assert.Greater(t, attempts, 20, "retried many times")
	assert.LessOrEqual(t, sending, 3, "one per table, not one per attempt")
}
