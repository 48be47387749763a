package chinsert

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// Setting is one ClickHouse setting sent with a request as a URL parameter, such as
// {"insert_distributed_sync", "1"}.
type Setting struct {
	Key, Value string
}

// InsertRequest is one INSERT of encoded Native data. Set exactly one of Body, BodyAt and
// BodyStream. The client reads the body during Insert and never after it returns; the caller
// keeps owning it and may reuse it then.
type InsertRequest struct {
	// Database and Table name the table. The query is
	// INSERT INTO `Database`.`Table` FORMAT Native: the server matches the block's columns to
	// the table's by name and fills the table's other columns with their defaults. ClickHouse
	// 18.16 silently drops a block column the table does not have.
	Database, Table string

	// Body is the whole body, sent without a copy; it can be sent again to another endpoint.
	Body []byte
	// BodyAt, read from offset 0 to BodySize, is the body for data that lives in a file or a
	// queue segment (an *os.File, an io.SectionReader): sent without buffering and
	// re-readable for another endpoint. It must allow concurrent ReadAt calls, as
	// io.ReaderAt requires.
	BodyAt io.ReaderAt
	// BodyStream is read once. Another endpoint gets it only if the first attempt failed
	// before reading any of it. BodySize gives its length if known (0: unknown, sent chunked).
	// Its Read must not block for long: a timeout or a cancelled ctx cannot interrupt a Read,
	// and Insert returns only once the transport is done with the stream.
	BodyStream io.Reader
	// BodySize is the length of BodyAt (required) or BodyStream (optional).
	BodySize int64

	// Compression is how the body is encoded: None for plain Native, LZ4 or ZSTD for
	// ClickHouse's compressed frames (see Compress), which the server checks and decodes
	// with decompress=1.
	Compression Compression
	// Settings are sent as URL parameters, in order. Names must be ClickHouse setting names;
	// the parameters this client sets (query, query_id, decompress) and credentials (user,
	// password, quota_key) are refused.
	Settings []Setting
	// QueryID, if set, names the query on the server (system.processes, query_log). While
	// a query with the same ID runs on a server, that server refuses another with code 216
	// (QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING) unless the setting replace_running_query=1
	// cancels the first.
	QueryID string
	// Idempotent says that sending the body twice does no harm: the table deduplicates
	// identical blocks (ReplicatedMergeTree with insert_deduplicate=1, the default), or the
	// caller removes duplicates. Only then does Insert send the body to another endpoint
	// after an attempt whose outcome is unknown: no answer within the request timeout, or a
	// connection that broke after the body was (partly) sent. Without it, Insert moves on
	// only after failures that leave the first server without the data (no connection).
	Idempotent bool
}

// reservedParams are URL parameters that a Setting may not set.
var reservedParams = map[string]bool{
	"query": true, "query_id": true, "decompress": true, "compress": true,
	"user": true, "password": true, "quota_key": true, "database": true,
	"wait_end_of_query": true, "session_id": true, "buffer_size": true,
}

// Insert sends r's body to one endpoint as INSERT INTO db.table FORMAT Native and returns
// when the server has written it (nil) or refused it. On an endpoint failure it tries the
// next endpoint when the body can be sent again (see InsertRequest.Idempotent). Classify a
// failure with IsPermanent, MaybeInserted, IsAuth, IsUnknownDatabase; the error is an
// *Error (the server's refusal) or a *NetError (no answer), possibly wrapped.
//
// A body of at most 1,048,576 rows and 256 MiB (min_insert_block_size_rows and _bytes) is
// written all or nothing: the server squashes its blocks into one and writes that one after
// reading the whole body, so a refused or cut-off body inserts nothing.
func (c *Client) Insert(ctx context.Context, r InsertRequest) error {
	bd, err := r.body()
	if err != nil {
		return err
	}
	q, err := r.rawQuery()
	if err != nil {
		return err
	}
	_, err = c.run(ctx, q, &bd, r.QueryID, insertBodyLimit, true, r.Idempotent)
	return err
}

func (r *InsertRequest) body() (body, error) {
	n := 0
	var bd body
	if r.Body != nil {
		n++
		bd = body{b: r.Body, size: int64(len(r.Body))}
	}
	if r.BodyAt != nil {
		n++
		bd = body{at: r.BodyAt, size: r.BodySize}
		if r.BodySize <= 0 {
			return body{}, fmt.Errorf("%w: BodyAt needs a BodySize above 0", ErrInvalidRequest)
		}
	}
	if r.BodyStream != nil {
		n++
		bd = body{stream: r.BodyStream, size: r.BodySize}
		if bd.size <= 0 {
			bd.size = -1
		}
	}
	if n != 1 {
		return body{}, fmt.Errorf("%w: set exactly one of Body, BodyAt and BodyStream (%d set)", ErrInvalidRequest, n)
	}
	if bd.size == 0 {
		return body{}, fmt.Errorf("%w: empty body", ErrInvalidRequest)
	}
	return bd, nil
}

func (r *InsertRequest) rawQuery() (string, error) {
	if r.Database == "" || r.Table == "" {
		return "", fmt.Errorf("%w: database and table are required", ErrInvalidRequest)
	}
	var b strings.Builder
	b.WriteString("query=")
	b.WriteString(url.QueryEscape("INSERT INTO " + QuoteIdent(r.Database) + "." + QuoteIdent(r.Table) + " FORMAT Native"))
	if r.QueryID != "" {
		b.WriteString("&query_id=")
		b.WriteString(url.QueryEscape(r.QueryID))
	}
	switch r.Compression {
	case None:
	case LZ4, ZSTD:
		b.WriteString("&decompress=1")
	default:
		return "", fmt.Errorf("%w: unknown %v", ErrInvalidRequest, r.Compression)
	}
	if err := appendSettings(&b, r.Settings); err != nil {
		return "", err
	}
	return b.String(), nil
}

func appendSettings(b *strings.Builder, settings []Setting) error {
	for _, s := range settings {
		if !isSettingName(s.Key) {
			return fmt.Errorf("%w: setting name %q", ErrInvalidRequest, s.Key)
		}
		if reservedParams[s.Key] {
			return fmt.Errorf("%w: %q is set by the client, not a setting", ErrInvalidRequest, s.Key)
		}
		b.WriteByte('&')
		b.WriteString(s.Key)
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(s.Value))
	}
	return nil
}

func isSettingName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// QuoteIdent quotes a database or table name with backquotes, escaping backquotes and
// backslashes as ClickHouse's lexer expects.
func QuoteIdent(s string) string {
	if !strings.ContainsAny(s, "`\\") {
		return "`" + s + "`"
	}
	r := strings.NewReplacer("\\", "\\\\", "`", "\\`")
	return "`" + r.Replace(s) + "`"
}

// Query runs sql (a SELECT, SHOW, EXISTS…) on one endpoint and returns the answer, in the
// format the statement names (TabSeparated by default), at most Options.MaxResponseBytes
// of it. The server holds the answer until the query ends (wait_end_of_query=1), so an
// error is never mixed into data. Query moves on to the next endpoint after any endpoint
// failure: use it for reads and for statements that may run twice.
func (c *Client) Query(ctx context.Context, sql string) ([]byte, error) {
	if strings.TrimSpace(sql) == "" {
		return nil, fmt.Errorf("%w: empty query", ErrInvalidRequest)
	}
	bd := body{b: []byte(sql), size: int64(len(sql))}
	return c.run(ctx, "wait_end_of_query=1", &bd, "", c.opts.MaxResponseBytes, false, true)
}
