// Package ingest is weir's ingest path on the OTLP wire format, between its receiver and
// ClickHouse, and the durable log that makes "acknowledged" mean "stored".
//
// # Two logs
//
// A Store is a directory with two internal/journal logs:
//
//   - ingest/: every request weir acknowledges (the OTLP protobuf it received, with its arrival
//     time), appended before the acknowledgement, and the checkpoints of what processing them
//     has produced (EPOCH records);
//   - blocks/: ClickHouse Native blocks ready to insert (BLOCK), the markers that commit or
//     abort them (COMMIT, ABORT), and the markers of what the sender has inserted (SENT).
//
// Requests are needed for seconds (until their traces are decided and their counts flushed);
// blocks until ClickHouse has them, which during an outage can be hours. Two logs let the
// first be truncated while the second waits, so an outage costs the size of the blocks
// (compressed, tens of bytes a span), not of everything received.
//
// # Epochs
//
// The Engine runs RED, tail sampling and block building on each request as it arrives. Every
// epoch (a second by default) it seals what the blocks hold, in this order:
//
//  1. BLOCK records of epoch E to blocks/;
//  2. an EPOCH record to ingest/: E, the ingest position P up to which every request is
//     processed, the position up to which RED's counts are in blocks, the traces the sampler
//     holds undecided and where their oldest spans are (lingering dropped traces' too), the
//     decisions made in E, and when E was sealed;
//  3. COMMIT(E) to blocks/.
//
// The sender inserts a block only after its COMMIT. After a crash, Open finds the last EPOCH:
// a missing COMMIT for it is written (its blocks were complete before the EPOCH), and blocks of
// a later epoch are aborted (ABORT). The traces the decisions dropped within late_window of
// the EPOCH linger again. Then the engine replays ingest/ from the EPOCH: the held and
// lingering traces' spans again (so the sampler holds what it held), the requests after P
// whole (RED counts again what it had not yet flushed). A seal whose COMMIT fails after its
// EPOCH went in is not aborted: the next seal writes the COMMIT first. Nothing acknowledged is
// lost, nothing is counted or stored twice, and what blocks contain does not depend on when
// the crash came.
//
// Blocks carry an InsertId column (a hash of the store's salt, a random number of the run and
// a counter). The sender's only doubt after a crash is the block it was inserting: it asks
// ClickHouse whether rows with that InsertId exist before sending it again.
//
// # Durability
//
// Records are written with write(2): they survive a process kill (the page cache holds them).
// A power loss can lose what was not yet synced: journal.SyncInterval bounds that to the
// interval, journal.SyncAlways makes each acknowledgement wait for fdatasync.
package ingest
