// Package chinsert is weir's insert path into ClickHouse: it sends Native blocks that weir
// encoded itself (internal/chblock, ch-go's proto at protocol version 0) and keeps,
// compressed, in its durable queue, as INSERT INTO db.table FORMAT Native over ClickHouse's
// HTTP interface. It also runs the small reads weir needs (Query) over the same endpoints.
//
// A Client spreads requests round robin over its endpoints, skips an endpoint that failed
// for a backoff, bounds the connections to each, and times out every attempt. Errors say
// what a caller's queue needs to know: IsPermanent (drop or set aside the batch),
// MaybeInserted (the rows may be in: check before resending), IsAuth and IsUnknownDatabase
// (refuse to start). Compress frames an encoded block as ClickHouse's compressed blocks.
//
// # ClickHouse 18.16's HTTP interface, as tested here
//
//   - Columns of a Native block match the table's by name; the table's other columns get
//     their defaults, also when blocks of one body carry different columns. A block column that the table lacks is dropped without a word, even if
//     the query lists columns (the list only checks its own names): a misspelt column loses
//     its data silently, so weir checks its column lists against system.columns.
//   - Native input converts no types: a UInt32 column for a UInt64 one fails with code 368
//     (Bad cast). Several blocks concatenated in one body go in as one insert.
//   - decompress=1 takes ClickHouse's compressed frames (LZ4, ZSTD), in any cut that need
//     not follow block boundaries; the server checks each frame's checksum (code 40 when it
//     does not match). Content-Encoding: zstd is unknown to 18.16.
//   - A body is all or nothing while it stays under min_insert_block_size_rows (1,048,576)
//     and min_insert_block_size_bytes (256 MiB): the server squashes what it reads into
//     blocks of that size and writes each when it fills or the body ends. A truncated or
//     corrupt body under the thresholds (code 33, CANNOT_READ_ALL_DATA) and a connection
//     that drops mid-body both insert nothing. Above the thresholds the body goes in piece
//     by piece, and an error late in it leaves the earlier pieces in. One queue entry should
//     therefore be one POST of at most a million rows.
//   - When the connection drops mid-body, the server logs code 33 and cannot answer; the
//     client sees a broken connection (NetError with Sent set).
//   - The server reads its first 1 MiB of body (or all of a shorter one) before it parses
//     the query, and only then does the query appear in system.processes. While it runs,
//     the same server refuses another query with the same query_id (216,
//     QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING) unless replace_running_query=1, which cancels
//     the first. Other servers do not know the ID, and once the query ended the same ID
//     inserts again: a query_id is no deduplication key.
//   - After an error the server reads the rest of the body and keeps the connection open,
//     even for a 17 MB body, so a refused insert costs no reconnect. It closes connections
//     idle for keep_alive_timeout (3 s): the client closes its own idle ones sooner.
//   - Statuses: 401 for a wrong password or unknown user (193, 192), 404 for an unknown
//     table, database or setting (60, 81, 115), 400 for a syntax error (62), 501 for an
//     engine that takes no insert (48), 500 for the rest. 18.16 sends no
//     X-ClickHouse-Exception-Code header; the body is
//     "Code: N, e.displayText() = DB::Exception: …, e.what() = DB::Exception".
//   - An INSERT answers only when it is done, so its status is final. A SELECT whose error
//     comes after the first rows answers 200, the rows, then the exception: Query asks for
//     wait_end_of_query=1, which holds the answer until the end.
//   - Chunked request bodies work (BodyStream of unknown length).
//
// Credentials travel in the X-ClickHouse-User and X-ClickHouse-Key headers only; endpoints
// with credentials in the URL are refused, and no error repeats a URL's query string.
package chinsert // import "github.com/weirhq/weir/internal/chinsert"
