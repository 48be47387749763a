package ingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/weirhq/weir/internal/journal"
)

// Record types. ingest/ holds requests and checkpoints; blocks/ holds blocks and markers.
const (
	RecTraces  byte = 1 // a request of spans: arrival time (8 bytes, Unix ns) and its protobuf
	RecMetrics byte = 2 // a request of metric points, likewise
	RecEpoch   byte = 3 // a checkpoint (Epoch)

	RecBlock  byte = 10 // a ready block (Block)
	RecCommit byte = 11 // the blocks of an epoch may be inserted
	RecAbort  byte = 12 // the blocks of an epoch are void: its EPOCH was never written
	RecSent   byte = 13 // a block is settled (Sent)
)

// Compression of a block's bytes: ClickHouse's own framing, which the server takes with
// decompress=1.
const (
	CompressNone byte = 0
	CompressLZ4  byte = 1
	CompressZSTD byte = 2
)

var errShort = errors.New("record too short")

// Block is a BLOCK record: Native rows for one table, compressed as Compression says.
type Block struct {
	Epoch       uint64 // 0: committed as written (the exporter's own blocks)
	Queued      int64  // when it was queued, Unix ns: how late the sender is
	InsertID    uint64
	Compression byte
	Rows        int
	// MinTime and MaxTime are the earliest and latest Timestamp of the rows (Unix seconds):
	// the sender's "is it already in?" query reads only the partitions between them.
	MinTime, MaxTime uint32
	Table            string
	Data             []byte // valid as long as the record's payload
}

func appendBlockHeader(dst []byte, b *Block) []byte {
	dst = append(dst, 1) // version
	dst = binary.AppendUvarint(dst, b.Epoch)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(b.Queued))
	dst = binary.LittleEndian.AppendUint64(dst, b.InsertID)
	dst = append(dst, b.Compression)
	dst = binary.AppendUvarint(dst, uint64(b.Rows))
	dst = binary.LittleEndian.AppendUint32(dst, b.MinTime)
	dst = binary.LittleEndian.AppendUint32(dst, b.MaxTime)
	dst = binary.AppendUvarint(dst, uint64(len(b.Table)))
	return append(dst, b.Table...)
}

// DecodeBlock reads a BLOCK record's payload; Data points into it.
func DecodeBlock(p []byte) (Block, error) {
	var b Block
	d := decoder{b: p}
	if v := d.byte(); v != 1 {
		return b, fmt.Errorf("block record version %d: this weir reads version 1", v)
	}
	b.Epoch = d.uvarint()
	b.Queued = int64(d.u64())
	b.InsertID = d.u64()
	b.Compression = d.byte()
	b.Rows = int(d.uvarint())
	b.MinTime, b.MaxTime = d.u32(), d.u32()
	b.Table = string(d.bytes(int(d.uvarint())))
	b.Data = d.rest()
	return b, d.err
}

// Epoch is an EPOCH record: the checkpoint after epoch Number's blocks.
type Epoch struct {
	Number uint64
	// Processed: every request at an ingest position below it has been processed.
	Processed journal.Pos
	// RED: requests below it are counted in blocks; RED counts those from it on again.
	RED journal.Pos
	// Oldest is the position of the oldest spans of a held trace (Processed if none).
	Oldest journal.Pos
	// BlocksEnd is blocks/'s end after this epoch's blocks.
	BlocksEnd journal.Pos
	// MetricsState is where a replay of metrics requests starts: the metric stages' snapshot
	// MetricsSnap (its file's name; 0 when none was ever taken) holds what every metrics
	// request below MetricsState did to their state.
	MetricsState, MetricsSnap journal.Pos
	// Held are the traces the sampler held undecided.
	Held []pcommon.TraceID
	// Decisions are those made during the epoch (tailsample.DrainDecisions' records).
	Decisions []byte
	// Time is when the epoch was sealed, Unix ns (from version 2 on; 0 in a version 1
	// record): the traces its Decisions dropped linger until late_window after it.
	Time int64
}

// epochVersion is the version of the EPOCH records this weir writes; it reads 1 too (the
// same fields, without Time).
const epochVersion = 2

func appendEpoch(dst []byte, e *Epoch) []byte {
	dst = append(dst, epochVersion)
	for _, v := range []uint64{e.Number, uint64(e.Processed), uint64(e.RED), uint64(e.Oldest), uint64(e.BlocksEnd), uint64(e.MetricsState), uint64(e.MetricsSnap), uint64(len(e.Held))} {
		dst = binary.AppendUvarint(dst, v)
	}
	for _, id := range e.Held {
		dst = append(dst, id[:]...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(e.Decisions)))
	dst = append(dst, e.Decisions...)
	return binary.AppendUvarint(dst, uint64(e.Time))
}

// decodeEpoch reads an EPOCH record's payload; Decisions points into it.
func decodeEpoch(p []byte) (Epoch, error) {
	var e Epoch
	d := decoder{b: p}
	v := d.byte()
	if v != 1 && v != epochVersion {
		return e, fmt.Errorf("epoch record version %d: this weir reads versions 1 and %d", v, epochVersion)
	}
	e.Number = d.uvarint()
	e.Processed = journal.Pos(d.uvarint())
	e.RED = journal.Pos(d.uvarint())
	e.Oldest = journal.Pos(d.uvarint())
	e.BlocksEnd = journal.Pos(d.uvarint())
	e.MetricsState = journal.Pos(d.uvarint())
	e.MetricsSnap = journal.Pos(d.uvarint())
	n := d.uvarint()
	if n > uint64(len(p))/16 {
		return e, fmt.Errorf("epoch record: %d held traces in %d bytes", n, len(p))
	}
	e.Held = make([]pcommon.TraceID, n)
	for i := range e.Held {
		copy(e.Held[i][:], d.bytes(16))
	}
	e.Decisions = d.bytes(int(d.uvarint()))
	if v >= 2 {
		e.Time = int64(d.uvarint())
	}
	return e, d.err
}

// Sent outcomes.
const (
	SentInserted byte = 0 // ClickHouse has the block
	SentSetAside byte = 1 // ClickHouse refused it for good (a dropped table, a type mismatch)
)

func appendSent(dst []byte, block journal.Pos, outcome byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(block))
	return append(dst, outcome)
}

// DecodeSent reads a SENT record: the block's position and the outcome.
func DecodeSent(p []byte) (journal.Pos, byte, error) {
	if len(p) != 9 {
		return 0, 0, fmt.Errorf("sent record: %d bytes, want 9", len(p))
	}
	return journal.Pos(binary.LittleEndian.Uint64(p)), p[8], nil
}

// DecodeEpochMarker reads a COMMIT or ABORT record: the epoch number.
func DecodeEpochMarker(p []byte) (uint64, error) {
	d := decoder{b: p}
	n := d.uvarint()
	return n, d.err
}

// decoder reads the fields of a record, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errShort
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) u32() uint32 {
	if len(d.b) < 4 {
		d.fail()
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n int) []byte {
	if n < 0 || len(d.b) < n {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) rest() []byte {
	v := d.b
	d.b = nil
	return v
}

// putArrival writes a request record's header: its arrival time.
func putArrival(dst []byte, t time.Time) { binary.LittleEndian.PutUint64(dst, uint64(t.UnixNano())) }

// arrival reads the arrival time header of a request record.
func arrival(p []byte) (int64, []byte, error) {
	if len(p) < 8 {
		return 0, nil, errShort
	}
	return int64(binary.LittleEndian.Uint64(p)), p[8:], nil
}
