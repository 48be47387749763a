package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ClickHouse/ch-go/compress"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/weirhq/weir/internal/chblock"
	"github.com/weirhq/weir/internal/journal"
	"github.com/weirhq/weir/internal/metricstage"
	"github.com/weirhq/weir/internal/otlpwire"
	"github.com/weirhq/weir/internal/red"
	"github.com/weirhq/weir/internal/tailsample"
)

// ErrNotReady is returned for requests that come before weir has ever reached ClickHouse:
// it does not know yet how to encode their blocks.
var ErrNotReady = errors.New("weir has not reached ClickHouse yet since its first start")

// ErrStalled is wrapped by the error for requests refused because blocks cannot be written.
var ErrStalled = errors.New("weir cannot write its queue of blocks")

// EngineConfig configures an Engine.
type EngineConfig struct {
	// RED counts every span before sampling; nil counts nothing.
	RED *red.Config
	// Sampling decides which traces to keep; nil keeps every span.
	Sampling *tailsample.Config
	// Epoch is how often blocks are sealed and checkpointed (default 1 s).
	Epoch time.Duration
	// BlockMaxRows and BlockMaxBytes seal a block early when it reaches them.
	BlockMaxRows, BlockMaxBytes int
	// Compression of the blocks kept in the store: CompressLZ4 (default), ZSTD or None.
	Compression byte
	// Metrics are the metric stages (cumulative to delta, the series limit); nil stores metric
	// points as they come.
	Metrics *metricstage.Config
	// MetricsSnapshot is how often the metric stages' state is written, when metrics came:
	// the ingest log keeps requests back to the last snapshot (default 10 s).
	MetricsSnapshot time.Duration
}

func (c *EngineConfig) defaults() {
	if c.Epoch <= 0 {
		c.Epoch = time.Second
	}
	if c.BlockMaxRows <= 0 {
		// Small blocks keep the memory of a seal small (columns, the encoded and the compressed
		// block); the sender coalesces them into large INSERTs, so ClickHouse sees no more parts.
		c.BlockMaxRows = 16384
	}
	if c.BlockMaxBytes <= 0 {
		c.BlockMaxBytes = 16 << 20
	}
	if c.MetricsSnapshot <= 0 {
		c.MetricsSnapshot = 10 * time.Second
	}
}

// blockSet is the blocks of one epoch.
type blockSet struct {
	spans   *chblock.SpanBlock
	red     *chblock.REDBlock
	edges   *chblock.EdgeBlock
	metrics *chblock.MetricSet
}

func newBlockSet(info ServerInfo) *blockSet {
	return &blockSet{spans: chblock.NewSpanBlock(info.LowCardinality, info.Location()),
		red: chblock.NewREDBlock(info.LowCardinality), edges: chblock.NewEdgeBlock(info.LowCardinality),
		metrics: chblock.NewMetricSet(info.LowCardinality)}
}

func (b *blockSet) RED(r *red.Row)      { b.red.Append(r) }
func (b *blockSet) Edge(e *red.EdgeRow) { b.edges.Append(e) }

func (b *blockSet) empty() bool {
	return b.spans.Rows()+b.red.Rows()+b.edges.Rows()+b.metrics.Rows() == 0
}

func (b *blockSet) reset() {
	b.spans.Reset()
	b.red.Reset()
	b.edges.Reset()
	b.metrics.Reset()
}

// Engine runs weir's ingest stages on requests as they arrive, and checkpoints what they
// produce into the store (see the package doc). Traces may be called concurrently.
type Engine struct {
	cfg    EngineConfig
	store  *Store
	logger *zap.Logger
	tel    *telemetry

	red     *red.Aggregator
	sampler *tailsample.Sampler
	reason  string    // the sampler's reason attribute
	checkRd sync.Pool // *otlpwire.Traces, for TakeTraces' check
	staged  sync.Pool // *red.Staged, for TakeTraces' one reading
	batches sync.Pool // *otlpwire.MetricsBatch, for TakeMetrics' one reading

	// mu is the epoch lock: requests and sampler ticks hold it shared, sealing exclusively, so
	// that a checkpoint sees every request below it processed.
	mu  sync.RWMutex
	bmu sync.Mutex // guards cur's blocks against concurrent requests
	cur *blockSet
	// sealing are the block sets being written (outside mu): one, or more after failed seals,
	// whose blocks wait for the next try. free are empty sets for reuse.
	sealing []*blockSet
	free    []*blockSet
	stalled error // why the last seal failed; nil when none is pending
	// unrecovered: the replay at start failed, and nothing may be sealed on top of it.
	unrecovered bool
	abort       uint64       // an epoch whose blocks were partly written: its ABORT is still due
	commit      uint64       // an epoch whose EPOCH record is written: its COMMIT is still due
	failCommit  func() error // tests: a COMMIT append fails with what it returns
	decisions   []byte       // the sampler's decisions not yet in a written EPOCH
	epochBuf    []byte
	epoch       uint64
	redPos      journal.Pos // requests below it are counted in committed blocks
	lastRED     time.Time
	full        chan struct{} // a block reached its size limit: seal now
	// held is the last EPOCH's Held, for reuse: a new one each second came to 40 MB a minute
	// at 50k spans/s (2026-12-07 22:05).
	held      []pcommon.TraceID
	reader    otlpwire.Traces
	enc, comp []byte
	cw        *compress.Writer

	// The metric stages and their snapshots. mmu serializes metrics requests (the stages are
	// one state) and guards cur.metrics.
	mmu       sync.Mutex
	stages    *metricstage.Stages
	dirty     bool        // metrics came since the last snapshot
	statePos  journal.Pos // replay metrics from here (Epoch.MetricsState)
	snapPos   journal.Pos // the last snapshot written (Epoch.MetricsSnap)
	lastSnap  time.Time
	snap      []byte             // a snapshot taken at seal, written before its EPOCH
	newSnap   journal.Pos        // its position; 0 when this seal took none
	replaySet *chblock.MetricSet // where replayed requests below Processed go, and are dropped

	stop chan struct{}
	done chan struct{}
}

// NewEngine returns an engine over store. It does not start until Start.
func NewEngine(cfg EngineConfig, store *Store, set component.TelemetrySettings) (*Engine, error) {
	cfg.defaults()
	tel, err := newTelemetry(set)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, store: store, logger: set.Logger, tel: tel, full: make(chan struct{}, 1)}
	e.checkRd.New = func() any { return new(otlpwire.Traces) }
	e.batches.New = func() any { return new(otlpwire.MetricsBatch) }
	e.staged.New = func() any { return new(red.Staged) }
	method := compress.LZ4
	switch cfg.Compression {
	case CompressZSTD:
		method = compress.ZSTD
	case CompressNone:
		method = compress.None
	}
	e.cw = compress.NewWriter(compress.LevelZero, method)
	if cfg.RED != nil {
		if e.red, err = red.New(cfg.RED, set); err != nil {
			return nil, err
		}
	}
	if cfg.Sampling != nil && cfg.Sampling.Baseline.Probability >= 1 {
		// A baseline that keeps every trace leaves nothing to decide: spans are stored as they
		// come, without holding them (and without the reason attribute, which would need the
		// whole trace).
		set.Logger.Info("tail sampling baseline is 1: every span is stored as it comes, the sampler is skipped")
		cfg.Sampling = nil
		e.cfg.Sampling = nil
	}
	if cfg.Sampling != nil {
		if e.sampler, err = tailsample.New(cfg.Sampling, set, keeper{e}); err != nil {
			return nil, err
		}
		e.sampler.RecordDecisions()
		// Every request stays in ingest/ until the sampler has decided its traces (OldestHeld
		// holds back truncation), so held spans need not be copied: they are read back from
		// there when kept.
		e.sampler.HoldByReference(ingestSource{store.Ingest})
		e.reason = cfg.Sampling.ReasonAttribute
	}
	if cfg.Metrics != nil {
		e.stages = metricstage.New(*cfg.Metrics, time.Now())
	}
	if err := tel.observe(e); err != nil {
		return nil, err
	}
	return e, nil
}

// Start waits (up to ctx) for the server's info, recovers from the store what the last run
// left, and starts sealing epochs. Before the server's info is known, requests are refused
// with ErrNotReady; recovery then runs when it comes.
func (e *Engine) Start(ctx context.Context) error {
	e.stop, e.done = make(chan struct{}), make(chan struct{})
	started := make(chan error, 1)
	go func() {
		defer close(e.done)
		select {
		case <-e.store.Ready():
		case <-e.stop:
			started <- nil
			return
		}
		info, _ := e.store.ServerInfo()
		e.mu.Lock()
		e.cur = newBlockSet(info)
		err := e.recover(context.Background())
		if err != nil {
			// Start may have returned already (a long replay): requests must not be taken
			// without the loop that seals them, and the reason must be seen.
			e.stalled, e.unrecovered = fmt.Errorf("replay the journal: %w", err), true
			e.logger.Error("the journal could not be replayed; weir refuses requests", zap.Error(err))
		}
		e.mu.Unlock()
		started <- err
		if err != nil {
			return
		}
		e.loop()
	}()
	select {
	case err := <-started:
		return err
	case <-ctx.Done():
		return nil // recovery goes on; requests wait for it (ErrNotReady)
	case <-time.After(100 * time.Millisecond):
		return nil
	}
}

// Shutdown decides what the sampler holds, flushes RED and seals a last epoch.
func (e *Engine) Shutdown(ctx context.Context) error {
	if e.stop == nil {
		return nil
	}
	close(e.stop)
	<-e.done
	e.stop = nil
	e.mu.Lock()
	ready := e.cur != nil && !e.unrecovered
	e.mu.Unlock()
	if !ready {
		return nil
	}
	var errs []error
	if e.sampler != nil {
		e.mu.RLock()
		errs = append(errs, e.sampler.Shutdown(ctx))
		e.mu.RUnlock()
	}
	errs = append(errs, e.seal(true))
	return errors.Join(errs...)
}

func (e *Engine) loop() {
	tick := time.NewTicker(e.cfg.Epoch)
	defer tick.Stop()
	var sample <-chan time.Time
	if e.sampler != nil {
		every := e.cfg.Sampling.TickInterval
		if every <= 0 {
			every = min(max(e.cfg.Sampling.IdleTime/4, 10*time.Millisecond), time.Second)
		}
		t := time.NewTicker(every)
		defer t.Stop()
		sample = t.C
	}
	for {
		select {
		case <-e.stop:
			return
		case <-sample:
			e.mu.RLock()
			if err := e.sampler.Tick(context.Background()); err != nil {
				e.logger.Error("tail sampler decisions could not be stored", zap.Error(err))
			}
			e.mu.RUnlock()
		case <-tick.C:
			e.relieve()
			e.sealLogged(false)
		case <-e.full:
			e.sealLogged(false)
		}
	}
}

// pressed reports whether requests take more than half of what ingest/ allows them. The log
// keeps each request until RED's counts of it are in blocks (flush_interval), the sampler
// decided its traces, and the metric stages' state past it is snapshotted: at a high enough
// rate, that is more than the bound, and the log would refuse requests until those came
// round. Past half, the engine brings them forward.
func (e *Engine) pressed() bool {
	return e.store.ingestMax > 0 && e.store.Ingest.Size() > e.store.ingestMax/2
}

// relieve decides early, when ingest/ is pressed, the traces that hold requests older than
// its newest quarter, so that the next seal can truncate it; the seal itself flushes RED and
// snapshots the metric stages early.
func (e *Engine) relieve() {
	if e.sampler == nil || !e.pressed() {
		return
	}
	// Keep the newest quarter of what requests may take; decide what needs anything older.
	end := e.store.Ingest.End()
	keep := journal.Pos(e.store.ingestMax / 4)
	if end <= keep {
		return
	}
	e.mu.RLock()
	err := e.sampler.DecideBefore(context.Background(), uint64(end-keep))
	e.mu.RUnlock()
	if err != nil {
		e.logger.Error("tail sampler decisions could not be stored", zap.Error(err))
	}
}

func (e *Engine) sealLogged(final bool) {
	if err := e.seal(final); err != nil {
		e.logger.Warn("sealing an epoch failed; new requests are refused until it succeeds", zap.Error(err))
	}
}

// Traces takes a request of spans that decoded (otlpwire.CheckTraces): it is in the store
// when Traces returns nil, and only then may it be acknowledged.
func (e *Engine) Traces(ctx context.Context, req []byte) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	now := time.Now()
	pos, err := e.journal(RecTraces, req, now)
	if err != nil {
		return err
	}
	e.settle(e.process(ctx, req, pos, now, true, true, nil))
	return nil
}

// settle logs and counts what went wrong processing a request already journaled, and
// counted in RED: returning it would have the sender send the request again, journaled and
// counted twice. The request decoded before it was journaled, so this is weir's own bug (the
// readers disagreeing, a frame it wrote that does not read back), never the sender's input.
func (e *Engine) settle(err error) {
	if err != nil {
		e.tel.unsettledRequest()
		e.logger.Error("a request was journaled and acknowledged, but processing it failed; some of its spans or points may be missing",
			zap.Error(err))
	}
}

// MalformedError is TakeTraces' error for a request that does not decode: the sender's
// mistake, not to be retried. Err is otlpwire's.
type MalformedError struct{ Err error }

func (e *MalformedError) Error() string { return "the request does not decode: " + e.Err.Error() }
func (e *MalformedError) Unwrap() error { return e.Err }

// TakeTraces is otlpwire.CheckTraces and Traces together: it returns what the check finds,
// and takes a request that decodes and holds spans (nil: it is in the store). With RED and the
// sampler both on, the request is read once for all three: RED's counts are staged while
// it is read and counted only once the request decoded to its end and is in the store, so a
// request refused for either leaves nothing behind. With RED and no sampler, takeAll reads it
// once as well. Otherwise it is checked, then taken.
func (e *Engine) TakeTraces(ctx context.Context, req []byte) (otlpwire.TracesStats, error) {
	if e.red != nil && e.sampler == nil {
		return e.takeAll(req)
	}
	if e.red == nil || e.sampler == nil {
		rd := e.checkRd.Get().(*otlpwire.Traces)
		st, err := otlpwire.CheckTraces(rd, req)
		rd.Reset(nil)
		e.checkRd.Put(rd)
		if err != nil {
			return st, &MalformedError{err}
		}
		if st.Spans == 0 {
			return st, nil
		}
		return st, e.Traces(ctx, req)
	}
	var st otlpwire.TracesStats
	staged := e.staged.Get().(*red.Staged)
	defer func() {
		if staged.Cap() <= maxPooledStaged {
			e.staged.Put(staged) // one huge request should not pin its size in the pool
		}
	}()
	split := e.sampler.NewSplit(req)
	visit := split.Visit()
	now := time.Now()
	err := e.red.ConsumeWireStaged(req, now, func(res *otlpwire.Resource, svc []byte, sc *otlpwire.Scope, sp *otlpwire.Span) {
		st.Spans++
		if !sp.ValidIDs() {
			st.Invalid++
		}
		visit(res, svc, sc, sp)
	}, staged)
	if err != nil || st.Spans == 0 {
		split.Abandon()
		staged.Reset()
		if err != nil {
			return st, &MalformedError{err}
		}
		return st, nil
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	pos, err := e.journal(RecTraces, req, now)
	if err != nil {
		split.Abandon()
		staged.Reset()
		return st, err
	}
	e.red.Apply(staged)
	e.settle(e.sampler.ConsumeSplit(ctx, split, uint64(pos), now, nil))
	return st, nil
}

// takeAll is TakeTraces without a sampler: every span is stored. The request is read once
// for the check, RED and the block: its spans go into the block tentatively (Mark) while RED's
// counts are staged, and both are kept only once the request decoded to its end and is in
// the journal; otherwise the block is rolled back. bmu is held from the first span to the
// journal record, so that nothing else is appended in between.
func (e *Engine) takeAll(req []byte) (otlpwire.TracesStats, error) {
	var st otlpwire.TracesStats
	staged := e.staged.Get().(*red.Staged)
	defer func() {
		if staged.Cap() <= maxPooledStaged {
			e.staged.Put(staged)
		}
	}()
	now := time.Now()
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.cur == nil {
		return st, ErrNotReady
	}
	e.bmu.Lock()
	b := e.cur.spans
	b.Mark()
	err := e.red.ConsumeWireStaged(req, now, func(res *otlpwire.Resource, svc []byte, sc *otlpwire.Scope, sp *otlpwire.Span) {
		st.Spans++
		if !sp.ValidIDs() {
			st.Invalid++
			return
		}
		b.AppendWire(res, svc, sc, sp, nil)
	}, staged)
	if err != nil {
		err = &MalformedError{err}
	} else if st.Spans > 0 {
		_, err = e.journal(RecTraces, req, now)
	}
	if err != nil || st.Spans == 0 {
		b.Rollback()
		e.bmu.Unlock()
		staged.Reset()
		return st, err
	}
	b.Commit()
	e.checkFull(b)
	e.bmu.Unlock()
	e.red.Apply(staged)
	return st, nil
}

// maxPooledStaged bounds the spans a pooled red.Staged keeps room for (about 130 bytes each).
const maxPooledStaged = 1 << 16

// journal appends a request taken at now to ingest/, once the engine is ready and not
// stalled; under mu (read).
func (e *Engine) journal(typ byte, req []byte, now time.Time) (journal.Pos, error) {
	if e.cur == nil {
		return 0, ErrNotReady
	}
	if e.stalled != nil {
		return 0, fmt.Errorf("%w: %w", ErrStalled, e.stalled)
	}
	var hdr [8]byte
	putArrival(hdr[:], now)
	pos, err := e.store.Ingest.Append(typ, hdr[:], req)
	if err != nil {
		return 0, err
	}
	e.tel.addIngested(int64(len(req)))
	return pos, nil
}

// Metrics takes a request of metric points that decoded (otlpwire.CheckMetrics): it is in the
// store when Metrics returns nil, and only then may it be acknowledged.
func (e *Engine) Metrics(_ context.Context, req []byte) error { return e.takeMetrics(req, nil) }

// takeMetrics journals req and stores its points; mb, when not nil, is req read whole.
func (e *Engine) takeMetrics(req []byte, mb *otlpwire.MetricsBatch) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	now := time.Now()
	if _, err := e.journal(RecMetrics, req, now); err != nil {
		return err
	}
	e.settle(e.processMetrics(req, mb, now, false))
	return nil
}

// maxPooledBatch is the largest metrics batch TakeMetrics pools: twice what one keeps.
const maxPooledBatch = 2 * otlpwire.MaxBatchBytes

// TakeMetrics is otlpwire.CheckMetrics and Metrics together: it returns what the check finds,
// and takes a request that decodes and has points. The request is read once, into a batch
// that is checked whole before any of it is taken (a bad point refuses the request, and
// nothing of it is stored), outside the engine's locks; a request larger than a batch keeps
// (otlpwire.MaxBatchPoints, MaxBatchBytes) is read again by Metrics.
func (e *Engine) TakeMetrics(_ context.Context, req []byte) (otlpwire.MetricsStats, error) {
	mb := e.batches.Get().(*otlpwire.MetricsBatch)
	defer func() {
		if mb.Footprint() <= maxPooledBatch {
			e.batches.Put(mb) // one large request should not pin its size in the pool
		}
	}()
	st, err := mb.Read(req)
	if err != nil {
		return st, &MalformedError{err}
	}
	if st.Points == 0 {
		return st, nil
	}
	if !mb.Whole {
		return st, e.takeMetrics(req, nil)
	}
	return st, e.takeMetrics(req, mb)
}

// processMetrics runs the metric stages on one request and stores its points, or, when
// stateOnly (a replayed request whose points are in blocks already), only updates the stages.
// mb, when not nil, is req read whole already.
func (e *Engine) processMetrics(req []byte, mb *otlpwire.MetricsBatch, at time.Time, stateOnly bool) error {
	e.mmu.Lock()
	defer e.mmu.Unlock()
	set := e.cur.metrics
	if stateOnly {
		if e.replaySet == nil {
			e.replaySet = chblock.NewMetricSet(false)
		}
		set = e.replaySet
		defer set.Reset()
	}
	var stage chblock.PointStage
	if e.stages != nil {
		stage = e.stages
		e.dirty = true
	}
	var err error
	if mb != nil {
		set.AppendBatch(mb, stage, at.UnixNano())
	} else {
		_, err = set.AppendRequest(req, stage, at.UnixNano())
	}
	if !stateOnly && (set.Rows() >= e.cfg.BlockMaxRows || set.Bytes() >= e.cfg.BlockMaxBytes) {
		select {
		case e.full <- struct{}{}:
		default:
		}
	}
	return err
}

// process runs the stages on one request: RED when withRED, the sampler when withSampler
// (only the traces only accepts, if not nil), or every span into the block without a sampler.
func (e *Engine) process(ctx context.Context, req []byte, pos journal.Pos, at time.Time, withRED, withSampler bool,
	only func(pcommon.TraceID) bool) error {
	if withSampler && e.sampler == nil {
		// Every span is stored: RED counts it and the block takes it in one pass. In a replay
		// after a restart that turned the sampler off, only the traces the last run's sampler
		// still held: it had stored or dropped the others.
		return e.keepAll(req, at, withRED && e.red != nil, only)
	}
	switch {
	case withRED && e.red != nil && withSampler:
		// One reading of the request for both: RED counts each span and hands it to the
		// sampler's split (the two readings were a fifth of weir's CPU).
		split := e.sampler.NewSplit(req)
		if err := e.red.ConsumeWireVisit(req, at, split.Visit()); err != nil {
			split.Abandon()
			return err
		}
		return e.sampler.ConsumeSplit(ctx, split, uint64(pos), at, only)
	case withRED && e.red != nil:
		return e.red.ConsumeWire(req, at)
	case withSampler:
		return e.sampler.ConsumeAt(ctx, req, uint64(pos), at, only)
	}
	return nil
}

// keepAll puts every span with usable IDs into the spans block (of the traces only takes, when
// given), counting each span in RED first when withRED.
func (e *Engine) keepAll(req []byte, at time.Time, withRED bool, only func(pcommon.TraceID) bool) error {
	e.bmu.Lock()
	defer e.bmu.Unlock()
	b := e.cur.spans
	defer e.checkFull(b)
	keep := func(sp *otlpwire.Span) bool {
		return sp.ValidIDs() && (only == nil || only(pcommon.TraceID(sp.TraceID)))
	}
	if withRED {
		return e.red.ConsumeWireVisit(req, at, func(res *otlpwire.Resource, svc []byte, sc *otlpwire.Scope, sp *otlpwire.Span) {
			if keep(sp) {
				b.AppendWire(res, svc, sc, sp, nil)
			}
		})
	}
	r := &e.reader
	r.Reset(req)
	for r.NextResource() {
		svc := chblock.ServiceNameWire(r.Resource().Attrs)
		for r.NextScope() {
			for r.NextSpan() {
				if sp := r.Span(); keep(sp) {
					b.AppendWire(r.Resource(), svc, r.Scope(), sp, nil)
				}
			}
		}
	}
	return r.Err()
}

// ingestSource reads back the requests the sampler holds spans of, from ingest/.
type ingestSource struct{ log *journal.Log }

func (s ingestSource) ReadRequest(pos uint64, buf *[]byte) ([]byte, error) {
	rec, err := s.log.ReadAt(journal.Pos(pos), (*buf)[:cap(*buf)])
	if err != nil {
		return nil, err
	}
	*buf = rec.Payload
	if rec.Type != RecTraces {
		return nil, fmt.Errorf("ingest log at %d: a record of type %d, not a traces request", pos, rec.Type)
	}
	_, req, err := arrival(rec.Payload)
	return req, err
}

// keeper is the sampler's Output: kept spans go into the spans block, marked with their
// trace's decision. It runs inside Consume or Tick, under the epoch lock.
type keeper struct{ e *Engine }

func (k keeper) Keep(_ context.Context, spans []byte, decisions map[pcommon.TraceID]tailsample.Decision) error {
	e := k.e
	e.bmu.Lock()
	defer e.bmu.Unlock()
	r := &e.reader
	r.Reset(spans)
	b := e.cur.spans
	var keep chblock.Keep
	keep.ReasonKey = e.reason
	for r.NextResource() {
		svc := chblock.ServiceNameWire(r.Resource().Attrs)
		for r.NextScope() {
			for r.NextSpan() {
				sp := r.Span()
				d := decisions[pcommon.TraceID(sp.TraceID)]
				keep.Reason, keep.Threshold, keep.HasThreshold = d.Reason, d.Threshold, d.ByBaseline
				b.AppendWire(r.Resource(), svc, r.Scope(), sp, &keep)
			}
		}
	}
	e.checkFull(b)
	err := r.Err()
	r.Reset(nil) // holds no view of spans, the sampler's pooled buffer, past the call
	return err
}

// checkFull asks for an early seal when the spans block reached its limits; under bmu.
func (e *Engine) checkFull(b *chblock.SpanBlock) {
	if b.Rows() >= e.cfg.BlockMaxRows || b.Bytes() >= e.cfg.BlockMaxBytes {
		select {
		case e.full <- struct{}{}:
		default:
		}
	}
}

// seal checkpoints an epoch: the blocks of the requests so far, RED's counts when due (always
// when final), and the sampler's state, in the order the package doc gives. When writing
// fails (the disk is full, say), the epoch is aborted, its blocks stay pending, requests are
// refused, and the next seal writes them again with what came since, under a new number.
func (e *Engine) seal(final bool) error {
	e.mu.Lock()
	if e.abort != 0 {
		if err := e.store.appendMarker(RecAbort, e.abort); err != nil {
			e.mu.Unlock()
			return fmt.Errorf("abort epoch %d: %w", e.abort, err)
		}
		e.abort = 0
	}
	if e.commit != 0 {
		if err := e.appendCommit(e.commit); err != nil {
			e.mu.Unlock()
			return fmt.Errorf("commit epoch %d: %w", e.commit, err)
		}
		e.commit = 0
	}
	now := time.Now()
	pressed := e.pressed()
	if e.red != nil && (final || pressed || now.Sub(e.lastRED) >= e.cfg.RED.FlushInterval) {
		e.red.Flush(now, final, e.cur)
		e.lastRED = now
		e.redPos = e.store.Ingest.End()
	}
	e.epoch++
	ep := Epoch{Number: e.epoch, Processed: e.store.Ingest.End(), RED: e.redPos, Time: now.UnixNano()}
	e.newSnap = 0
	if e.stages != nil {
		switch {
		case !e.dirty:
			// No metrics since the snapshot: it holds the state at this position too.
			e.statePos = ep.Processed
		case final || pressed || now.Sub(e.lastSnap) >= e.cfg.MetricsSnapshot:
			e.stages.Sweep(now.UnixNano())
			e.snap = e.stages.Snapshot(e.snap[:0])
			e.newSnap, e.dirty, e.lastSnap = ep.Processed, false, now
		}
		e.tel.stages(e.stages.Drain())
	}
	ep.MetricsState, ep.MetricsSnap = e.statePos, e.snapPos
	if e.newSnap != 0 {
		ep.MetricsState, ep.MetricsSnap = e.newSnap, e.newSnap
	}
	if e.stages == nil {
		ep.MetricsState = ep.Processed
	}
	if e.red == nil {
		ep.RED = ep.Processed
	}
	ep.Oldest = ep.Processed
	if e.sampler != nil {
		if p, ok := e.sampler.OldestHeld(); ok {
			ep.Oldest = journal.Pos(p)
		}
		ep.Held = e.sampler.HeldIDs(e.held[:0])
		e.decisions = e.sampler.DrainDecisions(e.decisions)
	}
	ep.Decisions = e.decisions
	if !e.cur.empty() {
		// An empty set stays current: while seals fail (a full disk), requests are refused
		// and each epoch's set would be empty, one more a second held until a seal succeeds.
		e.sealing = append(e.sealing, e.cur)
		e.cur = e.freeSet()
	}
	sealing := e.sealing
	e.mu.Unlock()

	checkpointed, err := e.write(sealing, &ep)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.tel.sealFailed()
		e.stalled = err
		if !checkpointed {
			e.abort = ep.Number
			if e.newSnap != 0 {
				e.dirty = true // the snapshot may not be written: take it again
			}
			return err
		}
		// Only the COMMIT failed. The EPOCH names the epoch the checkpoint, so it must not
		// be aborted: a restart would take its requests as stored (not replay them) and find
		// its blocks voided. Its COMMIT comes first in the next seal (a restart writes it too);
		// until a seal succeeds, requests are refused as after any failure.
		e.commit = ep.Number
	} else {
		e.stalled = nil
	}
	e.statePos, e.snapPos = ep.MetricsState, ep.MetricsSnap
	if e.newSnap != 0 {
		e.removeSnapshots(e.newSnap)
	}
	e.decisions = e.decisions[:0]
	e.held = ep.Held[:0]
	for _, b := range e.sealing {
		b.reset()
		if len(e.free) < 2 {
			e.free = append(e.free, b) // more would only keep memory a burst needed
		}
	}
	e.sealing = e.sealing[:0]
	// What no one needs any more: requests below what RED counted and what the sampler holds.
	if terr := e.store.Ingest.TruncateBefore(min(ep.Oldest, ep.RED, ep.MetricsState)); terr != nil {
		e.logger.Warn("ingest log not truncated", zap.Error(terr))
	}
	return err
}

// freeSet is an empty block set; under mu.
func (e *Engine) freeSet() *blockSet {
	if n := len(e.free); n > 0 {
		b := e.free[n-1]
		e.free = e.free[:n-1]
		return b
	}
	info, _ := e.store.ServerInfo()
	return newBlockSet(info)
}

// write appends the blocks of sets as epoch ep's, then its EPOCH record and its COMMIT;
// checkpointed is whether the EPOCH record was written.
func (e *Engine) write(sets []*blockSet, ep *Epoch) (checkpointed bool, _ error) {
	for _, b := range sets {
		if err := e.writeBlock(b.spans, "spans", ep.Number); err != nil {
			return false, err
		}
		if b.spans.Rows() > 0 {
			if err := e.writeIndex(b.spans.Index, ep.Number); err != nil {
				return false, err
			}
		}
		if err := e.writeBlock(b.red, "red_1m", ep.Number); err != nil {
			return false, err
		}
		if err := e.writeBlock(b.edges, "edges_1m", ep.Number); err != nil {
			return false, err
		}
		for _, mb := range b.metrics.Blocks[1:] {
			if err := e.writeBlock(mb, mb.Table(), ep.Number); err != nil {
				return false, err
			}
		}
		if err := e.writeBlock(b.metrics.Series, "series_1m", ep.Number); err != nil {
			return false, err
		}
	}
	if e.newSnap != 0 {
		if err := e.writeSnapshot(e.newSnap, e.snap); err != nil {
			return false, err
		}
	}
	ep.BlocksEnd = e.store.Blocks.End()
	e.epochBuf = appendEpoch(e.epochBuf[:0], ep)
	if _, err := e.store.Ingest.AppendReserved(RecEpoch, e.epochBuf); err != nil {
		return false, fmt.Errorf("checkpoint epoch %d: %w", ep.Number, err)
	}
	if err := e.appendCommit(ep.Number); err != nil {
		// The EPOCH is written: recovery would commit it. Until then nothing may be sent.
		return true, fmt.Errorf("commit epoch %d: %w", ep.Number, err)
	}
	e.tel.sealed(ep)
	return true, nil
}

func (e *Engine) appendCommit(epoch uint64) error {
	if e.failCommit != nil {
		if err := e.failCommit(); err != nil {
			return err
		}
	}
	return e.store.appendMarker(RecCommit, epoch)
}

type encoder interface {
	Rows() int
	TimeRange() (lo, hi uint32)
	Encode(dst []byte, insertID uint64) ([]byte, error)
}

func (e *Engine) writeBlock(b encoder, table string, epoch uint64) error {
	if b.Rows() == 0 {
		return nil
	}
	id := e.store.NextInsertID()
	var err error
	if e.enc, err = b.Encode(e.enc[:0], id); err != nil {
		return fmt.Errorf("encode %s block: %w", table, err)
	}
	lo, hi := b.TimeRange()
	return e.appendData(&Block{Epoch: epoch, InsertID: id, Compression: e.cfg.Compression, Rows: b.Rows(),
		MinTime: lo, MaxTime: hi, Table: table})
}

func (e *Engine) writeIndex(ix *chblock.TraceIndexBlock, epoch uint64) error {
	var err error
	if e.enc, err = ix.Encode(e.enc[:0]); err != nil {
		return fmt.Errorf("encode trace_index block: %w", err)
	}
	return e.appendData(&Block{Epoch: epoch, Compression: e.cfg.Compression, Rows: ix.Rows(), Table: "trace_index"})
}

// appendData compresses e.enc and appends it as a BLOCK record.
func (e *Engine) appendData(b *Block) error {
	data := e.enc
	if b.Compression != CompressNone {
		if err := e.cw.Compress(e.enc); err != nil {
			return fmt.Errorf("compress %s block: %w", b.Table, err)
		}
		data = e.cw.Data
	}
	if _, err := e.store.AppendBlock(b, data); err != nil {
		return fmt.Errorf("queue %s block: %w", b.Table, err)
	}
	e.tel.block(b, len(data))
	return nil
}

// recover brings the engine where the last run's last checkpoint left it, and replays the
// requests after it (see the package doc). It runs under mu, before requests are taken.
func (e *Engine) recover(ctx context.Context) error {
	ing := e.store.Ingest
	last, found, decided, err := lastEpoch(ing)
	if err != nil {
		return err
	}
	if e.sampler != nil {
		for _, d := range decided {
			if err := e.sampler.LoadDecisions(d.decisions); err != nil {
				return err
			}
		}
	}
	if !found {
		last = Epoch{Processed: ing.Start(), RED: ing.Start(), Oldest: ing.Start(), MetricsState: ing.Start()}
	}
	if err := e.loadSnapshot(last.MetricsSnap); err != nil {
		return err
	}
	e.statePos, e.snapPos = last.MetricsState, last.MetricsSnap
	maxEpoch, err := e.settleBlocks(last, found)
	if err != nil {
		return err
	}
	e.epoch = max(last.Number, maxEpoch)
	e.redPos = last.RED
	e.lastRED = time.Now()

	// The traces held at the checkpoint, undecided or dropped and lingering, take their spans
	// from the requests below Processed again; the rest of those requests is done.
	held := make(map[pcommon.TraceID]bool, len(last.Held))
	for _, id := range last.Held {
		held[id] = true
	}
	var lingering []pcommon.TraceID
	if e.sampler != nil && last.Time != 0 {
		// The traces dropped within late_window of the checkpoint linger again, from when
		// their epoch was sealed (a little after they were dropped).
		for _, d := range decided {
			if d.time != 0 && last.Time-d.time < int64(e.cfg.Sampling.LateWindow) {
				lingering = e.sampler.RestoreLingering(lingering, d.decisions, time.Unix(0, d.time))
			}
		}
		for _, id := range lingering {
			held[id] = true
		}
	}
	only := func(id pcommon.TraceID) bool { return held[id] }
	from := min(last.Oldest, last.RED)
	if e.stages != nil {
		from = min(from, last.MetricsState)
	}
	rd := ing.NewReader(from)
	defer rd.Close()
	replayed := 0
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("replay %s: %w", ing.Dir(), err)
		}
		if rec.Type != RecTraces && rec.Type != RecMetrics {
			continue
		}
		ns, req, err := arrival(rec.Payload)
		if err != nil {
			return fmt.Errorf("replay %s at %d: %w", ing.Dir(), rec.Pos, err)
		}
		at := time.Unix(0, ns)
		if rec.Type == RecMetrics {
			switch {
			case rec.Pos >= last.Processed:
				err = e.processMetrics(req, nil, at, false)
				replayed++
			case e.stages != nil && rec.Pos >= last.MetricsState:
				// Its points are in blocks; the stages' state must see it again.
				err = e.processMetrics(req, nil, at, true)
			}
			// As when it was taken (settle): logged and counted, and the replay goes on; one
			// request that cannot be processed must not stop weir from starting.
			if err != nil {
				e.settle(fmt.Errorf("replay %s at %d: %w", ing.Dir(), rec.Pos, err))
			}
			continue
		}
		if rec.Pos < last.Processed {
			err = e.process(ctx, req, rec.Pos, at, rec.Pos >= last.RED, rec.Pos >= last.Oldest && len(held) > 0, only)
		} else {
			err = e.process(ctx, req, rec.Pos, at, true, true, nil)
			replayed++
		}
		if err != nil {
			e.settle(fmt.Errorf("replay %s at %d: %w", ing.Dir(), rec.Pos, err))
		}
	}
	if found || replayed > 0 {
		e.logger.Info("ingest log recovered", zap.Uint64("epoch", last.Number), zap.Int("held_traces", len(last.Held)),
			zap.Int("lingering_traces", len(lingering)),
			zap.Int("requests_replayed", replayed), zap.Uint64("from", uint64(from)))
	}
	return nil
}

// epochDecisions are the decisions an epoch logged, and when it was sealed (0: unknown).
type epochDecisions struct {
	time      int64
	decisions []byte
}

// lastEpoch finds the last EPOCH record in the ingest log, and the decisions of every EPOCH
// still there, oldest first.
func lastEpoch(ing *journal.Log) (Epoch, bool, []epochDecisions, error) {
	rd := ing.NewReader(ing.Start())
	defer rd.Close()
	var last Epoch
	found := false
	var decided []epochDecisions
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return last, found, decided, nil
		}
		if err != nil {
			return last, found, decided, fmt.Errorf("read %s: %w", ing.Dir(), err)
		}
		if rec.Type != RecEpoch {
			continue
		}
		ep, err := decodeEpoch(rec.Payload)
		if err != nil {
			return last, found, decided, fmt.Errorf("read %s at %d: %w", ing.Dir(), rec.Pos, err)
		}
		if len(ep.Decisions) > 0 {
			decided = append(decided, epochDecisions{time: ep.Time, decisions: bytes.Clone(ep.Decisions)})
		}
		ep.Decisions = nil
		last, found = ep, true
	}
}

// settleBlocks writes the COMMIT the last epoch may miss and aborts the epochs after it, and
// returns the highest epoch number the blocks log knows.
func (e *Engine) settleBlocks(last Epoch, found bool) (uint64, error) {
	bl := e.store.Blocks
	from := bl.Start()
	if found && last.BlocksEnd > from {
		from = last.BlocksEnd
	}
	rd := bl.NewReader(from)
	defer rd.Close()
	committed := !found // nothing to commit without an epoch
	var later []uint64
	maxEpoch := last.Number
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", bl.Dir(), err)
		}
		switch rec.Type {
		case RecBlock:
			b, err := DecodeBlock(rec.Payload)
			if err != nil {
				return 0, fmt.Errorf("read %s at %d: %w", bl.Dir(), rec.Pos, err)
			}
			if b.Epoch > last.Number && (len(later) == 0 || later[len(later)-1] != b.Epoch) {
				later = append(later, b.Epoch)
			}
			maxEpoch = max(maxEpoch, b.Epoch)
		case RecCommit, RecAbort:
			n, err := DecodeEpochMarker(rec.Payload)
			if err != nil {
				return 0, err
			}
			if n == last.Number {
				committed = true
			}
			maxEpoch = max(maxEpoch, n)
			if n > last.Number {
				later = removeEpoch(later, n) // settled already
			}
		}
	}
	if !committed {
		if err := e.store.appendMarker(RecCommit, last.Number); err != nil {
			return 0, fmt.Errorf("commit epoch %d after a restart: %w", last.Number, err)
		}
	}
	for _, n := range later {
		if err := e.store.appendMarker(RecAbort, n); err != nil {
			return 0, fmt.Errorf("abort epoch %d after a restart: %w", n, err)
		}
	}
	return maxEpoch, nil
}

func removeEpoch(s []uint64, n uint64) []uint64 {
	out := s[:0]
	for _, v := range s {
		if v != n {
			out = append(out, v)
		}
	}
	return out
}

// The metric stages' snapshots are files state/metrics-<position>.snap, written whole (a
// temporary file, fsync, rename) before the EPOCH that names them.
func (e *Engine) snapshotPath(p journal.Pos) string {
	return filepath.Join(e.store.Dir(), "state", fmt.Sprintf("metrics-%016x.snap", uint64(p)))
}

func (e *Engine) writeSnapshot(p journal.Pos, data []byte) error {
	path := e.snapshotPath(p)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("metric stages snapshot: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("metric stages snapshot: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("metric stages snapshot: %w", err)
	}
	return nil
}

// removeSnapshots deletes the snapshots older than keep, once an EPOCH names keep.
func (e *Engine) removeSnapshots(keep journal.Pos) {
	files, _ := filepath.Glob(filepath.Join(e.store.Dir(), "state", "metrics-*.snap*"))
	want := e.snapshotPath(keep)
	for _, f := range files {
		if f != want {
			_ = os.Remove(f)
		}
	}
}

// loadSnapshot loads the snapshot an EPOCH names into the stages.
func (e *Engine) loadSnapshot(p journal.Pos) error {
	if e.stages == nil || p == 0 {
		return nil
	}
	data, err := os.ReadFile(e.snapshotPath(p))
	if err != nil {
		return fmt.Errorf("metric stages snapshot: %w", err)
	}
	return e.stages.Load(data)
}
