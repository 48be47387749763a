package chinsert

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
)

// httpEndpoint is the test ClickHouse's HTTP interface. It fails the test, saying how to
// start the server, if nothing answers there.
func httpEndpoint(t testing.TB) string {
	t.Helper()
	chtest.SkipIfShort(t)
	addr := chtest.HTTPAddr()
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/ping")
	if err == nil {
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET /ping: HTTP %d", resp.StatusCode)
		}
	}
	if err != nil {
		t.Fatalf("ClickHouse's HTTP interface is not reachable at %s (%v): start it with "+
			"`scripts/clickhouse.sh start` or `make test`, or set %s", addr, err, chtest.HTTPAddrEnv)
	}
	return "http://" + addr
}

// newClient returns a Client closed when the test ends.
func newClient(t testing.TB, opts Options) *Client {
	t.Helper()
	c, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// span is one row of the test table.
type span struct {
	Timestamp time.Time
	Name      string
	TraceID   [16]byte
	Tags      []string
	Count     uint64
	Value     float64
}

const spansDDL = ` (
	Timestamp DateTime,
	Name String,
	TraceId FixedString(16),
	Tags Array(String),
	Count UInt64,
	Value Float64,
	Extra String DEFAULT 'none',
	Num UInt32 DEFAULT 7
) ENGINE = MergeTree PARTITION BY toDate(Timestamp) ORDER BY (Name, Timestamp)`

// createSpans creates the test table and returns its qualified name.
func createSpans(t testing.TB, db *chtest.DB, name string) string {
	t.Helper()
	table := db.Table(name)
	db.Exec(t, "CREATE TABLE "+table+spansDDL)
	return table
}

// testSpans returns n rows with the awkward values: empty and binary strings, NUL bytes,
// empty arrays, extreme numbers. Count is the row's index, except the last row's, which is
// MaxUint64.
func testSpans(n int) []span {
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	names := []string{"", "GET /api/v1/orders", "名前-ünïcödé", "tab\there\nnewline", "nul\x00byte", "'quote\"\\"}
	values := []float64{0, math.Copysign(0, -1), 1.5, -2.25, math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64, 1e-300}
	rows := make([]span, n)
	for i := range rows {
		r := span{
			Timestamp: base.Add(time.Duration(i) * 37 * time.Second),
			Name:      names[i%len(names)],
			Count:     uint64(i),
			Value:     values[i%len(values)] + float64(i%3),
		}
		for j := range r.TraceID {
			r.TraceID[j] = byte(i*31 + j*7) // includes zero bytes
		}
		for j := range i % 4 {
			r.Tags = append(r.Tags, fmt.Sprintf("tag-%d-%d", i, j))
		}
		if i%5 == 0 {
			r.Tags = append(r.Tags, "")
		}
		rows[i] = r
	}
	if n > 0 {
		rows[n-1].Count = math.MaxUint64
	}
	return rows
}

// spanCols are the test table's columns as ch-go proto columns.
type spanCols struct {
	ts    proto.ColDateTime
	name  proto.ColStr
	trace proto.ColFixedStr16
	tags  *proto.ColArr[string]
	count proto.ColUInt64
	value proto.ColFloat64
}

// encodeSpans encodes rows as one Native block (protocol version 0: no per-column flag
// byte, which 18.16 would read as a syntax error). omit names columns to leave out.
func encodeSpans(t testing.TB, dst []byte, rows []span, omit ...string) []byte {
	t.Helper()
	c := spanCols{tags: proto.NewArray[string](new(proto.ColStr))}
	for _, r := range rows {
		c.ts.Append(r.Timestamp)
		c.name.Append(r.Name)
		c.trace.Append(r.TraceID)
		c.tags.Append(r.Tags)
		c.count.Append(r.Count)
		c.value.Append(r.Value)
	}
	all := []proto.InputColumn{
		{Name: "Timestamp", Data: &c.ts},
		{Name: "Name", Data: &c.name},
		{Name: "TraceId", Data: &c.trace},
		{Name: "Tags", Data: c.tags},
		{Name: "Count", Data: &c.count},
		{Name: "Value", Data: &c.value},
	}
	var input []proto.InputColumn
	for _, col := range all {
		keep := true
		for _, o := range omit {
			keep = keep && col.Name != o
		}
		if keep {
			input = append(input, col)
		}
	}
	buf := proto.Buffer{Buf: dst}
	require.NoError(t, proto.Block{Columns: len(input), Rows: len(rows)}.EncodeRawBlock(&buf, 0, input))
	return buf.Buf
}

// readSpans reads the table back over the native protocol, ordered by Count.
func readSpans(t testing.TB, db *chtest.DB, table string) (rows []span, extra []string, num []uint32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := db.Conn.Query(ctx, "SELECT Timestamp, Name, TraceId, Tags, Count, Value, Extra, Num FROM "+table+" ORDER BY Count")
	require.NoError(t, err)
	defer res.Close()
	for res.Next() {
		var (
			r     span
			trace string
			e     string
			n     uint32
		)
		require.NoError(t, res.Scan(&r.Timestamp, &r.Name, &trace, &r.Tags, &r.Count, &r.Value, &e, &n))
		require.Len(t, trace, 16)
		copy(r.TraceID[:], trace)
		if len(r.Tags) == 0 {
			r.Tags = nil
		}
		r.Timestamp = r.Timestamp.UTC()
		rows = append(rows, r)
		extra = append(extra, e)
		num = append(num, n)
	}
	require.NoError(t, res.Err())
	return rows, extra, num
}

// requireSameSpans compares exactly, floats bit for bit (so -0 is not 0).
func requireSameSpans(t testing.TB, want, got []span) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		w, g := want[i], got[i]
		require.Truef(t, w.Timestamp.Equal(g.Timestamp), "row %d Timestamp: want %v, got %v", i, w.Timestamp, g.Timestamp)
		require.Equalf(t, w.Name, g.Name, "row %d Name", i)
		require.Equalf(t, w.TraceID, g.TraceID, "row %d TraceId", i)
		require.Equalf(t, w.Tags, g.Tags, "row %d Tags", i)
		require.Equalf(t, w.Count, g.Count, "row %d Count", i)
		require.Equalf(t, math.Float64bits(w.Value), math.Float64bits(g.Value), "row %d Value: want %v, got %v", i, w.Value, g.Value)
	}
}

// hungServer is a TCP listener that accepts connections and never answers. It counts the
// connections it holds at once.
type hungServer struct {
	ln       net.Listener
	mu       sync.Mutex
	conns    []net.Conn
	open     atomic.Int64
	maxOpen  atomic.Int64
	accepted atomic.Int64
	done     chan struct{}
}

func startHungServer(t testing.TB) *hungServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &hungServer{ln: ln, done: make(chan struct{})}
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *hungServer) url() string { return "http://" + s.ln.Addr().String() }

func (s *hungServer) serve() {
	defer close(s.done)
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepted.Add(1)
		n := s.open.Add(1)
		for {
			m := s.maxOpen.Load()
			if n <= m || s.maxOpen.CompareAndSwap(m, n) {
				break
			}
		}
		s.mu.Lock()
		s.conns = append(s.conns, conn)
		s.mu.Unlock()
		// Notice when the client gives up, without ever answering.
		go func() {
			buf := make([]byte, 64<<10)
			for {
				if _, err := conn.Read(buf); err != nil {
					s.open.Add(-1)
					return
				}
			}
		}()
	}
}

// close stops accepting, closes every connection and waits for the readers.
func (s *hungServer) close() {
	_ = s.ln.Close()
	<-s.done
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for s.open.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// deadEndpoint is a loopback URL where nothing listens.
func deadEndpoint(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr
}

// fakeClock is a settable clock for endpoint backoff.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// readSource returns one of the package's files.
func readSource(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return string(b)
}
