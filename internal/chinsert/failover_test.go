package chinsert

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/weirhq/weir/internal/chtest"
)

// A server that accepts the connection and never answers costs RequestTimeout, and the
// attempt leaves no goroutine behind.
func TestInsert_TimeoutOnHungServer(t *testing.T) {
	before := goleak.IgnoreCurrent()
	hung := startHungServer(t)
	c, err := New(Options{Endpoints: []string{hung.url()}, RequestTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	req := InsertRequest{Database: "d", Table: "t", Body: encodeSpans(t, nil, testSpans(100))}

	start := time.Now()
	err = c.Insert(context.Background(), req)
	elapsed := time.Since(start)
	assert.GreaterOrEqual(t, elapsed, 300*time.Millisecond)
	assert.Less(t, elapsed, 2*time.Second)
	var ne *NetError
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout)
	assert.True(t, ne.Sent, "the small body fits in the socket buffers")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.False(t, IsPermanent(err))
	assert.True(t, MaybeInserted(err))
	assert.Contains(t, err.Error(), "no answer within 300ms")
	st := c.Endpoints()[0]
	assert.False(t, st.Up)
	assert.Equal(t, int64(1), st.Failures)

	// The caller's own deadline ends the call sooner, and does not count against the endpoint.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	err = c.Insert(ctx, req)
	assert.Less(t, time.Since(start), time.Second)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.False(t, IsPermanent(err))
	assert.Equal(t, int64(1), c.Endpoints()[0].Failures)

	require.NoError(t, c.Close())
	hung.close()
	goleak.VerifyNone(t, driverCloser, before)
}

// Many inserts against a hung server hold at most MaxConns connections, all return after
// RequestTimeout, and nothing piles up.
func TestInsert_HungServerBoundsConnections(t *testing.T) {
	before := goleak.IgnoreCurrent()
	hung := startHungServer(t)
	c, err := New(Options{Endpoints: []string{hung.url()}, RequestTimeout: 300 * time.Millisecond, MaxConns: 2})
	require.NoError(t, err)
	body := encodeSpans(t, nil, testSpans(100))

	const calls = 16
	errs := make([]error, calls)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range calls {
		wg.Go(func() {
			errs[i] = c.Insert(context.Background(), InsertRequest{Database: "d", Table: "t", Body: body})
		})
	}
	time.Sleep(150 * time.Millisecond)
	assert.Equal(t, int64(2), hung.open.Load(), "MaxConns connections, the other calls wait for one")
	wg.Wait()
	assert.Less(t, time.Since(start), 2*time.Second)
	sent := 0
	for _, err := range errs {
		var ne *NetError
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout)
		assert.False(t, IsPermanent(err))
		if ne.Sent {
			sent++
		}
	}
	// Calls that waited for a connection sent nothing, and say so. (A waiting call can get
	// a connection in the instant the first ones time out, so a third may be accepted.)
	assert.LessOrEqual(t, int64(sent), hung.accepted.Load())
	t.Logf("%d calls, %d connections accepted, at most %d at once, %d sent data", calls, hung.accepted.Load(), hung.maxOpen.Load(), sent)

	require.NoError(t, c.Close())
	hung.close()
	goleak.VerifyNone(t, driverCloser, before)
}

// With endpoints [dead, live], inserts succeed on live and dead is skipped for its backoff,
// which doubles when it fails again.
func TestInsert_Failover(t *testing.T) {
	endpoint := httpEndpoint(t)
	db := chtest.New(t)
	table := createSpans(t, db, "spans")
	clock := newFakeClock()
	dead := deadEndpoint(t)
	c := newClient(t, Options{Endpoints: []string{dead, endpoint}, Now: clock.Now})
	body := encodeSpans(t, nil, testSpans(10))
	req := InsertRequest{Database: db.Name, Table: "spans", Body: body}
	ctx := context.Background()

	for range 10 {
		require.NoError(t, c.Insert(ctx, req))
	}
	st := c.Endpoints()
	assert.Equal(t, dead, st[0].Endpoint)
	assert.False(t, st[0].Up)
	assert.Equal(t, uint64(1), st[0].Requests, "dead was tried once, then skipped")
	assert.Equal(t, int64(1), st[0].Failures)
	assert.Equal(t, clock.Now().Add(DefaultBackoff), st[0].DownUntil)
	assert.True(t, st[1].Up)
	assert.Equal(t, uint64(10), st[1].Requests)

	clock.Advance(DefaultBackoff + time.Millisecond) // backoff over: dead is tried again
	for range 2 {
		require.NoError(t, c.Insert(ctx, req))
	}
	st = c.Endpoints()
	assert.Equal(t, uint64(2), st[0].Requests)
	assert.Equal(t, int64(2), st[0].Failures)
	assert.Equal(t, clock.Now().Add(2*DefaultBackoff), st[0].DownUntil, "the backoff doubled")

	clock.Advance(DefaultBackoff + time.Millisecond) // still down
	require.NoError(t, c.Insert(ctx, req))
	assert.Equal(t, uint64(2), c.Endpoints()[0].Requests)
	assert.Equal(t, uint64(13*10), db.QueryUint64(t, "SELECT count() FROM "+table))
}

// A stream that the first endpoint never read goes to the next one.
func TestInsert_FailoverWithStream(t *testing.T) {
	endpoint := httpEndpoint(t)
	db := chtest.New(t)
	table := createSpans(t, db, "spans")
	c := newClient(t, Options{Endpoints: []string{deadEndpoint(t), endpoint}})
	body := encodeSpans(t, nil, testSpans(10))
	require.NoError(t, c.Insert(context.Background(), InsertRequest{Database: db.Name, Table: "spans", BodyStream: bytes.NewReader(body)}))
	assert.Equal(t, uint64(1), c.Endpoints()[0].Requests)
	assert.Equal(t, uint64(10), db.QueryUint64(t, "SELECT count() FROM "+table))
}

// After a timeout the rows may be in: Insert resends to another endpoint only when the
// request says duplicates are harmless.
func TestInsert_TimeoutFailover(t *testing.T) {
	endpoint := httpEndpoint(t)
	db := chtest.New(t)
	table := createSpans(t, db, "spans")
	body := encodeSpans(t, nil, testSpans(10))
	ctx := context.Background()

	t.Run("not idempotent", func(t *testing.T) {
		hung := startHungServer(t)
		c := newClient(t, Options{Endpoints: []string{hung.url(), endpoint}, RequestTimeout: 300 * time.Millisecond})
		req := InsertRequest{Database: db.Name, Table: "spans", Body: body}
		err := c.Insert(ctx, req) // starts at hung
		assert.True(t, MaybeInserted(err), "%v", err)
		assert.False(t, IsPermanent(err))
		assert.Zero(t, c.Endpoints()[1].Requests, "not resent")
		require.NoError(t, c.Insert(ctx, req), "the next call skips the hung endpoint")
		assert.Equal(t, uint64(1), c.Endpoints()[0].Requests)
		assert.Equal(t, uint64(10), db.QueryUint64(t, "SELECT count() FROM "+table))
	})
	t.Run("idempotent", func(t *testing.T) {
		hung := startHungServer(t)
		c := newClient(t, Options{Endpoints: []string{hung.url(), endpoint}, RequestTimeout: 300 * time.Millisecond})
		start := time.Now()
		require.NoError(t, c.Insert(ctx, InsertRequest{Database: db.Name, Table: "spans", Body: body, Idempotent: true}))
		assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
		st := c.Endpoints()
		assert.False(t, st[0].Up)
		assert.Equal(t, uint64(1), st[1].Requests)
		assert.Equal(t, uint64(20), db.QueryUint64(t, "SELECT count() FROM "+table))
	})
}

func TestInsert_AllEndpointsDown(t *testing.T) {
	d1, d2 := deadEndpoint(t), deadEndpoint(t)
	c := newClient(t, Options{Endpoints: []string{d1, d2}})
	req := InsertRequest{Database: "d", Table: "t", Body: []byte{1, 2, 3}}
	err := c.Insert(context.Background(), req)
	var ne *NetError
	require.ErrorAs(t, err, &ne)
	assert.False(t, ne.Sent)
	assert.False(t, IsPermanent(err))
	assert.False(t, MaybeInserted(err), "no connection: nothing can have been inserted")
	assert.Contains(t, err.Error(), d1)
	assert.Contains(t, err.Error(), d2)
	assert.Contains(t, err.Error(), "connection refused")
	// Every endpoint down: a call still probes the one whose backoff ends first, and only it.
	err = c.Insert(context.Background(), req)
	require.Error(t, err)
	st := c.Endpoints()
	assert.Equal(t, uint64(3), st[0].Requests+st[1].Requests)
	assert.Equal(t, uint64(2), st[0].Requests, "d1 went down first")
}

func TestQuery_FailsOverAfterTimeout(t *testing.T) {
	endpoint := httpEndpoint(t)
	hung := startHungServer(t)
	c := newClient(t, Options{Endpoints: []string{hung.url(), endpoint}, RequestTimeout: 300 * time.Millisecond})
	out, err := c.Query(context.Background(), "SELECT 42")
	require.NoError(t, err)
	assert.Equal(t, "42\n", string(out))
	assert.False(t, c.Endpoints()[0].Up)
}

// https through a TLS-terminating proxy in front of the test server; the credentials travel
// in headers only.
func TestInsert_HTTPS(t *testing.T) {
	endpoint := httpEndpoint(t)
	db := chtest.New(t)
	table := createSpans(t, db, "spans")
	target, err := url.Parse(endpoint)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxyTransport := &http.Transport{}
	proxy.Transport = proxyTransport
	var (
		mu      sync.Mutex
		queries []string
		users   []string
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		users = append(users, r.Header.Get("X-ClickHouse-User")+"/"+r.Header.Get("X-ClickHouse-Key"))
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	srv.StartTLS()
	defer func() {
		srv.Close()
		proxyTransport.CloseIdleConnections()
	}()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c := newClient(t, Options{Endpoints: []string{srv.URL}, TLS: &tls.Config{RootCAs: roots}, Username: "default"})

	body := Compress(nil, encodeSpans(t, nil, testSpans(100)), LZ4)
	require.NoError(t, c.Insert(context.Background(), InsertRequest{Database: db.Name, Table: "spans", Body: body, Compression: LZ4}))
	assert.Equal(t, uint64(100), db.QueryUint64(t, "SELECT count() FROM "+table))
	err = c.Insert(context.Background(), InsertRequest{Database: db.Name, Table: "nosuch", Body: body, Compression: LZ4})
	assert.True(t, IsUnknownTable(err), "%v", err)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, queries, 2)
	for i := range queries {
		v, err := url.ParseQuery(queries[i])
		require.NoError(t, err)
		assert.Empty(t, v["user"])
		assert.Empty(t, v["password"])
		assert.Equal(t, "1", v.Get("decompress"))
		assert.Equal(t, "default/", users[i])
	}

	// A client that does not trust the proxy's certificate fails, and says why.
	c2 := newClient(t, Options{Endpoints: []string{srv.URL}})
	err = c2.Insert(context.Background(), InsertRequest{Database: db.Name, Table: "spans", Body: body, Compression: LZ4})
	var ne *NetError
	require.ErrorAs(t, err, &ne)
	var unknownAuthority x509.UnknownAuthorityError
	assert.True(t, errors.As(err, &unknownAuthority), "%v", err)
}
