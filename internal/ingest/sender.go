package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/weirhq/weir/internal/chinsert"
	"github.com/weirhq/weir/internal/journal"
)

// RecSending lists the blocks an insert is about to send (their positions, 8 bytes each). A
// block listed here without a SENT record may be in ClickHouse after a crash: the sender asks
// before sending it again.
const RecSending byte = 14

// SenderConfig configures a Sender.
type SenderConfig struct {
	// Database the tables are in.
	Database string
	// Settings go with every INSERT (insert_distributed_sync=1 on a cluster, for one).
	Settings []chinsert.Setting
	// Workers is how many INSERTs run at once, each for a different table. Default 2.
	Workers int
	// BatchMaxRows and BatchMaxBytes bound one INSERT: consecutive ready blocks of a table go
	// in one body up to them. Rows stay at most 1,000,000, under ClickHouse's
	// min_insert_block_size_rows, so that an INSERT is all or nothing.
	BatchMaxRows  int
	BatchMaxBytes int
	// MinBatchRows and MaxBatchWait make INSERTs large and few: a table's ready blocks are sent
	// once they hold MinBatchRows rows, or when the oldest has waited MaxBatchWait. Every INSERT
	// makes a part that ClickHouse merges later, and parts of a few thousand rows cost it more
	// than the rows themselves. Defaults 200,000 rows and 5 s.
	MinBatchRows int
	MaxBatchWait time.Duration
	// RetryInitial and RetryMax bound the wait between attempts on a table after a failure that
	// a retry may fix; it doubles from the first to the second. Defaults 1 s and 30 s.
	RetryInitial, RetryMax time.Duration
	// RejectDir keeps the blocks ClickHouse refused for good, as files, up to RejectMaxBytes
	// (the oldest go first). Defaults: <store>/rejected, 256 MiB; a negative size keeps none.
	RejectDir      string
	RejectMaxBytes int64
	// Check lists the tables whose rows carry InsertId: a block in doubt is looked for there
	// before it is sent again. A block of another table (trace_index) is sent again.
	Check map[string]bool
	// Replicated says the tables are replicated (a cluster behind Distributed tables): a
	// batch whose INSERT may have gone in, wholly or on some shards only, is sent again as it
	// was, block for block, without the InsertId check, and each shard's replicated table
	// drops the rows it already has (replicated deduplication: the same block, byte for
	// byte, within the last 100 inserted). The check cannot be trusted there: it reads one
	// replica of each shard, which may not have fetched the rows yet, and removing blocks it
	// finds would change the batch, and so each shard's block, defeating the deduplication.
	Replicated bool
}

// SenderDefaults fills the zero fields of cfg.
func (cfg *SenderConfig) defaults(store *Store) {
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.BatchMaxRows <= 0 || cfg.BatchMaxRows > 1_000_000 {
		cfg.BatchMaxRows = 1_000_000
	}
	if cfg.BatchMaxBytes <= 0 {
		cfg.BatchMaxBytes = 16 << 20
	}
	if cfg.MinBatchRows <= 0 {
		cfg.MinBatchRows = 200_000
	}
	cfg.MinBatchRows = min(cfg.MinBatchRows, cfg.BatchMaxRows)
	if cfg.MaxBatchWait <= 0 {
		cfg.MaxBatchWait = 5 * time.Second
	}
	if cfg.RetryInitial <= 0 {
		cfg.RetryInitial = time.Second
	}
	if cfg.RetryMax < cfg.RetryInitial {
		cfg.RetryMax = max(30*time.Second, cfg.RetryInitial)
	}
	if cfg.RejectDir == "" {
		cfg.RejectDir = filepath.Join(store.Dir(), "rejected")
	}
	if cfg.RejectMaxBytes == 0 {
		cfg.RejectMaxBytes = 256 << 20
	}
}

// Sender inserts the committed blocks of a Store's blocks log into ClickHouse, marks each SENT
// when ClickHouse has it (or refused it for good), and truncates what is settled. One
// goroutine reads the log and owns the queue's state; Workers goroutines run the INSERTs.
type Sender struct {
	store  *Store
	client *chinsert.Client
	cfg    SenderConfig
	logger *zap.Logger
	tel    *senderTelemetry

	// Owned by run.
	reader    *journal.Reader
	queue     []*queued // unsettled blocks in log order (settled ones removed lazily)
	byPos     map[journal.Pos]*queued
	waiting   map[uint64][]*queued // blocks of epochs not yet committed
	inFlight  map[string]bool      // tables with an INSERT running
	retryAt   map[string]time.Time
	failures  map[string]int
	groups    uint64 // the last INSERT-in-doubt group number given (queued.group)
	truncated time.Time
	dueAt     time.Time // when a table's ready blocks that are waiting to grow must go
	draining  atomic.Bool

	results chan result
	work    chan []*queued
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	cancel  context.CancelFunc
}

// queued is one BLOCK record not yet settled.
type queued struct {
	pos, next   journal.Pos
	epoch       uint64
	insertID    uint64
	rows, size  int
	minT, maxT  uint32
	queuedAt    int64
	table       string
	compression byte
	ready       bool // its epoch is committed
	busy        bool // in an INSERT now
	// group: the INSERT in doubt it was in, whose rows may be in ClickHouse already (0:
	// none). The blocks of a group are sent again together and alone, in their order, so
	// that the INSERT is the same one.
	group   uint64
	solo    bool // send alone: a batch it was in was refused for good
	settled bool
	// listed: a SENDING record names it (this run's or an earlier one's), and no SENT
	// follows yet. Attempts of listed blocks write no new record: one per attempt, through a
	// long outage, filled the blocks log's reserve, and then no INSERT could start.
	listed bool
}

type result struct {
	batch   []*queued
	present []*queued // found in ClickHouse by the doubt check: settled, not sent
	err     error
	dur     time.Duration
}

// NewSender returns a Sender of store's blocks through client.
func NewSender(store *Store, client *chinsert.Client, cfg SenderConfig, set component.TelemetrySettings) (*Sender, error) {
	cfg.defaults(store)
	s := &Sender{store: store, client: client, cfg: cfg, logger: set.Logger,
		byPos: map[journal.Pos]*queued{}, waiting: map[uint64][]*queued{},
		inFlight: map[string]bool{}, retryAt: map[string]time.Time{}, failures: map[string]int{}}
	var err error
	if s.tel, err = newSenderTelemetry(set, s); err != nil {
		return nil, err
	}
	return s, nil
}

// Start reads the blocks log from its start and begins sending.
func (s *Sender) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	s.results = make(chan result, s.cfg.Workers)
	s.wake = make(chan struct{}, 1)
	s.work = make(chan []*queued)
	s.reader = s.store.Blocks.NewReader(s.store.Blocks.Start())
	for range s.cfg.Workers {
		go s.worker(ctx)
	}
	go s.run()
}

// Shutdown stops sending. INSERTs running get until ctx's deadline to finish; what is not
// sent stays in the log for the next start.
func (s *Sender) Shutdown(ctx context.Context) error {
	if s.stop == nil {
		return nil
	}
	close(s.stop)
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
	}
	s.cancel()
	s.stop = nil
	return nil
}

// Drain waits until the sender is idle, ctx ends, or an INSERT fails (ClickHouse is away:
// what is left waits in the journal for the next start).
func (s *Sender) Drain(ctx context.Context) error {
	if s.stop == nil {
		return nil
	}
	s.draining.Store(true) // what waits to grow goes now
	select {
	case s.wake <- struct{}{}:
	default:
	}
	failures := s.tel.failedInserts.Load()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !s.Idle() && s.tel.failedInserts.Load() == failures {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	return nil
}

// Idle reports whether the sender has read the whole blocks log and has nothing left to send.
func (s *Sender) Idle() bool {
	return s.tel.pending.Load() == 0 && journal.Pos(s.tel.scanned.Load()) >= s.store.Blocks.End()
}

// Pending is the number of blocks not yet settled and the Queued time of the oldest (0 when
// none). For tests and the lag gauge; safe to call from any goroutine.
func (s *Sender) Pending() (blocks int64, oldest int64) {
	return s.tel.pending.Load(), s.tel.oldest.Load()
}

func (s *Sender) run() {
	defer close(s.done)
	defer func() { _ = s.reader.Close() }()
	running := 0
	for {
		s.scan()
		running += s.dispatch(running)
		s.truncate(false)
		s.tel.observe(s)
		// Wake for a retry that comes due, or after a second whatever happens: a scan then
		// also picks up blocks appended without a signal.
		wait := time.Second
		if at := s.nextRetry(); !at.IsZero() {
			wait = min(wait, time.Until(at))
		}
		if !s.dueAt.IsZero() {
			wait = max(min(wait, time.Until(s.dueAt)), time.Millisecond)
		}
		timer := time.NewTimer(wait)
		select {
		case <-s.stop:
			timer.Stop()
			// Let running INSERTs finish (or be cancelled by Shutdown), recording what they did.
			for ; running > 0; running-- {
				s.settle(<-s.results)
			}
			close(s.work)
			s.truncate(true)
			s.tel.observe(s)
			return
		case r := <-s.results:
			running--
			s.settle(r)
		case <-s.store.Notify():
		case <-s.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// scan reads the records appended since the last scan.
func (s *Sender) scan() {
	for {
		rec, err := s.reader.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			var ce *journal.CorruptError
			if errors.As(err, &ce) {
				s.logger.Error("blocks log damaged; skipping the damaged part", zap.Error(err))
				_ = s.reader.Close() // its segment file and buffer
				s.reader = s.store.Blocks.NewReader(ce.Resume)
				continue
			}
			if errors.Is(err, journal.ErrTruncated) {
				_ = s.reader.Close()
				s.reader = s.store.Blocks.NewReader(s.store.Blocks.Start())
				continue
			}
			s.logger.Error("blocks log unreadable; retrying", zap.Error(err))
			return
		}
		switch rec.Type {
		case RecBlock:
			b, err := DecodeBlock(rec.Payload)
			if err != nil {
				s.logger.Error("block record unreadable; skipped", zap.Uint64("pos", uint64(rec.Pos)), zap.Error(err))
				continue
			}
			q := &queued{pos: rec.Pos, next: rec.Next, epoch: b.Epoch, insertID: b.InsertID, rows: b.Rows,
				size: len(b.Data), minT: b.MinTime, maxT: b.MaxTime, queuedAt: b.Queued,
				table: internTable(b.Table), compression: b.Compression, ready: b.Epoch == 0}
			s.queue = append(s.queue, q)
			s.byPos[q.pos] = q
			if !q.ready {
				s.waiting[b.Epoch] = append(s.waiting[b.Epoch], q)
			}
		case RecCommit, RecAbort:
			n, err := DecodeEpochMarker(rec.Payload)
			if err != nil {
				continue
			}
			for _, q := range s.waiting[n] {
				if rec.Type == RecCommit {
					q.ready = true
				} else {
					q.settled = true // void: its epoch's checkpoint was never written
					delete(s.byPos, q.pos)
				}
			}
			delete(s.waiting, n)
		case RecSending:
			s.groups++
			for p := rec.Payload; len(p) >= 8; p = p[8:] {
				if q := s.byPos[journal.Pos(leUint64(p))]; q != nil && !q.busy {
					// Listed by an INSERT of an earlier run that did not record its end.
					q.group = s.groups
					q.listed = true
				}
			}
		case RecSent:
			p, _, err := DecodeSent(rec.Payload)
			if err != nil {
				continue
			}
			if q := s.byPos[p]; q != nil && !q.busy {
				q.settled = true
				delete(s.byPos, p)
			}
		}
	}
}

func leUint64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// tables interns table names: every block of a table shares one string.
var tables = map[string]string{}

func internTable(t string) string {
	if s, ok := tables[t]; ok {
		return s
	}
	if len(tables) < 64 {
		tables[t] = t
	}
	return t
}

// dispatch hands batches to free workers; it returns how many it started.
func (s *Sender) dispatch(running int) int {
	started := 0
	now := time.Now()
	for running+started < s.cfg.Workers {
		batch := s.nextBatch(now)
		if batch == nil {
			break
		}
		for _, q := range batch {
			q.busy = true
		}
		s.inFlight[batch[0].table] = true
		s.work <- batch
		started++
	}
	return started
}

// nextBatch is the oldest ready block of a table with no INSERT running and no retry pending,
// with the table's ready blocks after it, up to the batch limits; nil when none is due. A
// table's blocks are due once they hold MinBatchRows rows or the oldest has waited
// MaxBatchWait (at once while draining, and for blocks in doubt or sent alone).
func (s *Sender) nextBatch(now time.Time) []*queued {
	s.compact()
	ready := map[string]int{} // rows ready per table
	oldest := map[string]int64{}
	for _, q := range s.queue {
		if q.settled || !q.ready || q.busy {
			continue
		}
		if _, ok := oldest[q.table]; !ok {
			oldest[q.table] = q.queuedAt
		}
		ready[q.table] += q.rows
	}
	s.dueAt = time.Time{}
	var batch []*queued
	rows, size := 0, 0
	for _, q := range s.queue {
		if q.settled || !q.ready || q.busy {
			continue
		}
		if batch == nil {
			if s.inFlight[q.table] || now.Before(s.retryAt[q.table]) {
				continue
			}
			due := time.Unix(0, oldest[q.table]).Add(s.cfg.MaxBatchWait)
			if !s.draining.Load() && !q.solo && q.group == 0 && ready[q.table] < s.cfg.MinBatchRows && now.Before(due) {
				if s.dueAt.IsZero() || due.Before(s.dueAt) {
					s.dueAt = due
				}
				continue
			}
			batch, rows, size = []*queued{q}, q.rows, q.size
			if q.solo {
				return batch
			}
			if q.group != 0 {
				return s.groupOf(q)
			}
			continue
		}
		if q.group != 0 {
			continue // goes with its own group
		}
		if q.table != batch[0].table || q.compression != batch[0].compression || q.solo {
			continue
		}
		if rows+q.rows > s.cfg.BatchMaxRows || size+q.size > s.cfg.BatchMaxBytes {
			break
		}
		batch = append(batch, q)
		rows, size = rows+q.rows, size+q.size
	}
	return batch
}

// groupOf is the blocks of first's group still to send, in queue order.
func (s *Sender) groupOf(first *queued) []*queued {
	batch := []*queued{first}
	for _, q := range s.queue {
		if q != first && q.group == first.group && !q.settled && q.ready && !q.busy && !q.solo {
			batch = append(batch, q)
		}
	}
	return batch
}

// compact drops settled blocks from the queue's front.
func (s *Sender) compact() {
	i := 0
	for i < len(s.queue) && s.queue[i].settled {
		i++
	}
	if i > 0 {
		clear(s.queue[:i])
		s.queue = s.queue[i:]
	}
}

func (s *Sender) nextRetry() time.Time {
	var t time.Time
	for table, at := range s.retryAt {
		if at.Before(time.Now()) {
			delete(s.retryAt, table)
			continue
		}
		if t.IsZero() || at.Before(t) {
			t = at
		}
	}
	return t
}

// settle records what an INSERT did.
func (s *Sender) settle(r result) {
	table := r.batch[0].table
	delete(s.inFlight, table)
	for _, q := range r.batch {
		q.busy = false
	}
	for _, q := range r.present {
		s.markSent(q, SentInserted)
		s.tel.foundBlock(q)
	}
	var sent []*queued
	for _, q := range r.batch {
		if !q.settled {
			sent = append(sent, q)
		}
	}
	// Refused for good: a permanent code for the INSERT itself. The lookup of blocks in doubt
	// refused nothing, whatever its code: its blocks are retried.
	refused := chinsert.IsPermanent(r.err) && !isCheckError(r.err)
	switch {
	case r.err == nil:
		s.failures[table] = 0
		for _, q := range sent {
			s.markSent(q, SentInserted)
		}
		s.tel.inserted(table, sent, r.dur)
	case errors.Is(r.err, context.Canceled):
		// Shutdown cut it off: it may be in.
		s.inDoubt(sent)
	case chinsert.IsAuth(r.err):
		// The credentials or grants are wrong, not the block: every block would fail the same
		// way, and setting them aside would throw away everything until someone noticed. They
		// wait in the journal (bounded; at its bound weir refuses new data) until the
		// credentials are fixed, usually by a restart with the new password.
		n := s.failures[table]
		s.failures[table] = n + 1
		s.retryAt[table] = time.Now().Add(s.cfg.RetryMax)
		s.tel.failed(table, len(sent), r.dur)
		if n == 0 {
			s.logger.Error("ClickHouse refuses weir's user or its grants; blocks wait in the journal until that is fixed",
				zap.String("table", table), zap.Int("blocks", len(sent)), zap.Int("code", chinsert.Code(r.err)), zap.Error(r.err))
		}
	case refused && len(sent) > 1:
		// One of them may be the bad one: send each alone, so only that one is set aside.
		for _, q := range sent {
			q.solo = true
		}
		s.logger.Warn("ClickHouse refused a batch for good; sending its blocks one by one",
			zap.String("table", table), zap.Int("blocks", len(sent)), zap.Error(r.err))
	case refused:
		s.setAside(sent[0], r.err)
	default:
		n := s.failures[table]
		s.failures[table] = n + 1
		wait := s.cfg.RetryInitial << min(n, 16)
		wait = min(wait, s.cfg.RetryMax)
		s.retryAt[table] = time.Now().Add(wait)
		// On a cluster any failure may leave the rows on some shards (a Distributed INSERT
		// that one shard refused, read-only without ZooKeeper say, after another took its
		// share): the batch goes again as it was, for those shards to drop.
		if chinsert.MaybeInserted(r.err) || s.cfg.Replicated {
			s.inDoubt(sent)
		}
		s.tel.failed(table, len(sent), r.dur)
		log := s.logger.Warn
		if n > 0 {
			log = s.logger.Debug // the first failure says it; the metric counts the rest
		}
		log("INSERT failed; retrying", zap.String("table", table), zap.Int("blocks", len(sent)),
			zap.Duration("retry_in", wait), zap.Bool("maybe_inserted", chinsert.MaybeInserted(r.err)), zap.Error(r.err))
	}
}

// checkError is a failure of the query that looks for blocks in doubt. Whatever ClickHouse's
// code for it (158 TOO_MANY_ROWS from a max_rows_to_read on weir's user, say), the blocks
// were not refused: they are retried, never set aside.
type checkError struct{ err error }

func (e *checkError) Error() string { return e.err.Error() }
func (e *checkError) Unwrap() error { return e.err }

func isCheckError(err error) bool {
	var c *checkError
	return errors.As(err, &c)
}

// inDoubt marks the blocks of an INSERT whose outcome is unknown as one group.
func (s *Sender) inDoubt(sent []*queued) {
	s.groups++
	for _, q := range sent {
		q.group = s.groups
	}
}

func (s *Sender) markSent(q *queued, outcome byte) {
	if q.settled {
		return
	}
	if err := s.store.MarkSent(q.pos, outcome); err != nil {
		// Without the record, a restart sends the block again: if it is listed in a SENDING
		// record, the doubt check finds it and nothing is stored twice.
		s.logger.Warn("could not record a sent block", zap.Error(err))
	}
	q.settled = true
	delete(s.byPos, q.pos)
}

// setAside keeps a block ClickHouse refused for good in RejectDir and settles it, so newer
// data is not held up behind it.
func (s *Sender) setAside(q *queued, cause error) {
	path, err := s.reject(q, cause)
	fields := []zap.Field{zap.String("table", q.table), zap.Int("rows", q.rows),
		zap.Int("code", chinsert.Code(cause)), zap.Error(cause)}
	if err != nil {
		fields = append(fields, zap.NamedError("keep_error", err))
	} else if path != "" {
		fields = append(fields, zap.String("kept_in", path))
	}
	s.logger.Error("ClickHouse refused a block for good; set aside, not retried", fields...)
	s.markSent(q, SentSetAside)
	s.tel.setAside(q)
}

// reject writes q's data and the error to RejectDir, then trims the directory to its bound.
func (s *Sender) reject(q *queued, cause error) (string, error) {
	if s.cfg.RejectMaxBytes < 0 {
		return "", nil
	}
	rec, err := s.store.Blocks.ReadAt(q.pos, nil)
	if err != nil {
		return "", err
	}
	b, err := DecodeBlock(rec.Payload)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(s.cfg.RejectDir, 0o755); err != nil {
		return "", err
	}
	name := fmt.Sprintf("%d-%s-%016x", time.Now().UnixNano(), q.table, q.insertID)
	base := filepath.Join(s.cfg.RejectDir, name)
	note := fmt.Sprintf("table: %s.%s\nrows: %d\ncompression: %s (ClickHouse frames: INSERT … FORMAT Native with decompress=1)\nerror: %v\n",
		s.cfg.Database, q.table, q.rows, compressionName(q.compression), cause)
	if err := os.WriteFile(base+".native", b.Data, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(base+".txt", []byte(note), 0o644); err != nil {
		return "", err
	}
	return base + ".native", trimDir(s.cfg.RejectDir, s.cfg.RejectMaxBytes)
}

func compressionName(c byte) string {
	switch c {
	case CompressLZ4:
		return "lz4"
	case CompressZSTD:
		return "zstd"
	}
	return "none"
}

// trimDir deletes the oldest files of dir (by name: they start with a timestamp) until the
// rest fit in limit bytes.
func trimDir(dir string, limit int64) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var total int64
	sizes := make([]int64, len(entries))
	for i, e := range entries {
		if info, err := e.Info(); err == nil {
			sizes[i] = info.Size()
			total += sizes[i]
		}
	}
	for i := 0; total > limit && i < len(entries); i++ {
		if err := os.Remove(filepath.Join(dir, entries[i].Name())); err != nil {
			return err
		}
		total -= sizes[i]
	}
	return nil
}

// truncate deletes the blocks log's segments below the oldest unsettled block, at most once a
// second unless forced.
func (s *Sender) truncate(force bool) {
	if !force && time.Since(s.truncated) < time.Second {
		return
	}
	s.truncated = time.Now()
	s.compact()
	floor := s.reader.Pos()
	for _, q := range s.queue {
		if !q.settled {
			floor = q.pos
			break
		}
	}
	if err := s.store.Blocks.TruncateBefore(floor); err != nil && !errors.Is(err, journal.ErrClosed) {
		s.logger.Warn("blocks log not truncated", zap.Error(err))
	}
}

// worker runs INSERTs.
func (s *Sender) worker(ctx context.Context) {
	var buf, body, sending []byte
	for batch := range s.work {
		start := time.Now()
		r := result{batch: batch}
		r.err = s.insert(ctx, batch, &r, &buf, &body, &sending)
		r.dur = time.Since(start)
		s.results <- r
	}
}

func (s *Sender) insert(ctx context.Context, batch []*queued, r *result, buf, body, sending *[]byte) error {
	table := batch[0].table
	if s.cfg.Check[table] && !s.cfg.Replicated && slices.ContainsFunc(batch, func(q *queued) bool { return q.group != 0 }) {
		present, err := s.check(ctx, table, batch)
		if err != nil {
			return &checkError{fmt.Errorf("check whether blocks are in %s.%s already: %w", s.cfg.Database, table, err)}
		}
		r.present = present
		if len(present) > 0 {
			batch = slices.DeleteFunc(slices.Clone(batch), func(q *queued) bool { return slices.Contains(present, q) })
			if len(batch) == 0 {
				return nil
			}
		}
	}
	*sending = (*sending)[:0]
	*body = (*body)[:0]
	var data []byte
	for _, q := range batch {
		*sending = appendLE64(*sending, uint64(q.pos))
		rec, err := s.store.Blocks.ReadAt(q.pos, *buf)
		if err != nil {
			return fmt.Errorf("read block %d of %s: %w", q.pos, table, err)
		}
		if cap(rec.Payload) > cap(*buf) {
			*buf = rec.Payload[:0]
		}
		b, err := DecodeBlock(rec.Payload)
		if err != nil {
			return fmt.Errorf("read block %d of %s: %w", q.pos, table, err)
		}
		if len(batch) == 1 {
			data = b.Data
			break
		}
		*body = append(*body, b.Data...)
		data = *body
	}
	if slices.ContainsFunc(batch, func(q *queued) bool { return !q.listed }) {
		if _, err := s.store.Blocks.AppendReserved(RecSending, *sending); err != nil {
			return fmt.Errorf("record the blocks being sent: %w", err)
		}
		for _, q := range batch {
			q.listed = true
		}
	}
	return s.client.Insert(ctx, chinsert.InsertRequest{
		Database: s.cfg.Database, Table: table, Body: data,
		Compression: chinsertCompression(batch[0].compression), Settings: s.cfg.Settings,
		// The same ID on every attempt: while an attempt whose answer was lost still runs on a
		// server, that server refuses the next one (216) instead of storing the rows twice.
		QueryID: queryID(batch[0].insertID),
	})
}

func appendLE64(b []byte, v uint64) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
}

func chinsertCompression(c byte) chinsert.Compression {
	switch c {
	case CompressLZ4:
		return chinsert.LZ4
	case CompressZSTD:
		return chinsert.ZSTD
	}
	return chinsert.None
}

// check asks ClickHouse which blocks of batch it has: all rows of a block with its InsertId
// (the block went in) or none (it did not; an INSERT is all or nothing). A block found with
// some of its rows is counted as in, and logged: sending it again would store those twice.
func (s *Sender) check(ctx context.Context, table string, batch []*queued) ([]*queued, error) {
	// An earlier attempt whose answer was lost (or whose sender was killed once the body was
	// out) may still run on the server: its rows are not there yet, and looking now would
	// send them a second time as it commits. Every attempt carries the query ID of its
	// first block; wait until none of these runs.
	lo, hi := batch[0].minT, batch[0].maxT
	var qids, ids strings.Builder
	for i, q := range batch {
		lo, hi = min(lo, q.minT), max(hi, q.maxT)
		if i > 0 {
			qids.WriteByte(',')
			ids.WriteByte(',')
		}
		qids.WriteString("'" + queryID(q.insertID) + "'")
		ids.WriteString(strconv.FormatUint(q.insertID, 10))
	}
	running, err := s.client.Query(ctx, "SELECT count() FROM system.processes WHERE query_id IN ("+qids.String()+") FORMAT TabSeparated")
	if err != nil {
		return nil, err
	}
	if n := strings.TrimSpace(string(running)); n != "0" {
		return nil, fmt.Errorf("%w (%s)", errEarlierAttemptRuns, n)
	}
	q := fmt.Sprintf("SELECT InsertId, count() FROM %s.%s WHERE Timestamp >= toDateTime(%d) AND Timestamp <= toDateTime(%d) "+
		"AND InsertId IN (%s) GROUP BY InsertId FORMAT TabSeparated", chinsert.QuoteIdent(s.cfg.Database), chinsert.QuoteIdent(table), lo, hi, ids.String())
	out, err := s.client.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	found := map[uint64]int{}
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		id, n, ok := bytes.Cut(line, []byte{'\t'})
		if !ok {
			return nil, fmt.Errorf("unexpected answer %q", line)
		}
		idv, err1 := strconv.ParseUint(string(id), 10, 64)
		nv, err2 := strconv.Atoi(string(n))
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("unexpected answer %q", line)
		}
		found[idv] = nv
	}
	var present []*queued
	for _, q := range batch {
		n := found[q.insertID]
		switch {
		case n == 0:
		case n == q.rows:
			present = append(present, q)
		default:
			s.logger.Error("a block is in ClickHouse with some of its rows only; not sent again",
				zap.String("table", table), zap.Int("rows", q.rows), zap.Int("found", n))
			present = append(present, q)
		}
	}
	return present, nil
}

// queryID is the query ID of an INSERT whose first block has insertID: the check looks for
// it among the queries still running.
func queryID(insertID uint64) string { return "weir-" + strconv.FormatUint(insertID, 16) }

// errEarlierAttemptRuns: an INSERT of the same blocks still runs on the server; the check
// is tried again after the usual retry wait.
var errEarlierAttemptRuns = errors.New("an earlier attempt to insert these blocks still runs on the server")
