package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"path/filepath"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/ClickHouse/ch-go/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weirhq/weir/internal/journal"
	"github.com/weirhq/weir/internal/metricstage"
	"github.com/weirhq/weir/internal/otlpgen"
	"github.com/weirhq/weir/internal/otlpwire"
	"github.com/weirhq/weir/internal/red"
	"github.com/weirhq/weir/internal/tailsample"
)

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := OpenStore(StoreOptions{Dir: dir, IngestMaxBytes: 256 << 20, BlocksMaxBytes: 256 << 20, SegmentBytes: 1 << 20})
	require.NoError(t, err)
	require.NoError(t, s.SetServerInfo(ServerInfo{Version: "18.16.1"}))
	return s
}

func startEngine(t *testing.T, s *Store, cfg EngineConfig) *Engine {
	t.Helper()
	e, err := NewEngine(cfg, s, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	require.NoError(t, e.Start(context.Background()))
	require.Eventually(t, func() bool {
		e.mu.RLock()
		defer e.mu.RUnlock()
		return e.cur != nil
	}, 10*time.Second, time.Millisecond, "recovered")
	return e
}

// crash ends e as a killed process would (nothing flushed, nothing sealed) and closes its
// store, whose files stay as the kernel had them.
func crash(t *testing.T, e *Engine, s *Store) {
	t.Helper()
	close(e.stop)
	<-e.done
	require.NoError(t, s.Close())
}

// restart is crash, then a new engine with cfg on the same store directory.
func restart(t *testing.T, e *Engine, s *Store, dir string, cfg EngineConfig) (*Engine, *Store) {
	t.Helper()
	crash(t, e, s)
	s = openStore(t, dir)
	return startEngine(t, s, cfg), s
}

// decoded is what the committed blocks of a store hold, read back from their Native bytes.
type decoded struct {
	spans    map[[8]byte]int // span ID -> times stored
	traces   map[[16]byte]int
	index    []byte // the trace_index blocks' Native bytes, in order
	requests uint64 // sum of red_1m's Requests
	calls    uint64 // sum of edges_1m's Calls
	blocks   map[string]int

	points       map[string]int // metrics_sum and metrics_gauge points: series/time -> times stored
	sumInt       int64          // sum of metrics_sum's IntValue
	seriesPoints uint64         // sum of series_1m's Count
}

// records yields every record of l from its start, failing the test on a read error.
func records(t *testing.T, l *journal.Log) iter.Seq[journal.Record] {
	return func(yield func(journal.Record) bool) {
		rd := l.NewReader(l.Start())
		defer rd.Close()
		for {
			rec, err := rd.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			require.NoError(t, err)
			if !yield(rec) {
				return
			}
		}
	}
}

// readCommitted decodes every block of a committed epoch, as the sender would send them.
func readCommitted(t *testing.T, s *Store) decoded {
	t.Helper()
	type ref struct {
		epoch uint64
		data  []byte
		table string
		comp  byte
		rows  int
	}
	var blocks []ref
	status := map[uint64]byte{}
	for rec := range records(t, s.Blocks) {
		switch rec.Type {
		case RecBlock:
			b, err := DecodeBlock(rec.Payload)
			require.NoError(t, err)
			blocks = append(blocks, ref{b.Epoch, append([]byte(nil), b.Data...), b.Table, b.Compression, b.Rows})
		case RecCommit, RecAbort:
			n, err := DecodeEpochMarker(rec.Payload)
			require.NoError(t, err)
			require.NotContains(t, status, n, "epoch %d settled twice", n)
			status[n] = rec.Type
		}
	}
	out := decoded{spans: map[[8]byte]int{}, traces: map[[16]byte]int{}, blocks: map[string]int{}, points: map[string]int{}}
	for _, b := range blocks {
		if b.epoch != 0 && status[b.epoch] != RecCommit {
			continue
		}
		out.blocks[b.table]++
		raw := b.data
		if b.comp != CompressNone {
			r := compress.NewReader(bytesReader(raw))
			var err error
			raw, err = io.ReadAll(r)
			require.NoError(t, err)
		}
		if b.table == "trace_index" {
			// Aggregate states, which ch-go does not decode: kept as bytes to compare.
			out.index = append(out.index, raw...)
			continue
		}
		cols := readNative(t, raw, b.rows)
		switch b.table {
		case "spans":
			for _, id := range *cols["SpanId"].(*proto.ColFixedStr8) {
				out.spans[id]++
			}
			for _, id := range *cols["TraceId"].(*proto.ColFixedStr16) {
				out.traces[id]++
			}
		case "red_1m":
			for _, n := range *cols["Requests"].(*proto.ColUInt64) {
				out.requests += n
			}
		case "edges_1m":
			for _, n := range *cols["Calls"].(*proto.ColUInt64) {
				out.calls += n
			}
		case "metrics_sum":
			for i, v := range *cols["IntValue"].(*proto.ColInt64) {
				out.sumInt += v
				out.points[fmt.Sprintf("%x/%d", (*cols["SeriesHash"].(*proto.ColUInt64))[i], (*cols["TimeUnixNano"].(*proto.ColUInt64))[i])]++
			}
		case "metrics_gauge":
			for i := range *cols["SeriesHash"].(*proto.ColUInt64) {
				out.points[fmt.Sprintf("%x/%d", (*cols["SeriesHash"].(*proto.ColUInt64))[i], (*cols["TimeUnixNano"].(*proto.ColUInt64))[i])]++
			}
		case "series_1m":
			for _, n := range *cols["Count"].(*proto.ColUInt64) {
				out.seriesPoints += n
			}
		}
	}
	return out
}

func requests(t *testing.T, seed uint64, n, spans int) ([][]byte, int) {
	t.Helper()
	var out [][]byte
	total := 0
	g := otlpgen.New(seed)
	for i := 0; i < n; i++ {
		td := g.Telemetrygen(spans)
		req, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		require.NoError(t, err)
		out = append(out, req)
		total += td.SpanCount()
	}
	return out, total
}

// Without a sampler every span is stored, once; with RED every span is counted.
func TestEngine_KeepAllAndCount(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	redCfg := red.DefaultConfig()
	e := startEngine(t, s, EngineConfig{RED: redCfg, Epoch: time.Hour})
	reqs, total := requests(t, 1, 20, 512)
	for i, r := range reqs {
		require.NoError(t, e.Traces(context.Background(), r))
		if i == 9 {
			require.NoError(t, e.seal(false))
		}
	}
	require.NoError(t, e.Shutdown(context.Background()))
	got := readCommitted(t, s)
	assert.Len(t, got.spans, total)
	for id, n := range got.spans {
		require.Equal(t, 1, n, "span %x", id)
	}
	assert.Equal(t, uint64(total), got.requests, "every span counted in red_1m")
	assert.Equal(t, 2, got.blocks["spans"], "two epochs")
	assert.Equal(t, 2, got.blocks["trace_index"])
}

// halfSampledConfig is RED and a sampler keeping half the traces, deciding 50 ms after a
// trace's last span when the test ticks it, sealing only when the test asks.
func halfSampledConfig() EngineConfig {
	sampling := tailsample.DefaultConfig()
	sampling.Baseline.Probability = 0.5
	sampling.IdleTime, sampling.MaxWait = 50*time.Millisecond, time.Second
	sampling.TickInterval = time.Hour // ticks by hand
	return EngineConfig{RED: red.DefaultConfig(), Sampling: sampling, Epoch: time.Hour}
}

// TestEngine_CrashRecovery: requests taken, some epochs sealed, then the process "dies"
// (the engine is abandoned mid-epoch, nothing flushed). A new engine on the same store
// recovers: every acknowledged span is stored once, RED counts each exactly once, and kept
// traces are whole, as in a run without the crash.
func TestEngine_CrashRecovery(t *testing.T) {
	cfg := halfSampledConfig()
	reqs, total := requests(t, 2, 30, 256)

	run := func(crash bool) decoded {
		dir := filepath.Join(t.TempDir(), "store")
		s := openStore(t, dir)
		e := startEngine(t, s, cfg)
		ctx := context.Background()
		for i, r := range reqs {
			require.NoError(t, e.Traces(ctx, r))
			switch i {
			case 8, 17:
				time.Sleep(60 * time.Millisecond)
				e.mu.RLock()
				require.NoError(t, e.sampler.Tick(ctx))
				e.mu.RUnlock()
				require.NoError(t, e.seal(false))
			case 20:
				if crash {
					// The process dies: the engine is gone with what it held; the store's files
					// stay as the kernel had them.
					e, s = restart(t, e, s, dir, cfg)
				}
			}
		}
		time.Sleep(60 * time.Millisecond)
		e.mu.RLock()
		require.NoError(t, e.sampler.Tick(ctx))
		e.mu.RUnlock()
		require.NoError(t, e.Shutdown(ctx))
		got := readCommitted(t, s)
		require.NoError(t, s.Close())
		return got
	}
	plain, crashed := run(false), run(true)
	for name, got := range map[string]decoded{"no crash": plain, "crash": crashed} {
		assert.Equal(t, uint64(total), got.requests, "%s: every span counted once", name)
		for id, n := range got.spans {
			require.Equal(t, 1, n, "%s: span %x stored %d times", name, id, n)
		}
		for id, n := range got.traces {
			require.Equal(t, 2, n, "%s: trace %x stored with %d of its 2 spans", name, id, n)
		}
		assert.Greater(t, len(got.traces), total/2/4, "%s: about half the traces kept", name)
	}
	assert.Equal(t, plain.spans, crashed.spans, "the same traces kept: decisions depend on the trace only")
	assert.Equal(t, plain.calls, crashed.calls)
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// readNative decodes a Native block (protocol version 0) into its columns by name.
func readNative(t *testing.T, raw []byte, rows int) map[string]proto.Column {
	t.Helper()
	res := nativeResult{}
	var b proto.Block
	require.NoError(t, b.DecodeRawBlock(proto.NewReader(bytes.NewReader(raw)), 0, res))
	require.Equal(t, rows, b.Rows)
	return res
}

// nativeResult is proto.Results.Auto with the nested arrays ch-go cannot infer
// (span event and link attributes) decoded by hand.
type nativeResult map[string]proto.Column

func (res nativeResult) DecodeResult(r *proto.Reader, _ int, b proto.Block) error {
	for i := 0; i < b.Columns; i++ {
		name, err := r.Str()
		if err != nil {
			return err
		}
		typ, err := r.Str()
		if err != nil {
			return err
		}
		var col proto.Column
		switch typ {
		case "Array(Array(String))":
			col = proto.NewArray[[]string](proto.NewArray[string](new(proto.ColStr)))
		case "Array(Array(UInt8))":
			col = proto.NewArray[[]uint8](proto.NewArray[uint8](new(proto.ColUInt8)))
		default:
			auto := &proto.ColAuto{}
			if err := auto.Infer(proto.ColumnType(typ)); err != nil {
				return fmt.Errorf("%s %s: %w", name, typ, err)
			}
			col = auto.Data
		}
		if s, ok := col.(proto.Stateful); ok && b.Rows > 0 {
			if err := s.DecodeState(r); err != nil {
				return fmt.Errorf("%s state: %w", name, err)
			}
		}
		if err := col.DecodeColumn(r, b.Rows); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		res[name] = col
	}
	return nil
}

// metricRequests are n requests of 50 cumulative int sums and 50 gauges each, one request a
// second of point time: the sums grow by 1..10 a point, so their deltas add up to exactly
// what they grew after their first point.
func metricRequests(t *testing.T, n int, start time.Time) ([][]byte, int64) {
	t.Helper()
	var out [][]byte
	values := make([]int64, 50)
	first := make([]int64, 50)
	for i := 0; i < n; i++ {
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "svc")
		sm := rm.ScopeMetrics().AppendEmpty()
		ts := pcommon.Timestamp(start.Add(time.Duration(i+1) * time.Second).UnixNano())
		sum := sm.Metrics().AppendEmpty()
		sum.SetName("requests")
		s := sum.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		gauge := sm.Metrics().AppendEmpty().SetEmptyGauge()
		sm.Metrics().At(1).SetName("temperature")
		for k := range values {
			values[k] += int64(1 + (i*7+k)%10)
			if i == 0 {
				first[k] = values[k]
			}
			p := s.DataPoints().AppendEmpty()
			p.Attributes().PutInt("k", int64(k))
			p.SetStartTimestamp(pcommon.Timestamp(start.UnixNano()))
			p.SetTimestamp(ts)
			p.SetIntValue(values[k])
			g := gauge.DataPoints().AppendEmpty()
			g.Attributes().PutInt("k", int64(k))
			g.SetTimestamp(ts)
			g.SetDoubleValue(float64(k))
		}
		req, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
		require.NoError(t, err)
		out = append(out, req)
	}
	var grew int64
	for k := range values {
		grew += values[k] - first[k]
	}
	return out, grew
}

// TestEngine_MetricsCrashRecovery: metrics requests taken, snapshots and epochs along the way,
// then the process dies; a new engine recovers from the snapshot and the journal. Every point
// is stored once, and the deltas add up exactly as without the crash: nothing counted twice,
// nothing lost (the streams started after weir, so their first points count too).
func TestEngine_MetricsCrashRecovery(t *testing.T) {
	for _, every := range []time.Duration{time.Nanosecond, time.Hour} {
		t.Run("snapshot every "+every.String(), func(t *testing.T) { testMetricsCrash(t, every) })
	}
}

// testMetricsCrash: with snapshots at every seal, a replay starts from the last one; with
// none until the end, the stages' state is rebuilt from the whole journal.
func testMetricsCrash(t *testing.T, snapshotEvery time.Duration) {
	stages := metricstage.DefaultConfig()
	cfg := EngineConfig{Metrics: &stages, Epoch: time.Hour, MetricsSnapshot: snapshotEvery}
	start := time.Now().Add(time.Second)
	reqs, grew := metricRequests(t, 30, start)
	run := func(crashAt int) decoded {
		dir := filepath.Join(t.TempDir(), "store")
		s := openStore(t, dir)
		e := startEngine(t, s, cfg)
		ctx := context.Background()
		for i, r := range reqs {
			// The receiver's path (read once, into a batch) and the replay's (read as it
			// comes) in turn: the stages' state is one.
			if i%2 == 0 {
				st, err := e.TakeMetrics(ctx, r)
				require.NoError(t, err)
				require.Equal(t, 100, st.Points)
			} else {
				require.NoError(t, e.Metrics(ctx, r))
			}
			switch {
			case i%7 == 3:
				require.NoError(t, e.seal(false))
			case i == crashAt:
				e, s = restart(t, e, s, dir, cfg)
			}
		}
		require.NoError(t, e.Shutdown(ctx))
		got := readCommitted(t, s)
		require.NoError(t, s.Close())
		return got
	}
	plain := run(-1)
	// The first points pass whole (their streams started after weir did): 30 points of 50
	// streams, summing to the last values.
	require.Equal(t, 30*100, len(plain.points))
	require.Equal(t, grew+firstValues(reqs[0]), plain.sumInt, "deltas add up")
	for _, crashAt := range []int{5, 12, 20} {
		crashed := run(crashAt)
		assert.Equal(t, plain.sumInt, crashed.sumInt, "crash at %d: the deltas add up alike", crashAt)
		assert.Equal(t, len(plain.points), len(crashed.points), "crash at %d", crashAt)
		for k, n := range crashed.points {
			require.Equal(t, 1, n, "crash at %d: point %s stored %d times", crashAt, k, n)
		}
		assert.Equal(t, plain.seriesPoints, crashed.seriesPoints, "crash at %d: series_1m counts every point once", crashAt)
	}
}

// TestEngine_TakeMetrics: a request that does not decode is refused whole, and nothing of it
// is journaled or stored, though its first points decode; a request of more points than a
// batch keeps is taken whole by the second reading.
func TestEngine_TakeMetrics(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "store"))
	stages := metricstage.DefaultConfig()
	cfg := EngineConfig{Metrics: &stages, Epoch: time.Hour}
	e := startEngine(t, s, cfg)
	ctx := context.Background()
	reqs, _ := metricRequests(t, 2, time.Now())

	end := s.Ingest.End()
	bad := append(append([]byte(nil), reqs[0]...), 0x0a, 0x05, 0xff) // a ResourceMetrics past the end
	st, err := e.TakeMetrics(ctx, bad)
	var me *MalformedError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, 100, st.Points, "the points before the bad bytes are counted")
	assert.Equal(t, end, s.Ingest.End(), "nothing journaled")

	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	m := sm.Metrics().AppendEmpty()
	m.SetName("big")
	g := m.SetEmptyGauge()
	for i := 0; i < otlpwire.MaxBatchPoints+50; i++ {
		p := g.DataPoints().AppendEmpty()
		p.Attributes().PutInt("k", int64(i))
		p.SetTimestamp(pcommon.Timestamp(time.Now().UnixNano()))
		p.SetIntValue(int64(i))
	}
	big, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)
	st, err = e.TakeMetrics(ctx, big)
	require.NoError(t, err)
	assert.Equal(t, otlpwire.MaxBatchPoints+50, st.Points)
	st, err = e.TakeMetrics(ctx, reqs[0])
	require.NoError(t, err)
	assert.Equal(t, 100, st.Points)

	require.NoError(t, e.Shutdown(ctx))
	got := readCommitted(t, s)
	require.NoError(t, s.Close())
	assert.Len(t, got.points, otlpwire.MaxBatchPoints+50+100, "the big request's points and the good one's, once")
	assert.Equal(t, uint64(otlpwire.MaxBatchPoints+50+100), got.seriesPoints)
}

// firstValues is the sum of the int sum points of req.
func firstValues(req []byte) int64 {
	pr := pmetricotlp.NewExportRequest()
	if err := pr.UnmarshalProto(req); err != nil {
		panic(err)
	}
	var total int64
	dps := pr.Metrics().ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints()
	for i := 0; i < dps.Len(); i++ {
		total += dps.At(i).IntValue()
	}
	return total
}

// A rate the ingest log cannot hold for flush_interval and idle_time: past half of its
// bound the engine flushes RED and decides the oldest traces early, so every request is
// taken and every span counted and kept (a baseline of 1), where the log would otherwise fill
// up and refuse everything from then on.
func TestEngine_PressedIngestLogRelieved(t *testing.T) {
	s, err := OpenStore(StoreOptions{Dir: t.TempDir(), IngestMaxBytes: 4 << 20, BlocksMaxBytes: 256 << 20, SegmentBytes: 256 << 10})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.SetServerInfo(ServerInfo{Version: "18.16.1"}))
	redCfg := red.DefaultConfig()
	redCfg.FlushInterval = time.Hour
	sampling := tailsample.DefaultConfig()
	sampling.IdleTime, sampling.MaxWait = time.Hour, 2*time.Hour
	sampling.Baseline.Probability = 1
	sampling.TickInterval = time.Hour
	e := startEngine(t, s, EngineConfig{RED: redCfg, Sampling: sampling, Epoch: time.Hour})
	reqs, total := requests(t, 3, 200, 512)
	var sum int
	for i, r := range reqs {
		require.NoError(t, e.Traces(context.Background(), r), "request %d of %d bytes, %d in the log", i, len(r), s.Ingest.Size())
		sum += len(r)
		if i%8 == 7 {
			e.relieve()
			require.NoError(t, e.seal(false))
		}
	}
	require.Greater(t, sum, 3*(4<<20), "the requests are several times the log's bound")
	require.NoError(t, e.Shutdown(context.Background()))
	got := readCommitted(t, s)
	assert.Equal(t, uint64(total), got.requests, "every span counted in red_1m")
	assert.Len(t, got.spans, total, "every span kept")
}

// Requests that fill the ingest log between two seals are refused, and the seal after them
// still writes its checkpoint (in the log's reserve), so the log is truncated and requests are
// taken again: a full log does not refuse everything for good.
func TestEngine_FullIngestLogRecovers(t *testing.T) {
	s, err := OpenStore(StoreOptions{Dir: t.TempDir(), IngestMaxBytes: 4 << 20, BlocksMaxBytes: 256 << 20, SegmentBytes: 256 << 10})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.SetServerInfo(ServerInfo{Version: "18.16.1"}))
	// No seal but the test's: not by the clock, nor by a full block.
	e := startEngine(t, s, EngineConfig{RED: red.DefaultConfig(), Epoch: time.Hour, BlockMaxRows: 1 << 30, BlockMaxBytes: 1 << 40})
	reqs, _ := requests(t, 4, 100, 512)
	i := 0
	for ; i < len(reqs); i++ {
		if err := e.Traces(context.Background(), reqs[i]); err != nil {
			require.ErrorIs(t, err, journal.ErrFull)
			break
		}
	}
	require.Less(t, i, len(reqs), "the log filled up")
	require.NoError(t, e.seal(false), "the checkpoint goes in though requests filled the log")
	require.NoError(t, e.Traces(context.Background(), reqs[i]), "and requests are taken again")
	require.NoError(t, e.Shutdown(context.Background()))
}

// TestEngine_TakeTracesReadsOnce: TakeTraces, which reads a request once to check it, count
// it and take its spans, stores what Traces stores for the same requests, with the sampler
// and without one (every span stored as it comes). A request broken at its end, after its
// spans were read (and, without a sampler, put into the block), leaves nothing behind:
// nothing journaled, nothing counted, nothing stored.
func TestEngine_TakeTracesReadsOnce(t *testing.T) {
	keepAll := EngineConfig{RED: red.DefaultConfig(), Epoch: time.Hour}
	for name, cfg := range map[string]EngineConfig{"sampled": halfSampledConfig(), "keep-all": keepAll} {
		t.Run(name, func(t *testing.T) { testTakeTracesReadsOnce(t, cfg) })
	}
}

func testTakeTracesReadsOnce(t *testing.T, cfg EngineConfig) {
	reqs, total := requests(t, 5, 20, 256)
	run := func(take bool) decoded {
		s := openStore(t, t.TempDir())
		defer s.Close()
		e := startEngine(t, s, cfg)
		ctx := context.Background()
		for i, r := range reqs {
			if !take {
				require.NoError(t, e.Traces(ctx, r))
				continue
			}
			end := s.Ingest.End()
			// The request whole, then a resource_spans field cut short: its spans are read
			// before the error is found.
			bad := append(append([]byte(nil), r...), 0x0a, 0x05, 0x01)
			st, err := e.TakeTraces(ctx, bad)
			var me *MalformedError
			require.ErrorAs(t, err, &me, "request %d with a broken tail", i)
			assert.Equal(t, 256, st.Spans, "its spans were read")
			require.Equal(t, end, s.Ingest.End(), "nothing journaled")
			st, err = e.TakeTraces(ctx, r)
			require.NoError(t, err)
			assert.Equal(t, 256, st.Spans)
			assert.Zero(t, st.Invalid)
		}
		if e.sampler != nil {
			time.Sleep(60 * time.Millisecond)
			e.mu.RLock()
			require.NoError(t, e.sampler.Tick(ctx))
			e.mu.RUnlock()
		}
		require.NoError(t, e.Shutdown(ctx))
		return readCommitted(t, s)
	}
	traces, took := run(false), run(true)
	assert.Equal(t, uint64(total), took.requests, "every span counted once, none of the broken requests'")
	assert.Equal(t, traces.requests, took.requests)
	assert.Equal(t, traces.calls, took.calls)
	assert.Equal(t, traces.spans, took.spans, "the same spans kept")
	assert.Equal(t, traces.traces, took.traces, "the same traces")
	assert.NotEmpty(t, took.spans)
	if cfg.Sampling == nil {
		assert.Equal(t, traces.index, took.index, "the same trace_index rows")
		assert.Len(t, took.spans, total, "every span stored")
		for id, n := range took.spans {
			require.Equal(t, 1, n, "span %x stored once", id)
		}
	}
}

// TestEngine_LingeringSurvivesCrash: a trace dropped before a crash still lingers after it.
// Its late error span, sent after the restart, keeps the whole trace (late_error), as it
// does without the crash, not only itself.
func TestEngine_LingeringSurvivesCrash(t *testing.T) {
	cfg := halfSampledConfig()
	cfg.Sampling.Baseline.Probability = 0 // only the error policy keeps
	cfg.Sampling.LateWindow = time.Minute
	ctx := context.Background()
	tick := func(e *Engine) {
		e.mu.RLock()
		defer e.mu.RUnlock()
		require.NoError(t, e.sampler.Tick(ctx))
	}
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			s := openStore(t, dir)
			e := startEngine(t, s, cfg)
			require.NoError(t, e.Traces(ctx, spansRequest(t, testSpan{1, 1, 0, false}, testSpan{1, 2, 1, false})))
			time.Sleep(60 * time.Millisecond)
			tick(e) // dropped: no error yet; it lingers
			require.NoError(t, e.seal(false))
			if crash {
				e, s = restart(t, e, s, dir, cfg)
			}
			require.NoError(t, e.Traces(ctx, spansRequest(t, testSpan{1, 3, 1, true})))
			tick(e)
			require.NoError(t, e.Shutdown(ctx))
			got := readCommitted(t, s)
			require.NoError(t, s.Close())
			assert.Equal(t, map[[8]byte]int{{1}: 1, {2}: 1, {3}: 1}, got.spans, "the dropped spans and the late error, each once")
		})
	}
}

// testSpan is one span of spansRequest: its trace, its ID, its parent's (0: a root) and
// whether it failed.
type testSpan struct {
	trace, span, parent byte
	failed              bool
}

// spansRequest is one request of the given spans, of service checkout, all starting now.
func spansRequest(t *testing.T, spans ...testSpan) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	ss := rs.ScopeSpans().AppendEmpty()
	now := time.Now()
	for _, x := range spans {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{x.trace})
		sp.SetSpanID(pcommon.SpanID{x.span})
		if x.parent != 0 {
			sp.SetParentSpanID(pcommon.SpanID{x.parent})
		}
		sp.SetName(fmt.Sprintf("op%d", x.span))
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
		if x.failed {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
	}
	req, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	return req
}

// twoTraces is one request: trace 1, a root and an error child (kept at the next tick), and
// trace 2, a child span alone (no root: held until max_wait).
func twoTraces(t *testing.T) []byte {
	return spansRequest(t, testSpan{1, 1, 0, false}, testSpan{1, 2, 1, true}, testSpan{2, 3, 9, false})
}

// TestEngine_RestartWithoutSampler: weir dies while its sampler holds a trace and comes back
// keeping every span (no sampler). The replay stores the held trace, not again the trace the
// sampler kept and committed before (nor the requests' other spans).
func TestEngine_RestartWithoutSampler(t *testing.T) {
	cfg := halfSampledConfig()
	cfg.Sampling.Baseline.Probability = 0
	cfg.Sampling.MaxWait = time.Minute
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	s := openStore(t, dir)
	e := startEngine(t, s, cfg)
	require.NoError(t, e.Traces(ctx, twoTraces(t)))
	time.Sleep(60 * time.Millisecond)
	e.mu.RLock()
	require.NoError(t, e.sampler.Tick(ctx)) // trace 1 kept; trace 2 held
	e.mu.RUnlock()
	require.NoError(t, e.seal(false))
	crash(t, e, s) // the crash

	s = openStore(t, dir)
	keepAll := halfSampledConfig()
	keepAll.Sampling.Baseline.Probability = 1 // NewEngine runs no sampler then
	e = startEngine(t, s, keepAll)
	require.Nil(t, e.sampler)
	require.NoError(t, e.Shutdown(ctx))
	got := readCommitted(t, s)
	require.NoError(t, s.Close())
	assert.Equal(t, map[[8]byte]int{{1}: 1, {2}: 1, {3}: 1}, got.spans, "each span once: trace 1 as kept, trace 2 from the replay")
}

// TestEngine_CommitFailsAfterCheckpoint: the COMMIT of an epoch fails after its EPOCH was
// written (blocks/ full, an I/O error). The epoch is not aborted: its COMMIT goes in first at
// the next seal, or at the restart when weir dies before one succeeds; every span is stored.
func TestEngine_CommitFailsAfterCheckpoint(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			cfg := EngineConfig{Epoch: time.Hour} // no sampler, no RED: every span is stored
			ctx := context.Background()
			dir := filepath.Join(t.TempDir(), "store")
			s := openStore(t, dir)
			e := startEngine(t, s, cfg)
			require.NoError(t, e.Traces(ctx, twoTraces(t)))
			injected := errors.New("injected: blocks/ cannot be written")
			e.mu.Lock()
			e.failCommit = func() error { return injected }
			e.mu.Unlock()
			require.ErrorIs(t, e.seal(false), injected)
			require.ErrorIs(t, e.Traces(ctx, twoTraces(t)), injected, "refused until a seal succeeds")
			if crash {
				// The next seal cannot write its EPOCH either (ingest/ gone as on a full disk),
				// and weir dies: the restart must find the first epoch whole.
				require.NoError(t, s.Ingest.Close())
				require.Error(t, e.seal(false))
			} else {
				require.ErrorIs(t, e.seal(false), injected, "the COMMIT still cannot go in")
			}
			if crash {
				e, s = restart(t, e, s, dir, cfg)
			} else {
				e.mu.Lock()
				e.failCommit = nil
				e.mu.Unlock()
				require.NoError(t, e.seal(false))
			}
			require.NoError(t, e.Shutdown(ctx))
			got := readCommitted(t, s)
			require.NoError(t, s.Close())
			assert.Equal(t, map[[8]byte]int{{1}: 1, {2}: 1, {3}: 1}, got.spans)
		})
	}
}

// TestEngine_FailingSealsHoldNoSets: blocks/ is full (ClickHouse away for long, nothing
// sent): seals fail and requests are refused, and the failing seals do not pile up a block set
// each while they retry.
func TestEngine_FailingSealsHoldNoSets(t *testing.T) {
	s, err := OpenStore(StoreOptions{Dir: filepath.Join(t.TempDir(), "store"), IngestMaxBytes: 64 << 20,
		BlocksMaxBytes: 512 << 10, SegmentBytes: 64 << 10})
	require.NoError(t, err)
	require.NoError(t, s.SetServerInfo(ServerInfo{Version: "18.16.1"}))
	e := startEngine(t, s, EngineConfig{Epoch: time.Hour})
	ctx := context.Background()
	reqs, _ := requests(t, 3, 200, 256)
	var sealErr error
	for _, r := range reqs {
		if err := e.Traces(ctx, r); err != nil {
			break
		}
		if sealErr = e.seal(false); sealErr != nil {
			break
		}
	}
	require.ErrorIs(t, sealErr, journal.ErrFull, "blocks/ filled up")
	for range 20 {
		require.Error(t, e.seal(false))
	}
	e.mu.RLock()
	assert.Len(t, e.sealing, 1, "the set that did not fit, and no empty ones")
	e.mu.RUnlock()
	crash(t, e, s)
}

// TestEngine_JournaledRequestIsSettled: once a request is journaled (and acknowledged), a
// failure to process it is logged and counted, not returned: the sender would send it again,
// to be journaled and counted twice. Traces and Metrics take requests that decoded; one that
// does not stands in here for weir's own bug.
func TestEngine_JournaledRequestIsSettled(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "store"))
	e := startEngine(t, s, halfSampledConfig())
	ctx := context.Background()
	garbage := []byte{0x0a, 0x05, 0xff, 0xff} // a ResourceSpans that runs past the end
	end := s.Ingest.End()
	require.NoError(t, e.Traces(ctx, garbage))
	require.NoError(t, e.Metrics(ctx, garbage))
	assert.Greater(t, s.Ingest.End(), end, "journaled")
	good, total := requests(t, 4, 1, 64)
	require.NoError(t, e.Traces(ctx, good[0]))

	// weir dies before a checkpoint: the restart replays both, settles the bad one the same
	// way, and recovers (startEngine waits for it).
	dir := s.Ingest.Dir()
	crash(t, e, s)
	s = openStore(t, filepath.Dir(dir))
	e = startEngine(t, s, halfSampledConfig())
	require.NoError(t, e.Shutdown(ctx))
	got := readCommitted(t, s)
	require.NoError(t, s.Close())
	assert.Equal(t, uint64(total), got.requests, "the good request counted once, after the replay")
}
