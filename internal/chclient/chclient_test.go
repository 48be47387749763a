package chclient

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/testnet"
)

func TestConfig_ValidateCluster(t *testing.T) {
	c := Default()
	assert.Empty(t, c.Validate())
	assert.Nil(t, c.RollupCluster(), "one server unless a cluster is named")
	opts, err := c.Options(context.Background(), clickhouse.CompressionLZ4, 2)
	require.NoError(t, err)
	assert.Empty(t, opts.Settings)
	c.Cluster = "weir_prod"
	assert.Empty(t, c.Validate())
	rc := c.RollupCluster()
	require.NotNil(t, rc)
	assert.Equal(t, "weir_prod", rc.Name)
	assert.NotNil(t, rc.Dial)
	opts, err = c.Options(context.Background(), clickhouse.CompressionLZ4, 2)
	require.NoError(t, err)
	assert.Equal(t, 1, opts.Settings["insert_distributed_sync"], "inserts wait for every shard")
	c.Cluster = "prod-eu"
	require.Len(t, c.Validate(), 1)
	assert.ErrorContains(t, c.Validate()[0], `cluster "prod-eu"`)
}

// proxy forwards TCP connections to target until it is closed, which also cuts every
// connection it carries: a server that went away.
type proxy struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
			go func() { _, _ = io.Copy(c, s); _ = c.Close() }()
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) close() {
	_ = p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
}

// Several endpoints: one that refuses is skipped, and when the server a pooled connection
// talks to goes away the next query dials the next endpoint that answers.
func TestOpen_FailsOverBetweenEndpoints(t *testing.T) {
	chtest.SkipIfShort(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	one := func(c *Config) uint64 {
		t.Helper()
		conn, err := c.Open(ctx, clickhouse.CompressionLZ4, 2)
		require.NoError(t, err)
		defer conn.Close()
		var n uint64
		require.NoError(t, conn.QueryRow(ctx, "SELECT toUInt64(1)").Scan(&n), "through %s", c.Endpoint)
		return n
	}
	c := Default()
	c.Endpoint = "tcp://" + testnet.FreeAddr(t) + "," + chtest.Addr()
	assert.Equal(t, uint64(1), one(&c), "the refusing endpoint is skipped")

	p := newProxy(t, chtest.Addr())
	c.Endpoint = "tcp://" + p.addr() + "," + chtest.Addr()
	conn, err := c.Open(ctx, clickhouse.CompressionLZ4, 1)
	require.NoError(t, err)
	defer conn.Close()
	var n uint64
	require.NoError(t, conn.QueryRow(ctx, "SELECT toUInt64(1)").Scan(&n))
	p.close() // the first server goes away, with the pooled connection to it
	time.Sleep(50 * time.Millisecond)
	// The pool finds its connection closed before using it, and dials on.
	for i := range 5 {
		require.NoError(t, conn.QueryRow(ctx, "SELECT toUInt64(2)").Scan(&n), "query %d after the first endpoint went away", i)
	}
}
