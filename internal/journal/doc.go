// Package journal is weir's durable append-only log. weir acknowledges an OTLP request to its
// sender only once the request is in a journal, and queues ready ClickHouse blocks in one until
// the server has them.
//
// A Log is a directory of segment files holding records back to back. Append writes a record
// with one write(2) call (one per payload piece above 1 MiB, which saves a copy) and returns
// its Pos, the record's global byte offset, which increases forever across segments; a Reader
// follows the log from any record boundary; TruncateBefore deletes whole segments the caller
// no longer needs. The log is bounded in bytes (ErrFull) and in record size (ErrTooLarge). It
// has no metrics of its own: its users report Size, Start and End. It is written for Linux
// (fdatasync, flock); elsewhere it uses fsync, and flock where there is one.
//
// # Durability
//
// A record is in the kernel's page cache when Append returns. What it survives depends on
// Options.Sync:
//
//   - SyncNone (the default): a process kill (SIGKILL, the OOM killer, a panic) loses nothing
//     that Append acknowledged, since the page cache belongs to the kernel. A power loss or a
//     kernel crash loses what the kernel had not yet written back (by default up to about 30 s),
//     and may leave garbage or zeros where those records were, in any segment.
//   - SyncInterval: as SyncNone, and a background goroutine calls fdatasync on the active
//     segment every SyncEvery, and the writer on each segment it seals, so a power loss loses at
//     most about SyncEvery of acknowledged records.
//   - SyncAlways: Append returns only after fdatasync, so a power loss loses no acknowledged
//     record on a disk that honours cache flushes. It costs a disk flush per Append (appends
//     are serialized; there is no group commit).
//
// A record whose Append returned an error was not acknowledged. It is never visible to readers
// of the running log; after a crash it may still be found (at-least-once, never torn).
//
// # Write errors
//
// If a write fails (ENOSPC, EIO, EFBIG, a short write), or the fdatasync of SyncAlways does, the
// active segment is truncated back to the end of the last good record and Append returns an
// error naming the file and offset; the next Append may succeed once the cause is gone. If the
// truncation fails too, the log stays usable for reading but every Append first retries the
// truncation and fails until it succeeds, so a partial record is never followed by later ones.
//
// # On-disk format (version 1)
//
// Directory. A log owns one directory. It holds segment files and a file named LOCK, which an
// open Log holds an exclusive flock(2) on so that two processes cannot append to the same log.
// Other files are ignored.
//
// Segment files. A segment is named for its base, the Pos of its first byte, as 20 decimal
// digits and the suffix ".seg" (00000000000067108873.seg), so that names sort in log order.
// Records are stored back to back from offset 0, with no file header and no padding; a record
// at offset o of the segment with base b has Pos b+o. A record never spans two segments. The
// next segment's base is this segment's base plus its length, so Pos has no holes: the logical
// end of a segment is the base of the one after it, and bytes of a file beyond that end are not
// part of the log. The last segment (highest base) is the active one, the only one written to.
// The writer starts a new segment when a record would take the active one past
// Options.SegmentBytes; a record larger than that gets a segment of its own.
// A segment's disk blocks (Options.SegmentBytes) are reserved when it is created, on Linux,
// without changing its size (fallocate with FALLOC_FL_KEEP_SIZE): appends of 100 KB took 13 %
// less time (BenchmarkLog_Append, 2026-12-07), and a log holds up to a segment more disk than
// Size says.
//
// Record. A 9-byte header, then the payload. Integers are little-endian.
//
//	offset  size  field
//	0       4     length   uint32: payload bytes (at most 1 GiB)
//	4       4     crc      uint32: CRC-32C (Castagnoli) of the type byte followed by the payload
//	8       1     type     byte: defined by the caller
//	9       length payload
//
// Torn tail. A process killed in the middle of a write can leave the last segment ending in a
// part of a record. Open checks the records of the last segment in order from offset 0, and the
// first one that is bad ends the log: fewer than 9 bytes left before the end of the file, a
// length that runs past the end of the file, or a crc that does not match. The file is cut
// there, and appends continue from that Pos. Zeros left by a power loss never pass: a zero
// header claims length 0, type 0 and crc 0, and the CRC-32C of a single zero byte is
// 0x527d5351. Recovery reads a record only where the previous record's length says the next one
// starts, never inside a payload, so a payload that contains record-shaped bytes (a sender's
// data is arbitrary) cannot become records. The length itself is not in the checksum, but a
// wrong length makes the checksum cover the wrong bytes.
//
// Older segments are trusted at Open (they were complete when the next one was started) and
// checked as they are read: a bad record there is a *CorruptError (errors.Is ErrCorrupt) that
// names the file and offset and gives the Pos where reading can resume.
//
// Any change to this format gets a new file suffix, so that an older weir does not misread it.
package journal
