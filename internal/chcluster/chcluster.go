// Package chcluster connects integration tests to the project's ClickHouse cluster: the
// ZooKeeper and 2 shards x 2 replicas on loopback that scripts/clickhouse-cluster.sh runs.
//
// A test that needs the cluster calls New, which starts the cluster if it is not running
// (once per test binary; the script's lock makes test packages that run at the same time
// start it once), creates a database ON CLUSTER and drops it when the test ends:
//
//	db := chcluster.New(t)
//	c := rollup.Cluster{Name: db.Cluster.Name, Dial: chcluster.Dial}
//	_, err := rollup.MigrateCluster(ctx, db.Conn, c, db.Name, 0)
//
// A test whose cluster cannot start FAILS, with the script's output; it is never skipped,
// except under `go test -short`, the lane of tests that need no server.
//
// Tests that stop a server (StopNode) call Exclusive instead of New: it waits until no
// other test, in any test binary, uses the cluster, and keeps them waiting until it ends,
// so that their ON CLUSTER DDL does not wait for a server that is down. Everything else
// shares the cluster.
package chcluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weirhq/weir/internal/chtest"
)

// Node is one server of the cluster.
type Node struct {
	Name    string // n1..n4
	Shard   int    // from 1
	Replica int    // from 1, within its shard
	Addr    string // native protocol, host:port
	HTTP    string // HTTP interface, http://host:port
}

// Cluster is the running test cluster.
type Cluster struct {
	// Name is the cluster weir's tables use (remote_servers), "weir" unless
	// WEIR_CLUSTER_NAME says otherwise.
	Name string
	// Nodes are the servers by shard, then replica.
	Nodes []Node

	script string

	mu        sync.Mutex
	zkStopped bool // since the last restart: restart the whole cluster
}

var (
	startOnce sync.Once
	started   *Cluster
	startErr  error
)

// start runs the script's start (idempotent, and serialised across processes by its lock)
// once per test binary, then reads the layout.
func start() (*Cluster, error) {
	startOnce.Do(func() {
		started, startErr = startCluster()
	})
	return started, startErr
}

func startCluster() (*Cluster, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	c := &Cluster{script: filepath.Join(root, "scripts", "clickhouse-cluster.sh")}
	if _, err := c.run(3*time.Minute, "start"); err != nil {
		return nil, err
	}
	out, err := c.run(10*time.Second, "env")
	if err != nil {
		return nil, err
	}
	var httpEndpoints []string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "WEIR_CLICKHOUSE_CLUSTER="); ok {
			c.Name = v
		}
		if v, ok := strings.CutPrefix(line, "WEIR_CLICKHOUSE_HTTP_ENDPOINT="); ok {
			httpEndpoints = strings.Split(v, ",")
		}
	}
	if out, err = c.run(10*time.Second, "nodes"); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 {
			return nil, fmt.Errorf("chcluster: %s nodes printed %q, want: name shard replica host:port", c.script, sc.Text())
		}
		shard, err1 := strconv.Atoi(f[1])
		replica, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("chcluster: %s nodes printed %q: shard and replica must be numbers", c.script, sc.Text())
		}
		c.Nodes = append(c.Nodes, Node{Name: f[0], Shard: shard, Replica: replica, Addr: f[3]})
	}
	if c.Name == "" || len(c.Nodes) == 0 || len(httpEndpoints) != len(c.Nodes) {
		return nil, fmt.Errorf("chcluster: %s env/nodes printed no cluster name, no nodes or not one HTTP endpoint per node", c.script)
	}
	for i := range c.Nodes {
		c.Nodes[i].HTTP = httpEndpoints[i] // env lists them in nodes' order
	}
	return c, nil
}

// run runs the script with args, bounded by timeout, and returns its standard output. Its
// error holds everything the script printed.
func (c *Cluster) run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.script, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("chcluster: %s %s: %w\n%s%s", c.script, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// repoRoot is the directory of weir's go.mod, above the test's working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("chcluster: working directory: %w", err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/weirhq/weir\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("chcluster: no go.mod of github.com/weirhq/weir above the working directory")
		}
		dir = parent
	}
}

// home is the script's directory: $WEIR_HOME/cluster, <repo root>/.weir/cluster by default.
func home() (string, error) {
	h := os.Getenv("WEIR_HOME")
	if h == "" {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		h = filepath.Join(root, ".weir")
	}
	return filepath.Join(h, "cluster"), nil
}

// lockPath is where tests coordinate their use of the cluster: the script's home.
func lockPath() (string, error) {
	dir, err := home()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("chcluster: %w", err)
	}
	return filepath.Join(dir, "tests.lock"), nil
}

// PID is the process ID of the server called name, from the script's pid file, for
// benchmarks that read a server's CPU time.
func (c *Cluster) PID(t testing.TB, name string) int {
	t.Helper()
	dir, err := home()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, name, "pid"))
	if err != nil {
		t.Fatalf("chcluster: pid of %s: %v", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("chcluster: pid of %s: %v", name, err)
	}
	return pid
}

// lock takes the tests' lock, shared or exclusive, until t ends. Each call opens the file
// anew: flock locks belong to the open file, so tests of one binary exclude each other too.
func lock(t testing.TB, how int) {
	t.Helper()
	path, err := lockPath()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("chcluster: open %s: %v", path, err)
	}
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), how) }()
	select {
	case err = <-done:
	case <-time.After(5 * time.Minute):
		err = fmt.Errorf("not granted within 5 minutes")
	}
	if err != nil {
		_ = f.Close()
		t.Fatalf("chcluster: lock %s: %v", path, err)
	}
	t.Cleanup(func() { _ = f.Close() }) // closing the file releases the lock
}

// Get returns the cluster, starting it if needed, for a test that shares it. It fails t if
// the cluster cannot start, and skips it under -short.
func Get(t testing.TB) *Cluster {
	t.Helper()
	chtest.SkipIfShort(t)
	lock(t, syscall.LOCK_SH)
	return get(t)
}

// Exclusive is Get for a test that stops servers: it waits until no other test uses the
// cluster. When it ends, every server that it stopped is started again.
func Exclusive(t testing.TB) *Cluster {
	t.Helper()
	c := exclusive(t)
	t.Cleanup(func() { c.restart(t) })
	return c
}

func exclusive(t testing.TB) *Cluster {
	t.Helper()
	chtest.SkipIfShort(t)
	lock(t, syscall.LOCK_EX)
	return get(t)
}

// restart starts whatever a test that failed half-way left stopped: the next test needs it.
// After ZooKeeper was stopped it restarts every server: an 18.16 server whose ZooKeeper
// session ended can lose its DDL worker for good (code 49, a task "already processed
// according to ZK"), and ON CLUSTER DDL, such as the next test's CREATE DATABASE, would
// then wait distributed_ddl_task_timeout (180 s) for it.
func (c *Cluster) restart(t testing.TB) {
	c.mu.Lock()
	whole := c.zkStopped
	c.zkStopped = false
	c.mu.Unlock()
	if whole {
		if _, err := c.run(2*time.Minute, "stop"); err != nil {
			t.Errorf("stop the cluster after %s stopped ZooKeeper: %v", t.Name(), err)
		}
	}
	if _, err := c.run(3*time.Minute, "start"); err != nil {
		t.Errorf("restart the cluster after %s: %v", t.Name(), err)
	}
}

func get(t testing.TB) *Cluster {
	t.Helper()
	c, err := start()
	if err != nil {
		t.Fatalf("the ClickHouse cluster did not start (run scripts/clickhouse-cluster.sh start to see why): %v", err)
	}
	return c
}

// Endpoints are every server's native address, by shard then replica.
func (c *Cluster) Endpoints() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// HTTPEndpoints are every server's HTTP interface (http://host:port), by shard then
// replica: the clickhouse exporter's http_endpoints for the whole cluster.
func (c *Cluster) HTTPEndpoints() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.HTTP
	}
	return out
}

// Node returns the server called name; it fails t if there is none.
func (c *Cluster) Node(t testing.TB, name string) Node {
	t.Helper()
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("chcluster: no server %q", name)
	return Node{}
}

// Open opens a connection to the servers at addrs, tried in order. The caller closes it.
func Open(addrs ...string) (driver.Conn, error) {
	return clickhouse.Open(&clickhouse.Options{
		Addr:        addrs,
		Auth:        clickhouse.Auth{Database: "default", Username: "default"},
		DialTimeout: 5 * time.Second,
		// Inserts into Distributed tables wait until every shard has its rows, so a test
		// reads what it wrote; weir's writers set the same.
		Settings: clickhouse.Settings{"insert_distributed_sync": 1},
	})
}

// Conn connects to the server called name; the connection is closed when t ends.
func (c *Cluster) Conn(t testing.TB, name string) driver.Conn {
	t.Helper()
	conn, err := Open(c.Node(t, name).Addr)
	if err != nil {
		t.Fatalf("chcluster: connect to %s: %v", name, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Dial opens a connection as Open does, with the signature of rollup.Cluster's Dial (this
// package cannot import rollup, whose tests use it).
func Dial(_ context.Context, addrs []string) (driver.Conn, error) { return Open(addrs...) }

// StopNode stops the server (n1..n4) or ZooKeeper (zk) called name. Only a test that
// called Exclusive may. Once ZooKeeper was stopped, the whole cluster restarts when that
// test ends (see restart).
func (c *Cluster) StopNode(t testing.TB, name string) {
	t.Helper()
	if name == "zk" {
		c.mu.Lock()
		c.zkStopped = true
		c.mu.Unlock()
	}
	if _, err := c.run(time.Minute, "stop-node", name); err != nil {
		t.Fatal(err)
	}
}

// StopNodes stops the servers (or ZooKeeper) called names together, as a whole shard going
// down: each is sent SIGTERM before any is waited for (a server under load takes seconds to
// shut down, and the script stops one at a time), then StopNode tidies up after each and
// kills what is still running. Only a test that called Exclusive may.
func (c *Cluster) StopNodes(t testing.TB, names ...string) {
	t.Helper()
	dir, err := home()
	if err != nil {
		t.Fatal(err)
	}
	var signalled []int
	for _, name := range names {
		if name == "zk" {
			c.mu.Lock()
			c.zkStopped = true
			c.mu.Unlock()
		}
		b, err := os.ReadFile(filepath.Join(dir, name, "pid"))
		if err != nil {
			continue // not running: StopNode says so
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			continue
		}
		// The pid file may be stale and its number reused: signal only the process started
		// from this node's directory.
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil || !bytes.Contains(cmdline, []byte(filepath.Join(dir, name)+"/")) {
			continue
		}
		if syscall.Kill(pid, syscall.SIGTERM) == nil {
			signalled = append(signalled, pid)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, pid := range signalled {
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, name := range names {
		c.StopNode(t, name)
	}
}

// StartNode starts it again and returns once it answers (a server: with its ZooKeeper
// session).
func (c *Cluster) StartNode(t testing.TB, name string) {
	t.Helper()
	if _, err := c.run(2*time.Minute, "start-node", name); err != nil {
		t.Fatal(err)
	}
}

// DB is a database of one test on the cluster.
type DB struct {
	*Cluster
	// Conn reaches every server, tried in order (n1 first).
	Conn driver.Conn
	// Name is the test's database, created ON CLUSTER by New and dropped when the test ends.
	Name string
}

// New is Get plus a database of the test's own on every server.
func New(t testing.TB) *DB {
	t.Helper()
	return newDB(t, Get(t))
}

// NewExclusive is Exclusive plus a database of the test's own on every server.
func NewExclusive(t testing.TB) *DB {
	t.Helper()
	db := newDB(t, exclusive(t))
	// Cleanups run last first: the servers are back before the database is dropped ON
	// CLUSTER, which would otherwise wait for a stopped one.
	t.Cleanup(func() { db.restart(t) })
	return db
}

func newDB(t testing.TB, c *Cluster) *DB {
	t.Helper()
	conn, err := Open(c.Endpoints()...)
	if err != nil {
		t.Fatalf("chcluster: connect: %v", err)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	db := &DB{Cluster: c, Conn: conn, Name: "weir_ctest_" + hex.EncodeToString(rnd[:])}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db.Name+" ON CLUSTER "+c.Name); err != nil {
			t.Errorf("chcluster: drop database %s: %v", db.Name, err)
		}
		_ = conn.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := conn.Exec(ctx, "CREATE DATABASE "+db.Name+" ON CLUSTER "+c.Name); err != nil {
		t.Fatalf("chcluster: create database %s: %v", db.Name, err)
	}
	return db
}

// SyncReplicas waits until every server has fetched what its shard's other replica holds
// of the test database's tables (SYSTEM SYNC REPLICA), and fails t on error. A Distributed
// read picks one replica of each shard: what the other has not fetched yet would be missed.
func (db *DB) SyncReplicas(t testing.TB, tables ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, n := range db.Nodes {
		conn := db.Cluster.Conn(t, n.Name)
		for _, table := range tables {
			if err := conn.Exec(ctx, "SYSTEM SYNC REPLICA "+db.Name+"."+table); err != nil {
				t.Fatalf("chcluster: sync %s on %s: %v", table, n.Name, err)
			}
		}
	}
}

// QueryUint64 runs a query that returns one integer on the server called node (or through
// Conn when node is empty) and fails t on error.
func (db *DB) QueryUint64(t testing.TB, node, query string, args ...any) uint64 {
	t.Helper()
	conn := db.Conn
	if node != "" {
		conn = db.Cluster.Conn(t, node)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var n uint64
	if err := conn.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		t.Fatalf("chcluster: %s on %q: %v", query, node, err)
	}
	return n
}

// OrphanParts lists the active parts of the test database's table on the server called node
// that ZooKeeper does not list for that replica. ClickHouse 18.16 leaves such a part when
// ZooKeeper goes away while an INSERT commits: it keeps the part, answers "Unknown status"
// (code 319) and detaches the part 5 minutes later unless ZooKeeper turns out to have it
// (MAX_AGE_OF_LOCAL_PART_THAT_WASNT_ADDED_TO_ZOOKEEPER). Meanwhile its rows are read on
// that replica only, and the writer, which must send the rows again, has them stored twice
// there. A part counts as an orphan only if two looks a second apart both find it active
// and not in ZooKeeper: a merge or an insert between the two reads of one look would
// otherwise pass for one.
func (db *DB) OrphanParts(ctx context.Context, node, table string) ([]string, error) {
	var addr string
	for _, n := range db.Nodes {
		if n.Name == node {
			addr = n.Addr
		}
	}
	if addr == "" {
		return nil, fmt.Errorf("chcluster: no server %q", node)
	}
	conn, err := Open(addr)
	if err != nil {
		return nil, fmt.Errorf("chcluster: connect to %s: %w", node, err)
	}
	defer conn.Close()
	var replicaPath string
	if err := conn.QueryRow(ctx, "SELECT replica_path FROM system.replicas WHERE database = ? AND table = ?",
		db.Name, table).Scan(&replicaPath); err != nil {
		return nil, fmt.Errorf("chcluster: replica path of %s.%s on %s: %w", db.Name, table, node, err)
	}
	look := func() (map[string]bool, error) {
		known, err := queryStrings(ctx, conn, "SELECT name FROM system.zookeeper WHERE path = ?", replicaPath+"/parts")
		if err != nil {
			return nil, fmt.Errorf("chcluster: parts of %s in ZooKeeper: %w", replicaPath, err)
		}
		active, err := queryStrings(ctx, conn, "SELECT name FROM system.parts WHERE database = ? AND table = ? AND active",
			db.Name, table)
		if err != nil {
			return nil, fmt.Errorf("chcluster: parts of %s.%s on %s: %w", db.Name, table, node, err)
		}
		out := map[string]bool{}
		for _, p := range active {
			out[p] = true
		}
		for _, p := range known {
			delete(out, p)
		}
		return out, nil
	}
	first, err := look()
	if err != nil || len(first) == 0 {
		return nil, err
	}
	time.Sleep(time.Second)
	second, err := look()
	if err != nil {
		return nil, err
	}
	var orphans []string
	for p := range first {
		if second[p] {
			orphans = append(orphans, p)
		}
	}
	return orphans, nil
}

func queryStrings(ctx context.Context, conn driver.Conn, query string, args ...any) ([]string, error) {
	rows, err := conn.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
