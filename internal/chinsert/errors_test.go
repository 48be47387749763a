package chinsert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Cases named "18.16 …" are bodies recorded from this repository's ClickHouse 18.16.1. The
// others are written in the format of the version named (or 18.16's) with the server's
// message text, not recorded: no such server, cluster or proxy runs here.
func TestParseError(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		header     http.Header
		body       string
		code       int
		msg        string
		permanent  bool
		auth       bool
		maybe      bool
		unknownDB  bool
		unknownTbl bool
	}{
		{
			name: "18.16 unknown table", status: 404,
			body: "Code: 60, e.displayText() = DB::Exception: Table xexp.nosuch doesn't exist., e.what() = DB::Exception\n",
			code: 60, msg: "Table xexp.nosuch doesn't exist.", permanent: true, unknownTbl: true,
		},
		{
			name: "18.16 unknown database", status: 404,
			body: "Code: 81, e.displayText() = DB::Exception: Database nodb doesn't exist, e.what() = DB::Exception\n",
			code: 81, msg: "Database nodb doesn't exist", permanent: true, unknownDB: true,
		},
		{
			name: "18.16 wrong password", status: 401,
			body: "Code: 193, e.displayText() = DB::Exception: Wrong password for user default, e.what() = DB::Exception\n",
			code: 193, msg: "Wrong password for user default", permanent: true, auth: true,
		},
		{
			name: "18.16 unknown user", status: 401,
			body: "Code: 192, e.displayText() = DB::Exception: Unknown user nobody, e.what() = DB::Exception\n",
			code: 192, msg: "Unknown user nobody", permanent: true, auth: true,
		},
		{
			name: "18.16 wrong column type", status: 500,
			body: "Code: 368, e.displayText() = DB::Exception: Bad cast from type DB::ColumnString to DB::ColumnVector<unsigned long>, e.what() = DB::Exception\n",
			code: 368, msg: "Bad cast from type DB::ColumnString to DB::ColumnVector<unsigned long>", permanent: true,
		},
		{
			name: "18.16 truncated block", status: 500,
			body: "Code: 33, e.displayText() = DB::Exception: Cannot read all data. Bytes read: 3. Bytes expected: 5., e.what() = DB::Exception\n",
			code: 33, msg: "Cannot read all data. Bytes read: 3. Bytes expected: 5.", permanent: true,
		},
		{
			name: "18.16 same query_id running", status: 500,
			body: "Code: 216, e.displayText() = DB::Exception: Query with id = stall4 is already running., e.what() = DB::Exception\n",
			code: 216, msg: "Query with id = stall4 is already running.",
		},
		{
			name: "18.16 memory limit", status: 500,
			body: "Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded: would use 2.00 MiB (attempt to allocate chunk of 4096 bytes), maximum: 976.56 KiB, e.what() = DB::Exception\n",
			code: 241, msg: "Memory limit (for query) exceeded: would use 2.00 MiB (attempt to allocate chunk of 4096 bytes), maximum: 976.56 KiB",
		},
		{
			name: "too many parts", status: 500,
			body: "Code: 252, e.displayText() = DB::Exception: Too many parts (300). Merges are processing significantly slower than inserts., e.what() = DB::Exception\n",
			code: 252, msg: "Too many parts (300). Merges are processing significantly slower than inserts.",
		},
		{
			name: "read-only replica, ZooKeeper away", status: 500,
			body: "Code: 242, e.displayText() = DB::Exception: Table is in readonly mode, e.what() = DB::Exception\n",
			code: 242, msg: "Table is in readonly mode",
		},
		{
			name: "quorum insert outcome unknown", status: 500,
			body: "Code: 319, e.displayText() = DB::Exception: Unknown status, client must retry. Reason: Connection loss, e.what() = DB::Exception\n",
			code: 319, msg: "Unknown status, client must retry. Reason: Connection loss", maybe: true,
		},
		{
			name: "20.x format", status: 404,
			body: "Code: 60, e.displayText() = DB::Exception: Table default.x doesn't exist. (version 20.8.3.18)\n",
			code: 60, msg: "Table default.x doesn't exist.", permanent: true, unknownTbl: true,
		},
		{
			name: "23.x authentication failed, with header", status: 516,
			header: http.Header{"X-Clickhouse-Exception-Code": {"516"}},
			body:   "Code: 516. DB::Exception: default: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED) (version 23.8.1.1)\n",
			code:   516, msg: "default: Authentication failed: password is incorrect, or there is no user with such name.", permanent: true, auth: true,
		},
		{
			name: "header wins over body", status: 500,
			header: http.Header{"X-Clickhouse-Exception-Code": {"252"}},
			body:   "Code: 1002. DB::Exception: something. (UNKNOWN_EXCEPTION) (version 24.1.1.1)",
			code:   252, msg: "something.",
		},
		{
			name: "stack trace after the message", status: 500,
			body: "Code: 62, e.displayText() = DB::Exception: Syntax error: failed at position 1, e.what() = DB::Exception\nStack trace:\n0. clickhouse(StackTrace::StackTrace()+0x16)\n",
			code: 62, msg: "Syntax error: failed at position 1", permanent: true,
		},
		{
			name: "exception after rows of a 200", status: 200,
			body: "0\n0\n0\nCode: 395, e.displayText() = DB::Exception: Value passed to 'throwIf' function is non zero, e.what() = DB::Exception\n",
			code: 395, msg: "Value passed to 'throwIf' function is non zero", permanent: true,
		},
		{
			name: "proxy 502", status: 502, body: "<html><body>Bad Gateway</body></html>",
			msg: "<html><body>Bad Gateway</body></html>", maybe: true,
		},
		{name: "proxy 503 empty", status: 503, msg: "Service Unavailable", maybe: true},
		{name: "proxy 429", status: 429, body: "slow down", msg: "slow down"},
		{name: "proxy 401", status: 401, body: "Unauthorized", msg: "Unauthorized", permanent: true, auth: true},
		{name: "proxy 413", status: 413, body: "too big", msg: "too big", permanent: true},
		{name: "not an exception", status: 500, body: "Codes: 5", msg: "Codes: 5", maybe: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := parseError("http://h:8123", tc.status, tc.header, []byte(tc.body))
			assert.Equal(t, tc.code, e.Code, "code")
			assert.Equal(t, tc.msg, e.Message, "message")
			assert.Equal(t, tc.status, e.Status)
			assert.Equal(t, "http://h:8123", e.Endpoint)
			var err error = fmt.Errorf("insert: %w", e)
			assert.Equal(t, tc.permanent, IsPermanent(err), "IsPermanent")
			assert.Equal(t, tc.auth, IsAuth(err), "IsAuth")
			assert.Equal(t, tc.maybe, MaybeInserted(err), "MaybeInserted")
			assert.Equal(t, tc.unknownDB, IsUnknownDatabase(err), "IsUnknownDatabase")
			assert.Equal(t, tc.unknownTbl, IsUnknownTable(err), "IsUnknownTable")
			assert.Equal(t, tc.code, Code(err))
		})
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Code: 60, Message: "Table d.t doesn't exist.", Endpoint: "http://h:8123", Status: 404, QueryID: "q1"}
	assert.Equal(t, "clickhouse at http://h:8123: code 60 UNKNOWN_TABLE: Table d.t doesn't exist. (HTTP 404, query_id q1)", e.Error())
	e = &Error{Message: "Bad Gateway", Endpoint: "https://p", Status: 502}
	assert.Equal(t, "clickhouse at https://p: Bad Gateway (HTTP 502)", e.Error())
	ne := &NetError{Endpoint: "http://h:8123", Sent: true, Timeout: true, Err: context.DeadlineExceeded}
	assert.Equal(t, "clickhouse at http://h:8123: timeout: context deadline exceeded (after sending data: the rows may have been inserted)", ne.Error())
	assert.ErrorIs(t, ne, context.DeadlineExceeded)
}

func TestClassifyOther(t *testing.T) {
	assert.False(t, IsPermanent(nil))
	assert.False(t, MaybeInserted(nil))
	assert.False(t, IsAuth(nil))
	assert.False(t, IsPermanent(io.EOF))
	assert.False(t, IsPermanent(&NetError{Err: io.EOF}))
	assert.False(t, MaybeInserted(&NetError{Err: io.EOF}))
	assert.True(t, MaybeInserted(&NetError{Err: io.EOF, Sent: true}))
	assert.True(t, IsPermanent(fmt.Errorf("x: %w", ErrInvalidRequest)))
	assert.True(t, IsPermanent(ErrResponseTooLarge))
	assert.False(t, IsPermanent(ErrClosed))
	// A code the table does not know is retryable.
	assert.False(t, IsPermanent(&Error{Code: 4242, Status: 500}))
	assert.Equal(t, "", CodeName(4242))
}

// A read error between the server that answered and a shard it inserted into says nothing of
// the body: retryable, and the rows may be in (a split batch would not be deduplicated).
func TestClassify_ReadErrorFromAnotherServer(t *testing.T) {
	for _, msg := range []string{
		"Attempt to read after eof: while receiving packet from 127.0.0.1:29121",
		"Received from 127.0.0.1:29121. DB::Exception: Cannot read all data. Bytes read: 3. Bytes expected: 8.",
	} {
		for _, code := range []int{32, 33} {
			e := &Error{Code: code, Message: msg, Status: 500}
			assert.False(t, IsPermanent(e), "%d %s", code, msg)
			assert.True(t, MaybeInserted(e), "%d %s", code, msg)
		}
	}
	// The server that answered could not read the body itself: corrupt, permanent.
	e := &Error{Code: 33, Message: "Cannot read all data. Bytes read: 3. Bytes expected: 8.", Status: 500}
	assert.True(t, IsPermanent(e))
	assert.False(t, MaybeInserted(e))
	// Another server's error of another kind keeps its class.
	assert.True(t, IsPermanent(&Error{Code: 60, Message: "Received from 127.0.0.1:29121. DB::Exception: Table weir.spans_local doesn't exist.", Status: 500}))
}

// Every listed code has a name in ClickHouse's style, and auth codes are permanent.
func TestCodeTable(t *testing.T) {
	for code, info := range codes {
		require.True(t, isCodeName(info.name), "code %d name %q", code, info.name)
		e := &Error{Code: code, Status: 500}
		if info.class == auth {
			assert.True(t, IsAuth(e) && IsPermanent(e), "code %d", code)
		}
	}
	for _, code := range []int{159, 209, 210, 241, 242, 252, 279, 202, 225} {
		assert.False(t, IsPermanent(&Error{Code: code, Status: 500}), "code %d %s must be retryable", code, CodeName(code))
	}
	for _, code := range []int{60, 81, 16, 53, 368, 33, 44, 128, 131, 192, 193, 516} {
		assert.True(t, IsPermanent(&Error{Code: code, Status: 500}), "code %d %s must be permanent", code, CodeName(code))
	}
}

// The table in the doc comment of codes lists exactly the codes of the map, with their names.
func TestCodeTableComment(t *testing.T) {
	src := readSource(t, "errors.go")
	start := strings.Index(src, "//	code  name")
	end := strings.Index(src, "var codes = map")
	require.True(t, start >= 0 && end > start)
	seen := map[int]bool{}
	for _, line := range strings.Split(src[start:end], "\n")[1:] {
		f := strings.Fields(strings.TrimPrefix(line, "//"))
		if len(f) < 3 || f[0] == "code" {
			continue
		}
		var code int
		if _, err := fmt.Sscanf(f[0], "%d", &code); err != nil {
			continue
		}
		seen[code] = true
		info, ok := codes[code]
		if assert.True(t, ok, "comment lists %d, the map does not", code) {
			assert.Equal(t, info.name, f[1], "code %d", code)
			class := strings.TrimSuffix(f[2], ",")
			want := map[codeClass]string{retryable: "retryable", permanent: "permanent", auth: "auth"}[info.class]
			assert.Equal(t, want, class, "code %d class", code)
		}
	}
	for code := range codes {
		assert.True(t, seen[code], "map has %d, the comment does not", code)
	}
}

func TestNew_Validation(t *testing.T) {
	for _, tc := range []struct {
		name      string
		endpoints []string
		want      string
	}{
		{"none", nil, "no endpoints"},
		{"credentials in URL", []string{"http://bob:s3cret@h:8123"}, "put credentials in username and password"},
		{"scheme", []string{"tcp://h:9000"}, "scheme must be http or https"},
		{"no host", []string{"http://"}, "no host"},
		{"query string", []string{"http://h:8123/?user=x"}, "no query string"},
		{"twice", []string{"http://h:8123", "http://h:8123/"}, "listed twice"},
		{"negative", []string{"http://h:8123"}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{Endpoints: tc.endpoints}
			if tc.name == "negative" {
				opts.MaxConns = -1
			}
			_, err := New(opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
	c, err := New(Options{Endpoints: []string{"https://h:8443/ch/"}})
	require.NoError(t, err)
	assert.Equal(t, "https://h:8443/ch", c.Endpoints()[0].Endpoint)
	require.NoError(t, c.Close())
}

func TestInsert_InvalidRequest(t *testing.T) {
	c := newClient(t, Options{Endpoints: []string{deadEndpoint(t)}})
	body := []byte{1, 2, 3}
	for _, tc := range []struct {
		name string
		req  InsertRequest
	}{
		{"no body", InsertRequest{Database: "d", Table: "t"}},
		{"empty body", InsertRequest{Database: "d", Table: "t", Body: []byte{}}},
		{"two bodies", InsertRequest{Database: "d", Table: "t", Body: body, BodyStream: strings.NewReader("x")}},
		{"BodyAt without size", InsertRequest{Database: "d", Table: "t", BodyAt: strings.NewReader("x")}},
		{"no table", InsertRequest{Database: "d", Body: body}},
		{"reserved setting", InsertRequest{Database: "d", Table: "t", Body: body, Settings: []Setting{{"password", "x"}}}},
		{"bad setting name", InsertRequest{Database: "d", Table: "t", Body: body, Settings: []Setting{{"a&b", "x"}}}},
		{"unknown compression", InsertRequest{Database: "d", Table: "t", Body: body, Compression: 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Insert(context.Background(), tc.req)
			require.ErrorIs(t, err, ErrInvalidRequest)
			assert.True(t, IsPermanent(err))
		})
	}
	assert.Zero(t, c.Endpoints()[0].Requests, "an invalid request must not reach the network")
}

func TestRawQuery(t *testing.T) {
	r := InsertRequest{
		Database: "weir", Table: "spans`x", QueryID: "q 1", Compression: LZ4,
		Settings: []Setting{{"insert_distributed_sync", "1"}, {"max_insert_block_size", "100 000"}},
	}
	q, err := r.rawQuery()
	require.NoError(t, err)
	assert.Equal(t, "query=INSERT+INTO+%60weir%60.%60spans%5C%60x%60+FORMAT+Native&query_id=q+1&decompress=1"+
		"&insert_distributed_sync=1&max_insert_block_size=100+000", q)
}

func TestQuoteIdent(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		assert.Equal(t, want, QuoteIdent(in))
	}
	f("spans", "`spans`")
	f("a`b", "`a\\`b`")
	f(`a\b`, "`a\\\\b`")
}

func TestErrorsAs(t *testing.T) {
	var err error = fmt.Errorf("flush: %w", &Error{Code: 81, Status: 404})
	var e *Error
	require.True(t, errors.As(err, &e))
	assert.True(t, IsUnknownDatabase(err))
}
