package ingest

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/weirhq/weir/internal/journal"
	"github.com/weirhq/weir/internal/model"
)

// StoreOptions configure a Store.
type StoreOptions struct {
	// Dir holds the two logs, ingest/ and blocks/.
	Dir string
	// IngestMaxBytes bounds ingest/: received requests still needed, for seconds. At the bound
	// new requests are refused.
	IngestMaxBytes int64
	// BlocksMaxBytes bounds blocks/: blocks not yet in ClickHouse. At the bound new requests are
	// refused too (their blocks would have nowhere to go).
	BlocksMaxBytes int64
	// SegmentBytes is the size of one log file (journal.Options.SegmentBytes).
	SegmentBytes int64
	Sync         journal.SyncPolicy
	SyncEvery    time.Duration
	// OnSyncError is told of a failed background fdatasync under journal.SyncInterval
	// (journal.Options.OnSyncError); it must not block.
	OnSyncError func(log string, err error)
}

// ServerInfo is what block encoding needs to know of the ClickHouse server: whether its
// tables wrap strings in LowCardinality, and its time zone (which day a span's trace_index row
// belongs to). The exporter, which talks to the server, sets it; the engine waits for it.
type ServerInfo struct {
	Version        string `json:"version"`
	LowCardinality bool   `json:"low_cardinality"`
	TimeZone       string `json:"time_zone"` // IANA name; "" is UTC
}

// Location is the server's time zone.
func (i ServerInfo) Location() *time.Location {
	if i.TimeZone == "" {
		return time.UTC
	}
	if loc, err := time.LoadLocation(i.TimeZone); err == nil {
		return loc
	}
	return time.UTC
}

// Store is weir's durable state in one directory: the two logs, the salt of its insert IDs
// and the last ServerInfo seen. It is safe for concurrent use.
type Store struct {
	Ingest *journal.Log
	Blocks *journal.Log
	dir    string
	salt   uint64
	// ingestMax is what requests may take of ingest/ (its bound less the reserve); 0: no bound.
	ingestMax int64
	ids       atomic.Uint64 // the counter insert IDs are made from

	mu      sync.Mutex
	server  ServerInfo
	known   bool
	notify  chan struct{}
	readyCh chan struct{} // closed once ServerInfo is known
}

// OpenStore opens (or creates) the store in opts.Dir.
func OpenStore(opts StoreOptions) (*Store, error) {
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("ingest store %s: %w", opts.Dir, err)
	}
	s := &Store{dir: opts.Dir, notify: make(chan struct{}, 1), readyCh: make(chan struct{})}
	var err error
	if s.salt, err = loadSalt(filepath.Join(opts.Dir, "salt")); err != nil {
		return nil, err
	}
	jo := journal.Options{SegmentBytes: opts.SegmentBytes, Sync: opts.Sync, SyncEvery: opts.SyncEvery}
	onSync := func(name string) func(error) {
		if opts.OnSyncError == nil {
			return nil
		}
		return func(err error) { opts.OnSyncError(name, err) }
	}
	jo.MaxBytes, jo.Reserve, jo.OnSyncError = opts.IngestMaxBytes, reserveOf(opts.IngestMaxBytes), onSync("ingest")
	if s.Ingest, err = journal.Open(filepath.Join(opts.Dir, "ingest"), jo); err != nil {
		return nil, fmt.Errorf("ingest store: %w", err)
	}
	s.ingestMax = opts.IngestMaxBytes - jo.Reserve
	jo.MaxBytes, jo.Reserve, jo.OnSyncError = opts.BlocksMaxBytes, reserveOf(opts.BlocksMaxBytes), onSync("blocks")
	if s.Blocks, err = journal.Open(filepath.Join(opts.Dir, "blocks"), jo); err != nil {
		return nil, errors.Join(fmt.Errorf("ingest store: %w", err), s.Ingest.Close())
	}
	// A run's own random number, not the blocks log's end: a run can take IDs faster than the
	// end moves (every block whose append fails takes one), so a counter started at the end
	// would hand out again, after a restart, IDs of blocks already in ClickHouse.
	var run [8]byte
	if _, err := rand.Read(run[:]); err != nil {
		return nil, errors.Join(err, s.Ingest.Close(), s.Blocks.Close())
	}
	s.salt ^= binary.LittleEndian.Uint64(run[:])
	if b, err := os.ReadFile(filepath.Join(opts.Dir, "server.json")); err == nil {
		var info ServerInfo
		if json.Unmarshal(b, &info) == nil {
			s.server, s.known = info, true
			close(s.readyCh)
		}
	}
	return s, nil
}

// reserveOf is the part of a log's bound kept for the records that free it (EPOCH, COMMIT,
// ABORT, SENDING, SENT: journal.Options.Reserve): an eighth, at most 64 MiB. Without it a log
// filled by requests or blocks could not take the checkpoint that lets it be truncated, and
// weir would refuse everything from then on.
func reserveOf(maxBytes int64) int64 {
	if maxBytes <= 0 {
		return 0
	}
	return min(maxBytes/8, 64<<20)
}

// loadSalt reads the store's salt, creating it the first time: a random 64-bit number that
// makes insert IDs of different stores (weir instances) differ.
func loadSalt(path string) (uint64, error) {
	if b, err := os.ReadFile(path); err == nil && len(b) == 8 {
		return binary.LittleEndian.Uint64(b), nil
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	if err := os.WriteFile(path, b[:], 0o644); err != nil {
		return 0, fmt.Errorf("ingest store: write salt: %w", err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// NextInsertID is a new block's InsertId: a counter through a bijection, so unique within a
// run, keyed by the store's salt and a random number of the run, so that runs (and stores)
// differ; the in-doubt lookup also narrows by table and time range.
func (s *Store) NextInsertID() uint64 {
	return model.Fmix64(s.salt ^ s.ids.Add(1)*0x9e3779b97f4a7c15)
}

// ServerInfo is the server's info, once known.
func (s *Store) ServerInfo() (ServerInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.server, s.known
}

// Ready is closed once ServerInfo is known.
func (s *Store) Ready() <-chan struct{} { return s.readyCh }

// SetServerInfo records the server's info, and keeps it for the next start (which may find
// the server away).
func (s *Store) SetServerInfo(info ServerInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := !s.known || s.server != info
	s.server = info
	if !s.known {
		s.known = true
		close(s.readyCh)
	}
	if !changed {
		return nil
	}
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.dir, "server.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("ingest store: write server info: %w", err)
	}
	return os.Rename(tmp, filepath.Join(s.dir, "server.json"))
}

// Notify receives a value after blocks were committed: the sender wakes up.
func (s *Store) Notify() <-chan struct{} { return s.notify }

func (s *Store) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// AppendBlock appends a BLOCK record whose rows are data (already compressed as b says), and
// returns its position. Blocks of epoch 0 are committed as written; the engine's wait for
// their epoch's COMMIT.
func (s *Store) AppendBlock(b *Block, data []byte) (journal.Pos, error) {
	if b.Queued == 0 {
		b.Queued = time.Now().UnixNano()
	}
	hdr := appendBlockHeader(make([]byte, 0, 32+len(b.Table)), b)
	p, err := s.Blocks.Append(RecBlock, hdr, data)
	if err == nil && b.Epoch == 0 {
		s.signal()
	}
	return p, err
}

// appendMarker appends a COMMIT or ABORT of epoch n.
func (s *Store) appendMarker(typ byte, n uint64) error {
	_, err := s.Blocks.AppendReserved(typ, binary.AppendUvarint(nil, n))
	if err == nil {
		s.signal()
	}
	return err
}

// MarkSent appends the SENT record of the block at p.
func (s *Store) MarkSent(p journal.Pos, outcome byte) error {
	_, err := s.Blocks.AppendReserved(RecSent, appendSent(nil, p, outcome))
	return err
}

// Close closes both logs.
func (s *Store) Close() error {
	return errors.Join(s.Ingest.Close(), s.Blocks.Close())
}

// StoreProvider is the weir_journal extension as the components that use it see it.
type StoreProvider interface {
	Store() *Store
}

// StoreFrom finds the store of the extension id among the host's extensions: it must be
// started (the collector starts extensions first).
func StoreFrom(host component.Host, id component.ID) (*Store, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("journal %q: no such extension; add it under extensions: and service.extensions", id)
	}
	p, ok := ext.(StoreProvider)
	if !ok {
		return nil, fmt.Errorf("journal %q: not a weir_journal extension", id)
	}
	s := p.Store()
	if s == nil {
		return nil, fmt.Errorf("journal %q: not started", id)
	}
	return s, nil
}
