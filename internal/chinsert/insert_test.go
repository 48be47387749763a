package chinsert

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
)

func TestInsert_RoundTrip(t *testing.T) {
	endpoint := httpEndpoint(t)
	db := chtest.New(t)
	c := newClient(t, Options{Endpoints: []string{endpoint}})
	rows := testSpans(1000)
	block := encodeSpans(t, nil, rows)

	for _, tc := range []struct {
		name string
		m    Compression
		req  func(body []byte) InsertRequest
	}{
		{"none bytes", None, func(b []byte) InsertRequest { return InsertRequest{Body: b} }},
		{"lz4 bytes", LZ4, func(b []byte) InsertRequest { return InsertRequest{Body: b} }},
		{"zstd bytes", ZSTD, func(b []byte) InsertRequest { return InsertRequest{Body: b} }},
		{"lz4 ReaderAt", LZ4, func(b []byte) InsertRequest {
			return InsertRequest{BodyAt: bytes.NewReader(b), BodySize: int64(len(b))}
		}},
		{"zstd stream, length unknown (chunked)", ZSTD, func(b []byte) InsertRequest {
			return InsertRequest{BodyStream: bytes.NewReader(b)}
		}},
		{"none stream, length known", None, func(b []byte) InsertRequest {
			return InsertRequest{BodyStream: bytes.NewReader(b), BodySize: int64(len(b))}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.NewReplacer(" ", "_", ",", "", "(", "", ")", "").Replace(tc.name)
			createSpans(t, db, name)
			body := Compress(nil, block, tc.m)
			req := tc.req(body)
			req.Database, req.Table, req.Compression = db.Name, name, tc.m
			req.QueryID = "roundtrip-" + db.Name + "-" + name
			require.NoError(t, c.Insert(context.Background(), req))

			got, extra, num := readSpans(t, db, db.Table(name))
			requireSameSpans(t, rows, got)
			for i := range extra {
				require.Equal(t, "none", extra[i])
				require.Equal(t, uint32(7), num[i])
			}
		})
	}
	st := c.Endpoints()[0]
	assert.True(t, st.Up)
	assert.Equal(t, uint64(6), st.Requests)
	assert.Zero(t, st.Errors)
}

func TestInsert_MissingColumnsGetDefaults(t *testing.T) {
	endpoint := httpEndpoint(t)
	db := chtest.New(t)
	c := newClient(t, Options{Endpoints: []string{endpoint}})
	table := createSpans(t, db, "spans")
	rows := testSpans(50)
	block := encodeSpans(t, nil, rows, "Tags", "Value")
	require.NoError(t, c.Insert(context.Background(), InsertRequest{Database: db.Name, Table: "spans", Body: block}))

	got, extra, num := readSpans(t, db, table)
	for i := range rows {
		rows[i].Tags, rows[i].Value = nil, 0
	}
	requireSameSpans(t, rows, got)
	for i := range extra {
		require.Equal(t, "none", extra[i])
		require.Equal(t, uint32(7), num[i])
	}
}

// Blocks of different column sets go in as one body, each missing column with its defaults:
// weir leaves out of each block the columns that hold only defaults, and a body holds several
// blocks of one table.
func TestInsert_BlocksOfDifferentColumnsInOneBody(t *testing.T) {
	endpoint := httpEndpoint(t)
	db := chtest.New(t)
	c := newClient(t, Options{Endpoints: []string{endpoint}})
	table := createSpans(t, db, "spans")
	rows := testSpans(60)
	body := encodeSpans(t, nil, rows[:20], "Tags", "Value")
	body = encodeSpans(t, body, rows[20:40])
	body = encodeSpans(t, body, rows[40:], "Tags")
	require.NoError(t, c.Insert(context.Background(), InsertRequest{Database: db.Name, Table: "spans", Body: body}))

	got, _, _ := readSpans(t, db, table)
	for i := range rows {
		if i < 20 {
			rows[i].Tags, rows[i].Value = nil, 0
		} else if i >= 40 {
			rows[i].Tags = nil
		}
	}
	requireSameSpans(t, rows, got)
}

// 18.16 matches block columns by name and silently drops those the table lacks, even when
// the query names its columns: weir must check its column lists against the schema.
func TestInsert_UnknownBlockColumnIsDroppedBy18_16(t *testing.T) {
	endpoint := httpEndpoint(t)
	db := chtest.New(t)
	c := newClient(t, Options{Endpoints: []string{endpoint}})
	db.Exec(t, "CREATE TABLE "+db.Table("narrow")+" (Timestamp DateTime, Count UInt64) ENGINE = MergeTree ORDER BY Timestamp")
	block := encodeSpans(t, nil, testSpans(10))
	err := c.Insert(context.Background(), InsertRequest{Database: db.Name, Table: "narrow", Body: block})
	if err != nil {
		t.Logf("this server refuses unknown block columns: %v", err)
		return
	}
	assert.Equal(t, uint64(10), db.QueryUint64(t, "SELECT count() FROM "+db.Table("narrow")))
}

func TestInsert_SeveralBlocksInOneBody(t *testing.T) {
	endpoint := httpEndpoint(t)
	db := chtest.New(t)
	c := newClient(t, Options{Endpoints: []string{endpoint}})
	table := createSpans(t, db, "spans")
	rows := testSpans(3000)
	var plain []byte
	for _, part := range [][]span{rows[:1000], rows[1000:1001], rows[1001:]} {
		plain = encodeSpans(t, plain, part)
	}
	// Frames need not align with blocks: Compress cuts at FrameSize, whatever the block.
	require.NoError(t, c.Insert(context.Background(), InsertRequest{Database: db.Name, Table: "spans", Body: plain}))
	require.NoError(t, c.Insert(context.Background(), InsertRequest{
		Database: db.Name, Table: "spans", Body: Compress(nil, plain, LZ4), Compression: LZ4,
	}))
	got, _, _ := readSpans(t, db, table)
	var want []span
	for _, r := range rows {
		want = append(want, r, r)
	}
	requireSameSpans(t, want, got)
}

func TestInsert_Errors(t *testing.T) {
	endpoint := httpEndpoint(t)
	db := chtest.New(t)
	c := newClient(t, Options{Endpoints: []string{endpoint}})
	table := createSpans(t, db, "spans")
	block := encodeSpans(t, nil, testSpans(100))
	ctx := context.Background()

	t.Run("unknown table", func(t *testing.T) {
		err := c.Insert(ctx, InsertRequest{Database: db.Name, Table: "nosuch", Body: block, QueryID: "q-unknown-table-" + db.Name})
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, CodeUnknownTable, e.Code)
		assert.Equal(t, 404, e.Status)
		assert.Equal(t, endpoint, e.Endpoint)
		assert.Contains(t, e.Message, "nosuch")
		assert.Equal(t, "q-unknown-table-"+db.Name, e.QueryID)
		assert.True(t, IsPermanent(err))
		assert.True(t, IsUnknownTable(err))
		assert.False(t, MaybeInserted(err))
		assert.False(t, IsAuth(err))
	})
	t.Run("unknown database", func(t *testing.T) {
		err := c.Insert(ctx, InsertRequest{Database: db.Name + "_nosuch", Table: "spans", Body: block})
		assert.True(t, IsUnknownDatabase(err), "%v", err)
		assert.True(t, IsPermanent(err))
		assert.Contains(t, err.Error(), "UNKNOWN_DATABASE")
	})
	t.Run("column of the wrong type", func(t *testing.T) {
		// Count as UInt32 where the table has UInt64: 18.16 converts nothing in Native input.
		db.Exec(t, "CREATE TABLE "+db.Table("narrow32")+" (Timestamp DateTime, Count UInt32) ENGINE = MergeTree ORDER BY Timestamp")
		err := c.Insert(ctx, InsertRequest{Database: db.Name, Table: "narrow32", Body: block})
		require.Error(t, err)
		assert.True(t, IsPermanent(err), "%v", err)
		assert.False(t, MaybeInserted(err))
		t.Logf("wrong type: %v", err)
		assert.Zero(t, db.QueryUint64(t, "SELECT count() FROM "+db.Table("narrow32")))
	})
	t.Run("corrupt compressed frame", func(t *testing.T) {
		frames := Compress(nil, block, LZ4)
		frames[len(frames)/2] ^= 0xff
		err := c.Insert(ctx, InsertRequest{Database: db.Name, Table: "spans", Body: frames, Compression: LZ4})
		require.Error(t, err)
		assert.True(t, IsPermanent(err), "%v", err)
		t.Logf("corrupt frame: %v", err)
	})
	t.Run("body cut off mid-way", func(t *testing.T) {
		// The server gets the whole (short) body and fails reading the block: nothing in.
		err := c.Insert(ctx, InsertRequest{Database: db.Name, Table: "spans", Body: block[:len(block)/2]})
		assert.Equal(t, 33, Code(err), "%v", err)
		assert.True(t, IsPermanent(err))
	})
	t.Run("connection broken mid-body", func(t *testing.T) {
		// The body's reader fails half-way: the client drops the connection with half the
		// declared length sent. The server inserts nothing.
		r := io.MultiReader(bytes.NewReader(block[:len(block)/2]), errReader{errors.New("disk read failed")})
		err := c.Insert(ctx, InsertRequest{Database: db.Name, Table: "spans", BodyStream: r, BodySize: int64(len(block))})
		var ne *NetError
		require.ErrorAs(t, err, &ne, "%v", err)
		assert.True(t, ne.Sent)
		assert.True(t, MaybeInserted(err))
		assert.False(t, IsPermanent(err))
		assert.Contains(t, err.Error(), "disk read failed")
	})
	t.Run("unknown setting", func(t *testing.T) {
		err := c.Insert(ctx, InsertRequest{Database: db.Name, Table: "spans", Body: block, Settings: []Setting{{"no_such_setting", "1"}}})
		assert.Equal(t, 115, Code(err), "%v", err)
		assert.True(t, IsPermanent(err))
	})
	time.Sleep(200 * time.Millisecond) // let the server notice the broken connection
	assert.Zero(t, db.QueryUint64(t, "SELECT count() FROM "+table), "failed inserts must insert nothing")
	assert.True(t, c.Endpoints()[0].Up, "a server that answers with a code is up")
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// A body larger than min_insert_block_size_rows is written in pieces: an error late in the
// body leaves the earlier pieces in. Below the threshold (the default 1,048,576 rows) the
// same body inserts nothing.
func TestInsert_AtomicOnlyBelowSquashThreshold(t *testing.T) {
	endpoint := httpEndpoint(t)
	db := chtest.New(t)
	c := newClient(t, Options{Endpoints: []string{endpoint}})
	table := createSpans(t, db, "spans")
	rows := testSpans(300)
	var body []byte
	for i := range 3 {
		body = encodeSpans(t, body, rows[i*100:(i+1)*100])
	}
	body = body[:len(body)-10] // the third block is cut short

	err := c.Insert(context.Background(), InsertRequest{Database: db.Name, Table: "spans", Body: body})
	require.Equal(t, 33, Code(err), "%v", err)
	assert.Zero(t, db.QueryUint64(t, "SELECT count() FROM "+table))

	err = c.Insert(context.Background(), InsertRequest{
		Database: db.Name, Table: "spans", Body: body,
		Settings: []Setting{{"min_insert_block_size_rows", "50"}, {"min_insert_block_size_bytes", "0"}},
	})
	require.Equal(t, 33, Code(err), "%v", err)
	assert.Equal(t, uint64(200), db.QueryUint64(t, "SELECT count() FROM "+table), "the first two blocks went in")
}

func TestInsert_Auth(t *testing.T) {
	endpoint := httpEndpoint(t)
	ctx := context.Background()
	block := []byte{0, 0} // never read: authentication comes first

	t.Run("wrong password", func(t *testing.T) {
		c := newClient(t, Options{Endpoints: []string{endpoint}, Username: "default", Password: "hunter2-wrong"})
		err := c.Insert(ctx, InsertRequest{Database: "default", Table: "t", Body: block})
		assert.True(t, IsAuth(err), "%v", err)
		assert.True(t, IsPermanent(err))
		assert.Equal(t, CodeWrongPassword, Code(err))
		assert.NotContains(t, err.Error(), "hunter2")
		_, err = c.Query(ctx, "SELECT 1")
		assert.True(t, IsAuth(err), "%v", err)
		assert.True(t, c.Endpoints()[0].Up)
	})
	t.Run("unknown user", func(t *testing.T) {
		c := newClient(t, Options{Endpoints: []string{endpoint}, Username: "weir_nobody", Password: "x"})
		_, err := c.Query(ctx, "SELECT 1")
		assert.True(t, IsAuth(err), "%v", err)
		assert.Equal(t, 192, Code(err))
	})
	t.Run("right credentials", func(t *testing.T) {
		c := newClient(t, Options{Endpoints: []string{endpoint}, Username: "default"})
		out, err := c.Query(ctx, "SELECT 1")
		require.NoError(t, err)
		assert.Equal(t, "1\n", string(out))
	})
}

// While an insert with a query_id runs, the same server refuses another with that ID (216,
// retryable); cancelling the first leaves nothing inserted.
func TestInsert_QueryIDStillRunning(t *testing.T) {
	endpoint := httpEndpoint(t)
	db := chtest.New(t)
	c := newClient(t, Options{Endpoints: []string{endpoint}})
	table := createSpans(t, db, "spans")
	block := encodeSpans(t, nil, testSpans(100_000))
	require.Greater(t, len(block), 3<<20)
	queryID := "stalled-" + db.Name

	// The first insert sends 2 MiB (the server parses the query only once its 1 MiB read
	// buffer fills) and then stalls.
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(block[:2<<20])
	}()
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		first <- c.Insert(ctx, InsertRequest{Database: db.Name, Table: "spans", BodyStream: pr, BodySize: int64(len(block)), QueryID: queryID})
	}()
	waitFor(t, 10*time.Second, func() bool {
		out, err := c.Query(context.Background(), "SELECT count() FROM system.processes WHERE query_id = '"+queryID+"'")
		require.NoError(t, err)
		return string(out) == "1\n"
	})

	err := c.Insert(context.Background(), InsertRequest{Database: db.Name, Table: "spans", Body: block, QueryID: queryID})
	assert.Equal(t, CodeQueryWithSameIDIsRunning, Code(err), "%v", err)
	assert.False(t, IsPermanent(err))
	assert.False(t, MaybeInserted(err))

	// The transport cannot interrupt a Read of the body: the caller's stream must end
	// (here: fail) for the cancelled Insert to return.
	cancel()
	_ = pw.CloseWithError(errors.New("test over"))
	err = <-first
	assert.ErrorIs(t, err, context.Canceled)
	assert.True(t, MaybeInserted(err), "the first request had sent data: %v", err)
	assert.False(t, IsPermanent(err))
	// The stalled query ends when the server notices the closed connection.
	waitFor(t, 10*time.Second, func() bool {
		out, err := c.Query(context.Background(), "SELECT count() FROM system.processes WHERE query_id = '"+queryID+"'")
		require.NoError(t, err)
		return string(out) == "0\n"
	})
	assert.Zero(t, db.QueryUint64(t, "SELECT count() FROM "+table))
	assert.True(t, c.Endpoints()[0].Up, "the caller's cancellation is not the endpoint's failure")
}

func waitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestQuery(t *testing.T) {
	endpoint := httpEndpoint(t)
	db := chtest.New(t)
	c := newClient(t, Options{Endpoints: []string{endpoint}, MaxResponseBytes: 1 << 20})
	createSpans(t, db, "spans")
	block := encodeSpans(t, nil, testSpans(100))
	require.NoError(t, c.Insert(context.Background(), InsertRequest{Database: db.Name, Table: "spans", Body: block}))
	ctx := context.Background()

	out, err := c.Query(ctx, "SELECT count() FROM "+db.Table("spans")+" WHERE Count < 42 FORMAT TSV")
	require.NoError(t, err)
	assert.Equal(t, "42\n", string(out))

	out, err = c.Query(ctx, "SELECT Count, Name FROM "+db.Table("spans")+" WHERE Count IN (1, 3) ORDER BY Count")
	require.NoError(t, err)
	assert.Equal(t, "1\tGET /api/v1/orders\n3\ttab\\there\\nnewline\n", string(out))

	_, err = c.Query(ctx, "SELECT 1 FROM "+db.Table("nosuch"))
	assert.True(t, IsUnknownTable(err), "%v", err)

	_, err = c.Query(ctx, "SELEC 1")
	assert.Equal(t, 62, Code(err))
	assert.True(t, IsPermanent(err))

	// Without wait_end_of_query the server would answer 200, rows, then the exception.
	_, err = c.Query(ctx, "SELECT throwIf(number = 3000000) FROM numbers(4000000)")
	assert.Equal(t, 395, Code(err), "%v", err)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, 500, e.Status)

	_, err = c.Query(ctx, "SELECT number FROM numbers(1000000)")
	assert.ErrorIs(t, err, ErrResponseTooLarge)

	_, err = c.Query(ctx, " ")
	assert.ErrorIs(t, err, ErrInvalidRequest)
}

func TestClose(t *testing.T) {
	endpoint := httpEndpoint(t)
	c, err := New(Options{Endpoints: []string{endpoint}})
	require.NoError(t, err)
	_, err = c.Query(context.Background(), "SELECT 1")
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.NoError(t, c.Close())
	_, err = c.Query(context.Background(), "SELECT 1")
	assert.ErrorIs(t, err, ErrClosed)
	err = c.Insert(context.Background(), InsertRequest{Database: "d", Table: "t", Body: []byte{1}})
	assert.ErrorIs(t, err, ErrClosed)
}
