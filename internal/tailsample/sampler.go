package tailsample

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirhq/weir/internal/otlpwire"

	"github.com/VictoriaMetrics/fastcache"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"
)

// traceState is one held trace: its spans as s2-compressed frames of OTLP TracesData messages
// (decompressed and concatenated they are one message, since protobuf concatenation merges,
// so one Unmarshal gives every span) and its summary.
type traceState struct {
	id       pcommon.TraceID
	buf      []byte
	sum      summary
	first    time.Time // first span arrived
	last     time.Time // latest span arrived
	firstPos uint64    // the lowest position of its spans in the caller's log (ConsumeAt)
	size     int64     // its spans' size: bytes by reference, else frames (max_trace_bytes)
	decided  bool
	overhead int64

	// dropped is when the trace was dropped, while it lingers for late_window: its spans stay
	// held so that late spans can still make it kept. gone is set when it stops lingering.
	dropped time.Time
	gone    bool
}

// traceOverhead approximates the bytes a held trace costs beyond its buffer: the struct, its
// map entry and queue slot.
const traceOverhead = 224

func (t *traceState) bytes() int64 { return int64(cap(t.buf)) + traceOverhead }

// Source reads back a request its caller gave ConsumeAt or ConsumeSplit at pos: with one
// (HoldByReference), the sampler holds only where each held span is, not its bytes.
type Source interface {
	// ReadRequest returns the request at pos, read into *buf (grown when too small, and kept
	// by the caller for the next read).
	ReadRequest(pos uint64, buf *[]byte) ([]byte, error)
}

// Sampler is the tail sampler. Consume and Tick may be called concurrently.
type Sampler struct {
	cfg    *Config
	src    Source // nil: held spans are s2 frames in memory
	pol    *policies
	out    Output
	logger *zap.Logger
	tel    *telemetry
	now    func() time.Time

	cache *fastcache.Cache
	// decided filters the cache's lookups: most traces were never decided (decidedFilter).
	decided *decidedFilter
	// remembered counts the decisions put in cache: Consume looks in the cache once, outside
	// the lock, and again under it only if a decision was made in between.
	remembered atomic.Uint64

	mu sync.Mutex
	// traces holds the traces waiting for a decision and the dropped ones lingering for
	// late_window (decided, not gone): one table, so that a new trace's spans cost one lookup
	// and a dropped trace stays where it is (a map of its own: its lookups, inserts and deletes
	// came to about 4 % of weir's CPU in a shipped-config profile). traceTable says why it is
	// not a Go map.
	traces  traceTable
	pending int           // the traces waiting for a decision
	fifo    []*traceState // arrival order; decided entries are skipped and compacted away
	head    int
	held    int64 // bytes of all held traces, lingering ones included
	budgets map[string]*budget

	// The queue of lingering traces in the order they were dropped (entries that stopped
	// lingering early are marked gone and skipped).
	lingerQ    []*traceState
	lingerHead int

	// firstPos counts the traces OldestHeld covers by their firstPos: those held undecided,
	// and, holding by reference, the dropped ones lingering whose position is known. A seal
	// asks for the smallest every second; finding it by walking every such trace (tens of
	// thousands, each a cache miss) was 3.4 % of weir's CPU at 50k spans/s (2026-12-07
	// 19:50), while a few hundred requests' positions are in use at once.
	firstPos map[uint64]int32

	// logDecisions makes every decision also go into decisions (RecordDecisions).
	logDecisions bool
	decisions    []byte // trace ID (16 bytes) and encoded decision (10 bytes), repeated

	stop chan struct{}
	done chan struct{}
}

// New returns a sampler that gives what it keeps to out. set's logger and meter provider
// carry its telemetry. Call Shutdown when done: it decides what is still held.
func New(cfg *Config, set component.TelemetrySettings, out Output) (*Sampler, error) {
	tel, err := newTelemetry(set)
	if err != nil {
		return nil, err
	}
	// Half as many again as the cache can hold: a bucket of the cache takes a 512th of the Adds,
	// give or take a few percent, so it forgets a trace well before the filter does.
	decided := newDecidedFilter(fastcacheEntries(cfg.DecisionCacheBytes, 16, DecisionRecordSize-16) * 3 / 2)
	ts := &Sampler{
		cfg:      cfg,
		pol:      newPolicies(cfg),
		out:      out,
		logger:   set.Logger,
		tel:      tel,
		now:      time.Now,
		cache:    fastcache.New(cfg.DecisionCacheBytes),
		decided:  decided,
		traces:   newTraceTable(),
		budgets:  map[string]*budget{},
		firstPos: map[uint64]int32{},
	}
	if err := tel.observe(ts); err != nil {
		return nil, err
	}
	return ts, nil
}

// HoldByReference makes the sampler hold spans as references into src's requests (their
// position and the spans' ordinals, a few bytes a span) instead of compressed copies, for a
// caller that keeps every request in a log anyway until the sampler no longer needs it:
// OldestHeld then covers the lingering dropped traces too, and kept spans are read back when
// they are handed to the output. Call it before the first Consume: it panics when traces
// are held already, since OldestHeld's counts (firstPos) would leave out the dropped traces
// held in memory until then.
func (ts *Sampler) HoldByReference(src Source) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.traces.len() > 0 {
		panic("tailsample: HoldByReference after traces were consumed")
	}
	ts.src = src
}

// StartTicker decides due traces every tick_interval in a goroutine of its own, until
// Shutdown. Callers that drive decisions themselves call Tick instead.
func (ts *Sampler) StartTicker() {
	ts.stop, ts.done = make(chan struct{}), make(chan struct{})
	go ts.loop()
	ts.logger.Info("tail sampler started",
		zap.Duration("idle_time", ts.cfg.IdleTime), zap.Duration("max_wait", ts.cfg.MaxWait),
		zap.Int64("max_buffered_bytes", ts.cfg.MaxBufferedBytes),
		zap.Float64("baseline", ts.cfg.Baseline.Probability))
}

// Shutdown decides every held trace (nothing is dropped undecided) and gives what is kept
// to the output.
func (ts *Sampler) Shutdown(ctx context.Context) error {
	if ts.stop != nil {
		close(ts.stop)
		<-ts.done
		ts.stop = nil
	}
	ts.mu.Lock()
	out := getBatch()
	defer putBatch(out)
	// Collected first: deciding a trace deletes it, and the table's deletes move other
	// traces back into slots its walk has passed.
	var held []*traceState
	for t := range ts.traces.all {
		held = append(held, t)
	}
	for _, t := range held {
		ts.decideLocked(t, out, causeShutdown)
	}
	ts.compactLocked()
	ts.tel.flushDecided()
	ts.mu.Unlock()
	err := ts.flush(ctx, out)
	ts.logger.Info("tail sampler stopped")
	ts.cache.Reset()
	return err
}

func (ts *Sampler) loop() {
	defer close(ts.done)
	t := time.NewTicker(ts.cfg.tick())
	defer t.Stop()
	for {
		select {
		case <-ts.stop:
			return
		case <-t.C:
			if err := ts.Tick(context.Background()); err != nil {
				ts.logger.Warn("forwarding sampled traces failed", zap.Error(err))
			}
		}
	}
}

// Tick decides the traces that are due and gives what is kept to the output.
func (ts *Sampler) Tick(ctx context.Context) error {
	out := getBatch()
	defer putBatch(out)
	ts.mu.Lock()
	now := ts.now()
	// The queue is in the order of first spans (both are set under the lock), and a trace is
	// due at the earliest min(idle_time, max_wait) after its first span (its last span came
	// no earlier): the traces due are among those before the first one younger than that.
	soonest := min(ts.cfg.IdleTime, ts.cfg.MaxWait)
	for _, t := range ts.fifo[ts.head:] {
		if t == nil || t.decided {
			continue
		}
		age := now.Sub(t.first)
		if age < soonest {
			break
		}
		switch {
		case age >= ts.cfg.MaxWait:
			ts.decideLocked(t, out, causeMaxWait)
		case t.sum.hasRoot && now.Sub(t.last) >= ts.cfg.IdleTime:
			ts.decideLocked(t, out, causeComplete)
		}
	}
	ts.expireLingeringLocked(now)
	ts.compactLocked()
	ts.tel.flushDecided()
	ts.mu.Unlock()
	return ts.flush(ctx, out)
}

// Consume takes the spans of req, an OTLP TracesData or ExportTraceServiceRequest message,
// into their traces' buffers. Spans of traces already decided follow the decision at once.
// Spans without usable IDs cannot be judged: they are dropped and counted. req is read, not
// kept; it must decode (otlpwire.CheckTraces).
func (ts *Sampler) Consume(ctx context.Context, req []byte) error {
	return ts.ConsumeAt(ctx, req, 0, time.Time{}, nil)
}

// ConsumeAt is Consume for a caller that keeps requests in a log: pos is where req is in it
// (OldestHeld reports the oldest position a held trace still needs), at is when req arrived
// (the zero time: now), and only traces for which only returns true are taken (nil: all),
// which replaying a log after a crash uses to rebuild the traces held at a checkpoint.
func (ts *Sampler) ConsumeAt(ctx context.Context, req []byte, pos uint64, at time.Time, only func(pcommon.TraceID) bool) error {
	g := getGroups()
	defer putGroups(g)
	invalid, err := g.split(req, ts.pol.attrs)
	if err != nil {
		return fmt.Errorf("tail sampler: %w", err)
	}
	return ts.consumeGroups(ctx, g, invalid, pos, at, only)
}

// Split is a request being split by trace while its caller reads it: a caller that reads
// every span anyway (weir's engine, for RED) gives each to Visit rather than have the
// sampler read the request a second time. Visit must see every span otlpwire.Traces reads
// from the request, in order, those without usable IDs too.
type Split struct {
	g *groups
}

// NewSplit starts splitting req; ConsumeSplit or Abandon ends it. req must stay as it is
// until then.
func (ts *Sampler) NewSplit(req []byte) Split {
	g := getGroups()
	g.begin(req, ts.pol.attrs)
	return Split{g: g}
}

// Visit takes the next span: service is its resource's service.name, nil when it has none.
// It has the shape of red.Visit, and allocates nothing.
func (s Split) Visit() func(res *otlpwire.Resource, service []byte, sc *otlpwire.Scope, sp *otlpwire.Span) {
	return s.g.visit
}

// Abandon ends a split whose request could not be read.
func (s Split) Abandon() { putGroups(s.g) }

// ConsumeSplit is ConsumeAt for a request whose spans went to s.Visit.
func (ts *Sampler) ConsumeSplit(ctx context.Context, s Split, pos uint64, at time.Time, only func(pcommon.TraceID) bool) error {
	g := s.g
	defer putGroups(g)
	if err := g.end(); err != nil {
		return fmt.Errorf("tail sampler: %w", err)
	}
	return ts.consumeGroups(ctx, g, g.invalid, pos, at, only)
}

// consumeGroups holds, decides or passes on the groups of one request.
func (ts *Sampler) consumeGroups(ctx context.Context, g *groups, invalid int, pos uint64, at time.Time, only func(pcommon.TraceID) bool) error {
	if only != nil {
		for i := range g.list {
			if !only(g.list[i].id) {
				g.list[i].late = true // not taken: neither held nor passed on
			}
		}
	}
	// only is given when the caller replays requests it gave before (a restart): what they
	// hold was counted then.
	replay := only != nil
	if invalid > 0 && !replay {
		ts.tel.invalidSpans.Add(ctx, int64(invalid))
	}

	out := getBatch()
	defer putBatch(out)
	var errs []error
	// Decisions made from here on: none (the usual case) spares looking in the cache again
	// under the lock for the traces found there in no cache now.
	remembered := ts.remembered.Load()
	// Late spans of kept traces go straight through, without touching the store.
	for i := range g.list {
		gr := &g.list[i]
		if gr.late {
			continue
		}
		d, ok := ts.cachedDecision(gr.id)
		gr.uncached = !ok
		if ok && d.keep {
			gr.late = true
			ts.tel.lateSpans.Add(ctx, int64(gr.sum.spans), keptOpt)
			out.addRaw(gr.id, g.message(gr), ts.export(d))
			continue
		}
		// Undecided, or dropped: a dropped trace may still be kept by what these spans carry,
		// which is decided under the lock with the spans it still holds.
		if ts.src != nil {
			// Where they are in the caller's log: the spans are read back only if kept, and
			// neither copied nor compressed here, though nine in ten are dropped at the
			// shipped baseline; held memory is a few bytes a span.
			gr.buf = g.appendRefFrame(nil, gr, pos, &g.scratch)
			gr.size = g.spanBytes(gr)
		} else {
			// Held spans are kept s2-compressed, one frame per batch: 58 instead of 180 bytes a
			// held span on the benchmark stream (bench/tailsampling TestMemoryPerBufferedSpan).
			gr.buf = appendFrame(nil, g.message(gr), &g.scratch)
			gr.size = len(gr.buf)
		}
	}

	ts.mu.Lock()
	now := ts.now() // under the lock, so the arrival queue is in the order of first spans
	if !at.IsZero() {
		now = at
		// A replay runs no Tick: traces stop lingering as they did when these spans came.
		ts.expireLingeringLocked(now)
	}
	ts.traces.warm(g.list)
	for i := range g.list {
		gr := &g.list[i]
		if gr.late || gr.buf == nil {
			continue
		}
		t := ts.traces.get(gr.id)
		ok := t != nil
		if ok && t.decided {
			// Dropped and lingering, even if the cache evicted its decision since: a new
			// trace here would replace it, decided apart from the spans it holds.
			ts.lateForDroppedLocked(ctx, gr, t, pos, now, out, replay)
			continue
		}
		if !ok {
			var d decision
			if !gr.uncached || ts.remembered.Load() != remembered {
				d, ok = ts.cachedDecision(gr.id)
			}
			// Decided already, or between the check above and the lock.
			switch {
			case ok && d.keep:
				ts.tel.lateSpans.Add(ctx, int64(gr.sum.spans), keptOpt)
				if err := out.add(gr.id, gr.buf, ts.export(d)); err != nil {
					errs = append(errs, err)
				}
				continue
			case ok:
				ts.lateForDroppedLocked(ctx, gr, nil, pos, now, out, replay)
				continue
			}
			t = &traceState{id: gr.id, first: now, firstPos: pos}
			ts.countPos(pos)
			ts.traces.put(t)
			ts.pending++
			ts.fifo = append(ts.fifo, t)
			ts.held += traceOverhead
		}
		// Requests are logged, then consumed, by concurrent callers: spans logged earlier may
		// come later. The trace needs its lowest position replayed after a crash.
		if pos < t.firstPos {
			ts.movePos(t, pos)
		}
		before := int64(cap(t.buf))
		if t.buf == nil {
			t.buf = gr.buf // the first frame: take it rather than copy it
		} else {
			t.buf = append(t.buf, gr.buf...)
		}
		ts.held += int64(cap(t.buf)) - before
		t.size += int64(gr.size)
		t.sum.merge(&gr.sum)
		t.last = now
		if t.size >= ts.cfg.MaxTraceBytes {
			ts.tel.traceCapHits.Add(ctx, 1)
			ts.decideLocked(t, out, causeTraceCap)
		}
	}
	// At the memory bound, let dropped traces stop lingering first (the oldest first), then
	// decide the oldest held traces early instead of losing spans.
	for ts.held > ts.cfg.MaxBufferedBytes {
		if ts.lingerHead < len(ts.lingerQ) {
			ts.unlingerLocked(ts.lingerQ[ts.lingerHead])
			ts.lingerQ[ts.lingerHead] = nil
			ts.lingerHead++
			continue
		}
		if ts.head >= len(ts.fifo) {
			break
		}
		t := ts.fifo[ts.head]
		ts.head++
		if !t.decided {
			ts.decideLocked(t, out, causeMemory)
		}
	}
	ts.compactLocked()
	ts.tel.flushDecided()
	ts.mu.Unlock()
	if err := ts.flush(ctx, out); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// remember records d for later spans of trace id (and in the decision log, when kept).
func (ts *Sampler) remember(id pcommon.TraceID, d decision) {
	var enc [10]byte
	e := d.encode(enc[:0])
	ts.setCached(id[:], e)
	if ts.logDecisions {
		ts.decisions = append(ts.decisions, id[:]...)
		ts.decisions = append(ts.decisions, e...)
	}
}

// RecordDecisions makes the sampler log every decision from now on, for a caller that
// checkpoints them (DrainDecisions) and restores them after a crash (LoadDecisions), so
// that late spans of traces decided before the crash still follow their decision.
func (ts *Sampler) RecordDecisions() {
	ts.mu.Lock()
	ts.logDecisions = true
	ts.mu.Unlock()
}

// DrainDecisions appends the decisions logged since the last call to dst: 26 bytes each, a
// trace ID and the decision's encoding.
func (ts *Sampler) DrainDecisions(dst []byte) []byte {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	dst = append(dst, ts.decisions...)
	ts.decisions = ts.decisions[:0]
	return dst
}

// LoadDecisions takes decisions that DrainDecisions gave, into the cache late spans look in.
func (ts *Sampler) LoadDecisions(b []byte) error {
	if len(b)%DecisionRecordSize != 0 {
		return fmt.Errorf("tail sampler: %d bytes of decisions are not whole records of %d", len(b), DecisionRecordSize)
	}
	for ; len(b) > 0; b = b[DecisionRecordSize:] {
		if _, ok := decodeDecision(b[16:DecisionRecordSize]); !ok {
			return errors.New("tail sampler: a logged decision does not decode")
		}
		ts.setCached(b[:16], b[16:DecisionRecordSize])
	}
	return nil
}

// setCached puts a trace's encoded decision in the cache later spans look in.
func (ts *Sampler) setCached(id, enc []byte) {
	ts.decided.Add(id) // before the cache: a lookup that finds it in the filter then looks there
	ts.cache.Set(id, enc)
	ts.remembered.Add(1)
}

// DecisionRecordSize is the size of one logged decision.
const DecisionRecordSize = 16 + 10

// HeldIDs appends the IDs of the traces held undecided to dst.
func (ts *Sampler) HeldIDs(dst []pcommon.TraceID) []pcommon.TraceID {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	// The arrival queue, not the map: the map holds the lingering traces too, four or five
	// times as many at the shipped late_window, and a seal asks for these every second.
	for _, t := range ts.fifo[ts.head:] {
		if t != nil && !t.decided {
			dst = append(dst, t.id)
		}
	}
	return dst
}

// RestoreLingering makes the traces that decisions (DrainDecisions' records, logged at
// dropped) dropped linger again, as they did when their decisions were made, holding no
// spans yet, and appends their IDs to dst. A caller that replays its log from before their
// spans (OldestHeld covered them) gives those spans to ConsumeAt with these IDs in only; they
// join the traces as late spans of a dropped trace do, so a late span after a restart keeps
// the whole trace, as without it. Traces a later decision kept, and those lingering already,
// are left out; the traces linger until late_window after dropped. Call it after
// LoadDecisions, before any spans are consumed.
func (ts *Sampler) RestoreLingering(dst []pcommon.TraceID, decisions []byte, dropped time.Time) []pcommon.TraceID {
	if ts.cfg.LateWindow <= 0 {
		return dst
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for ; len(decisions) >= DecisionRecordSize; decisions = decisions[DecisionRecordSize:] {
		d, ok := decodeDecision(decisions[16:DecisionRecordSize])
		if !ok || d.keep {
			continue
		}
		id := pcommon.TraceID(decisions[:16])
		if now, ok := ts.cachedDecision(id); ok && now.keep {
			continue // kept by a later decision (late spans)
		}
		if ts.traces.get(id) != nil {
			continue // lingering already, or (not before any spans) held
		}
		// firstPos is unknown until its spans come back: OldestHeld passes over it till then.
		t := &traceState{id: id, first: dropped, last: dropped, firstPos: noPos, decided: true, dropped: dropped}
		ts.traces.put(t)
		ts.lingerQ = append(ts.lingerQ, t)
		ts.held += t.bytes()
		dst = append(dst, id)
	}
	return dst
}

// noPos is the firstPos of a restored lingering trace none of whose spans came back yet.
const noPos = ^uint64(0)

// DecideBefore decides now every held trace with spans at a position (ConsumeAt's pos)
// below pos, so that a caller whose log of requests is filling up can let go of its oldest
// part (OldestHeld moves past pos). Decisions follow the policies as at any time; only
// their moment changes, as at max_buffered_bytes. Holding by reference, dropped traces
// lingering on spans below pos stop lingering.
func (ts *Sampler) DecideBefore(ctx context.Context, pos uint64) error {
	out := getBatch()
	defer putBatch(out)
	ts.mu.Lock()
	for _, t := range ts.fifo[ts.head:] {
		if t != nil && !t.decided && t.firstPos < pos {
			ts.decideLocked(t, out, causeJournal)
		}
	}
	if ts.src != nil {
		// Dropped traces lingering on spans below pos let them go: the caller's log needs
		// the room more than a late error needs them.
		for _, t := range ts.lingerQ[ts.lingerHead:] {
			if t != nil && !t.gone && t.firstPos < pos {
				ts.unlingerLocked(t)
			}
		}
	}
	ts.compactLocked()
	ts.tel.flushDecided()
	ts.mu.Unlock()
	return ts.flush(ctx, out)
}

// OldestHeld is the smallest position (ConsumeAt's pos) of the spans of a trace held
// undecided, or, holding by reference, of a dropped trace still lingering; ok is false when
// none is held. The arrival queue's head need not hold it: concurrent callers log requests
// in another order than they consume them (a request logged first can be consumed second),
// and taking the head's would let the caller drop from its log a request that a held trace
// still needs, and lose that trace's spans in a crash. So the sampler counts the traces by
// their position as they come, move and go (firstPos), and looks through the positions in
// use, not the traces.
func (ts *Sampler) OldestHeld() (pos uint64, ok bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for p := range ts.firstPos {
		if !ok || p < pos {
			pos, ok = p, true
		}
	}
	return pos, ok
}

// countPos counts a trace at position p for OldestHeld; under mu.
func (ts *Sampler) countPos(p uint64) { ts.firstPos[p]++ }

// uncountPos takes back a countPos(p); under mu.
func (ts *Sampler) uncountPos(p uint64) {
	if n := ts.firstPos[p]; n > 1 {
		ts.firstPos[p] = n - 1
	} else {
		delete(ts.firstPos, p)
	}
}

// movePos moves a counted trace to its new, smaller firstPos p; under mu.
func (ts *Sampler) movePos(t *traceState, p uint64) {
	ts.uncountPos(t.firstPos)
	ts.countPos(p)
	t.firstPos = p
}

func (ts *Sampler) cachedDecision(id pcommon.TraceID) (decision, bool) {
	if !ts.decided.Has(id[:]) {
		return decision{}, false
	}
	var buf [16]byte
	v := ts.cache.Get(buf[:0], id[:])
	if len(v) == 0 {
		return decision{}, false
	}
	return decodeDecision(v)
}

// Why a decision was made when it was.
const (
	causeComplete = "complete"  // root ended and the trace went quiet
	causeMaxWait  = "max_wait"  // held for max_wait
	causeTraceCap = "trace_cap" // the trace reached max_trace_bytes
	causeMemory   = "memory"    // all traces together reached max_buffered_bytes
	causeJournal  = "journal"   // the caller's log of requests filled up (DecideBefore)
	causeShutdown = "shutdown"
)

// decideLocked decides t, records the decision and queues t's spans when kept.
func (ts *Sampler) decideLocked(t *traceState, out *batch, cause string) {
	if t.decided {
		return
	}
	t.decided = true
	ts.pending--
	d := ts.evaluateLocked(t)
	ts.remember(t.id, d)
	ts.tel.decided(cause, d, ts.reasonOf(d), t.sum.spans)
	if !d.keep && ts.cfg.LateWindow > 0 && cause != causeShutdown && cause != causeMemory {
		// Dropped: keep its spans for late_window (still counted in held), in case a late span
		// makes a policy match after all. It stays in traces, decided.
		t.dropped = ts.now()
		ts.lingerQ = append(ts.lingerQ, t)
		if ts.src == nil {
			ts.uncountPos(t.firstPos) // its spans are held in memory, not in the caller's log
		}
		return
	}
	ts.uncountPos(t.firstPos)
	ts.traces.delete(t)
	ts.held -= t.bytes()
	if d.keep {
		ts.addKept(out, t.id, t.buf, d)
	}
	t.buf = nil
}

func (ts *Sampler) addKept(out *batch, id pcommon.TraceID, frames []byte, d decision) {
	if err := out.add(id, frames, ts.export(d)); err != nil {
		// Only our own framing can be corrupt: a bug, logged, never bad input.
		ts.logger.Error("kept trace could not be read back", zap.Error(err))
	}
}

// lateForDroppedLocked takes spans that came after their trace was dropped. While the trace
// lingers (t, else nil) they join its held spans, and if together they now make a policy
// match (a late error, say), the whole trace is kept after all, with the reason
// late_<policy>; later spans follow that. A trace no longer lingering is kept from these
// spans on if they alone match.
func (ts *Sampler) lateForDroppedLocked(ctx context.Context, gr *group, t *traceState, pos uint64, now time.Time, out *batch, replay bool) {
	if t == nil {
		r, ok := ts.pol.mustKeep(&gr.sum)
		if !ok {
			if !replay {
				ts.tel.lateSpans.Add(ctx, int64(gr.sum.spans), droppedOpt)
			}
			return
		}
		d := decision{keep: true, late: true, reason: r}
		ts.remember(gr.id, d)
		ts.tel.lateSpans.Add(ctx, int64(gr.sum.spans), keptOpt)
		ts.tel.upgraded(ctx, ts.reasonOf(d), 0)
		ts.addKept(out, gr.id, gr.buf, d)
		return
	}
	before := int64(cap(t.buf))
	t.buf = append(t.buf, gr.buf...)
	ts.held += int64(cap(t.buf)) - before
	t.size += int64(gr.size)
	switch {
	case ts.src == nil:
		t.firstPos = min(t.firstPos, pos)
	case t.firstPos == noPos: // restored, its first spans back: OldestHeld covers it now
		t.firstPos = pos
		ts.countPos(pos)
	case pos < t.firstPos:
		ts.movePos(t, pos)
	}
	held := t.sum.spans
	t.sum.merge(&gr.sum)
	t.last = now
	r, ok := ts.pol.mustKeep(&t.sum)
	if !ok {
		if !replay {
			// Replayed, these are the trace's own spans coming back, not late ones.
			ts.tel.lateSpans.Add(ctx, int64(gr.sum.spans), droppedOpt)
		}
		return
	}
	d := decision{keep: true, late: true, reason: r}
	ts.remember(t.id, d)
	ts.tel.lateSpans.Add(ctx, int64(gr.sum.spans), keptOpt)
	ts.tel.upgraded(ctx, ts.reasonOf(d), held)
	ts.addKept(out, t.id, t.buf, d)
	ts.unlingerLocked(t)
}

// unlingerLocked lets a dropped trace's spans go.
func (ts *Sampler) unlingerLocked(t *traceState) {
	if t.gone {
		return
	}
	t.gone = true
	if ts.src != nil && t.firstPos != noPos {
		ts.uncountPos(t.firstPos)
	}
	ts.traces.delete(t)
	ts.held -= t.bytes()
	t.buf = nil
}

// expireLingeringLocked ends the lingering of traces dropped more than late_window ago, and
// compacts the queue.
func (ts *Sampler) expireLingeringLocked(now time.Time) {
	for ts.lingerHead < len(ts.lingerQ) {
		t := ts.lingerQ[ts.lingerHead]
		if !t.gone && now.Sub(t.dropped) < ts.cfg.LateWindow {
			break
		}
		ts.unlingerLocked(t)
		ts.lingerQ[ts.lingerHead] = nil
		ts.lingerHead++
	}
	if ts.lingerHead > 1024 && ts.lingerHead > len(ts.lingerQ)/2 {
		n := copy(ts.lingerQ, ts.lingerQ[ts.lingerHead:])
		clear(ts.lingerQ[n:])
		ts.lingerQ, ts.lingerHead = ts.lingerQ[:n], 0
	}
}

// evaluateLocked runs the policies on t. Only the budget depends on anything but t.
func (ts *Sampler) evaluateLocked(t *traceState) decision {
	if r, ok := ts.pol.mustKeep(&t.sum); ok {
		return decision{keep: true, reason: r}
	}
	prob := ts.pol.baseline
	if limit := ts.budgetLimit(t.sum.service()); limit > 0 {
		b := ts.budgets[t.sum.service()]
		if b == nil {
			b = &budget{limit: limit}
			ts.budgets[t.sum.service()] = b
		}
		prob = b.probability(ts.now(), t.sum.spans, prob)
	}
	return baselineDecision(t.id, &t.sum, prob)
}

func (ts *Sampler) budgetLimit(service string) float64 {
	if l, ok := ts.pol.budgets.Services[service]; ok {
		return l
	}
	return ts.pol.budgets.DefaultSpansPerSecond
}

// compactLocked drops decided traces from the front of the arrival queue, and rewrites the
// queue when most of it is dead, so it stays proportional to the traces held.
func (ts *Sampler) compactLocked() {
	for ts.head < len(ts.fifo) && ts.fifo[ts.head].decided {
		ts.fifo[ts.head] = nil
		ts.head++
	}
	if ts.head > 1024 && ts.head > len(ts.fifo)/2 || len(ts.fifo) > 4*ts.pending+1024 {
		live := ts.fifo[:0]
		for _, t := range ts.fifo[ts.head:] {
			if t != nil && !t.decided {
				live = append(live, t)
			}
		}
		clear(ts.fifo[len(live):])
		ts.fifo, ts.head = live, 0
	}
}

// export is d as the output sees it.
func (ts *Sampler) export(d decision) Decision {
	return Decision{Reason: ts.reasonOf(d), Threshold: d.threshold, ByBaseline: d.byBase}
}

// reasonOf names why d keeps a trace: the policy, prefixed with late_ when late spans made
// it match after the trace had been dropped.
func (ts *Sampler) reasonOf(d decision) string {
	if d.late {
		return "late_" + ts.reasonName(d.reason)
	}
	return ts.reasonName(d.reason)
}

func (ts *Sampler) reasonName(r uint8) string {
	switch r {
	case reasonError:
		return "error"
	case reasonLatency:
		return "latency"
	case reasonSpanCount:
		return "span_count"
	case reasonBaseline:
		return "baseline"
	case reasonDropped:
		return "dropped"
	}
	if i := int(r - reasonAttributeBase); i < len(ts.pol.attrs) {
		return "attribute:" + ts.pol.attrs[i].name
	}
	return "unknown"
}
