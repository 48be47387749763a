package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weirhq/weir/internal/chcluster"
)

// The tests of weir on a ClickHouse cluster (issue 13): the cluster that
// scripts/clickhouse-cluster.sh runs on loopback (ZooKeeper, 2 shards x 2 replicas), weir on
// the shipped config pointed at every server. Tests that stop servers take the cluster
// exclusively (chcluster.NewExclusive); the others share it.

// spansPerRequest is how many spans crashRequest puts in one request.
const spansPerRequest = 200

// clusterEnv is the shipped config's environment for weir writing to db on the test cluster:
// every server's native endpoint, the cluster, every span kept (baseline 1), ports and a
// journal of the test's own. The shipped file takes one HTTP endpoint from the environment;
// clusterHTTPEndpoints gives it all of them.
func clusterEnv(t *testing.T, db *chcluster.DB) map[string]string {
	t.Helper()
	return weirEnv(t, "tcp://"+strings.Join(db.Endpoints(), ","), db.Nodes[0].HTTP, db.Name, map[string]string{
		"WEIR_CLICKHOUSE_CLUSTER":    db.Cluster.Name,
		"WEIR_SAMPLING_BASELINE":     "1",
		"WEIR_SELF_METRICS_ENDPOINT": selfMetricsSink(t),
	})
}

// clusterHTTPEndpoints is a --config over the shipped file that lists every server's HTTP
// interface as the exporter's http_endpoints (the inserts spread over them and fail over).
func clusterHTTPEndpoints(c *chcluster.Cluster) string {
	return `yaml:exporters::clickhouse::http_endpoints: ["` + strings.Join(c.HTTPEndpoints(), `", "`) + `"]`
}

// storedPerRequest reads how many spans of each crashRequest (by its n) are stored, one
// server of each shard at a time (shardRead: without the parts an INSERT of unknown status
// left behind). It returns errors rather than failing t, for callers that wait while servers
// come back, and the orphan parts it left out.
func storedPerRequest(ctx context.Context, db *chcluster.DB) (map[uint32]uint64, []string, error) {
	out := map[uint32]uint64{}
	orphans, err := shardRead(ctx, db, "spans_local",
		"SELECT reinterpretAsUInt32(reverse(substring(SpanId, 1, 4))) AS n, count() FROM {table} WHERE {live} GROUP BY n",
		func(rows driver.Rows) error {
			var n uint32
			var c uint64
			if err := rows.Scan(&n, &c); err != nil {
				return err
			}
			out[n] += c
			return nil
		})
	return out, orphans, err
}

// shardRead runs query on one server of each shard, the first that answers in the order of
// db.Nodes, and calls scan for each row. In query, {table} is the test database's table and
// {live} a condition that leaves out that server's orphan parts (chcluster.OrphanParts): parts
// ZooKeeper does not know, which ClickHouse 18.16 keeps for 5 minutes after ZooKeeper went
// away in the middle of an INSERT, while the writer sends the same rows again. They are not
// what the cluster stores (the server detaches them), so a check that counted them would
// fail on rows stored once, and rows that only an orphan holds are missing, as they will be.
// It returns the orphans it left out, as "server:table:part".
func shardRead(ctx context.Context, db *chcluster.DB, table, query string, scan func(driver.Rows) error) ([]string, error) {
	var orphans []string
	done := map[int]bool{}
	var errs []error
	for _, n := range db.Nodes {
		if done[n.Shard] {
			continue
		}
		parts, err := db.OrphanParts(ctx, n.Name, table)
		if err == nil {
			err = readNode(ctx, n, strings.NewReplacer("{table}", db.Name+"."+table, "{live}", liveParts(parts)).Replace(query), scan)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
			continue
		}
		done[n.Shard] = true
		for _, p := range parts {
			orphans = append(orphans, n.Name+":"+table+":"+p)
		}
	}
	for _, n := range db.Nodes {
		if !done[n.Shard] {
			return nil, fmt.Errorf("no server of shard %d answered: %w", n.Shard, errors.Join(errs...))
		}
	}
	return orphans, nil
}

// liveParts is a condition true of rows in none of parts.
func liveParts(parts []string) string {
	if len(parts) == 0 {
		return "1"
	}
	q := make([]string, len(parts))
	for i, p := range parts {
		q[i] = "'" + p + "'" // part names are [a-z0-9_]
	}
	return "_part NOT IN (" + strings.Join(q, ", ") + ")"
}

func readNode(ctx context.Context, n chcluster.Node, query string, scan func(driver.Rows) error) error {
	conn, err := chcluster.Open(n.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	rows, err := conn.Query(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// waitStoredOnce waits up to timeout until every request in acked has its 200 spans stored,
// then checks that no request is stored more than once (more than 200 spans) and that every
// stored request is one that was sent (up to what sent says after the read; the load may go
// on). It returns what is stored.
func waitStoredOnce(t *testing.T, db *chcluster.DB, acked []uint32, sent func() uint32, timeout time.Duration) map[uint32]uint64 {
	t.Helper()
	var (
		got     map[uint32]uint64
		err     error
		missing []uint32
		seen    = map[string]bool{}
	)
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var orphans []string
		got, orphans, err = storedPerRequest(ctx, db)
		cancel()
		for _, o := range orphans {
			if !seen[o] {
				seen[o] = true
				t.Logf("not counted: %s, a part ZooKeeper does not know (an INSERT of unknown status; the server detaches it after 5 minutes)", o)
			}
		}
		missing = missing[:0]
		if err == nil {
			for _, n := range acked {
				if got[n] < spansPerRequest {
					missing = append(missing, n)
				}
			}
			if len(missing) == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			require.NoError(t, err, "read the spans")
			if len(missing) > 5 {
				missing = missing[:5]
			}
			require.Failf(t, "acknowledged requests not stored whole", "after %s: %d of %d, e.g. %v", timeout, len(missing), len(acked), missing)
		}
		time.Sleep(250 * time.Millisecond)
	}
	last := sent()
	for n, c := range got {
		if c > uint64(spansPerRequest) {
			explainDuplicate(t, db, n)
		}
		require.LessOrEqual(t, c, uint64(spansPerRequest), "request %d: %d spans stored, some twice", n, c)
		require.True(t, n >= 1 && n <= last, "request %d stored, never sent (sent 1..%d)", n, last)
	}
	return got
}

// explainDuplicate logs where request n's spans are on every server: by part, with the
// InsertIds of the blocks they came in and whether ZooKeeper knows the part. Two InsertIds
// mean weir wrote the spans in two blocks; one InsertId in two parts, a block stored twice.
func explainDuplicate(t *testing.T, db *chcluster.DB, n uint32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, node := range db.Nodes {
		orphans, err := db.OrphanParts(ctx, node.Name, "spans_local")
		if err != nil {
			t.Logf("%s: orphan parts: %v", node.Name, err)
		}
		q := fmt.Sprintf("SELECT _part, count(), groupUniqArray(InsertId) FROM %s.spans_local "+
			"WHERE reinterpretAsUInt32(reverse(substring(SpanId, 1, 4))) = %d GROUP BY _part ORDER BY _part", db.Name, n)
		err = readNode(ctx, node, q, func(rows driver.Rows) error {
			var part string
			var c uint64
			var ids []uint64
			if err := rows.Scan(&part, &c, &ids); err != nil {
				return err
			}
			t.Logf("request %d on %s (shard %d): part %s, %d spans, InsertIds %v, orphan %v",
				n, node.Name, node.Shard, part, c, ids, slices.Contains(orphans, part))
			return nil
		})
		if err != nil {
			t.Logf("%s: %v", node.Name, err)
		}
	}
}

// checkStoredOnce checks, once weir is stopped, that every request in acked and no other is
// stored, each span once, and that red_1m counts every span of them once.
func checkStoredOnce(t *testing.T, db *chcluster.DB, acked []uint32, sent uint32) {
	t.Helper()
	// The reads take one replica of each shard, and a server inserts a shard's rows into its
	// own replica when it has one: what the other replica has not fetched yet would be missed.
	db.SyncReplicas(t, "spans_local", "red_1m_local")
	got := waitStoredOnce(t, db, acked, func() uint32 { return sent }, 10*time.Second)
	var stored uint64
	for n, c := range got {
		// A request weir refused may have been journaled all the same: then it is stored whole.
		require.Equal(t, uint64(spansPerRequest), c, "request %d", n)
		stored += c
	}
	spans := db.Name + ".spans"
	assert.Equal(t, stored, db.QueryUint64(t, "", "SELECT uniqExact(SpanId) FROM "+spans), "no span stored twice")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var requests uint64
	_, err := shardRead(ctx, db, "red_1m_local", "SELECT sum(Requests) FROM {table} WHERE {live}", func(rows driver.Rows) error {
		var n uint64
		err := rows.Scan(&n)
		requests += n
		return err
	})
	require.NoError(t, err)
	assert.Equal(t, stored, requests, "red_1m counts every span stored, once")
}

// shardCounts syncs each server's replica of table with its shard's other replica, then
// checks that the two agree on what summary (a SELECT list of two integers, such as
// "count(), sum(cityHash64(SpanId))") says of the table without its orphan parts (see
// shardRead), and returns the summary's first value on each shard.
func shardCounts(t *testing.T, db *chcluster.DB, table, summary string) []uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db.SyncReplicas(t, table)
	byShard := map[int][][2]uint64{}
	for _, n := range db.Nodes {
		var v [2]uint64
		orphans, err := db.OrphanParts(ctx, n.Name, table)
		require.NoError(t, err)
		if len(orphans) > 0 {
			t.Logf("not counted on %s: %s parts %v, which ZooKeeper does not know (INSERTs of unknown status)", n.Name, table, orphans)
		}
		require.NoError(t, db.Cluster.Conn(t, n.Name).QueryRow(ctx, "SELECT "+summary+" FROM "+db.Name+"."+table+" WHERE "+liveParts(orphans)).Scan(&v[0], &v[1]), "%s on %s", table, n.Name)
		byShard[n.Shard] = append(byShard[n.Shard], v)
	}
	var out []uint64
	for _, shard := range slices.Sorted(maps.Keys(byShard)) {
		vs := byShard[shard]
		for _, v := range vs[1:] {
			assert.Equal(t, vs[0], v, "the replicas of shard %d agree on %s of %s", shard, summary, table)
		}
		out = append(out, vs[0][0])
	}
	return out
}

// TestCluster_KeepAllThroughShippedConfig sends telemetry-generator-shaped traces (100 traces
// of a server and a client span per request) to weir on the shipped config, every span kept,
// pointed at every server of the cluster: every span is stored once and counted in red_1m,
// both shards hold spans, no trace has spans on two shards, and the replicas of each shard
// agree.
func TestCluster_KeepAllThroughShippedConfig(t *testing.T) {
	t.Parallel()
	bin := sharedWeirBinary(t) // before the cluster: the build does not hold it
	db := chcluster.New(t)
	env := clusterEnv(t, db)
	w := startShipped(t, bin, env, clusterHTTPEndpoints(db.Cluster))

	conn, err := grpc.NewClient(env["WEIR_OTLP_GRPC_ENDPOINT"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	const requests = 50
	var acked []uint32
	for n := uint32(1); n <= requests; n++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := client.Export(ctx, crashRequest(n))
		cancel()
		require.NoError(t, err, "request %d", n)
		acked = append(acked, n)
	}
	waitStoredOnce(t, db, acked, func() uint32 { return requests }, 60*time.Second)
	w.stop(t) // seals RED's last counts
	checkStoredOnce(t, db, acked, requests)

	traces := db.QueryUint64(t, "", "SELECT uniqExact(TraceId) FROM "+db.Name+".spans")
	require.Equal(t, uint64(100*requests), traces)
	spans := shardCounts(t, db, "spans_local", "count(), sum(cityHash64(SpanId))")
	var perShard uint64
	for _, n := range db.Nodes {
		if n.Replica != 1 {
			continue
		}
		assert.NotZero(t, spans[n.Shard-1], "shard %d holds spans", n.Shard)
		perShard += db.QueryUint64(t, n.Name, "SELECT uniqExact(TraceId) FROM "+db.Name+".spans_local")
		assert.Zero(t, db.QueryUint64(t, n.Name, "SELECT count() FROM (SELECT TraceId, count() AS c FROM "+db.Name+
			".spans_local GROUP BY TraceId HAVING c != 2)"), "traces whole on shard %d (%s)", n.Shard, n.Name)
	}
	assert.Equal(t, traces, perShard, "no trace has spans on two shards")
	red := shardCounts(t, db, "red_1m_local", "sum(Requests), count()")
	assert.Equal(t, uint64(spansPerRequest*requests), red[0]+red[1], "red_1m's shards count every span once")
	t.Logf("spans per shard %v, RED requests per shard %v", spans, red)
}

// TestCluster_REDExactUnderSampling is TestRED_ExactUnderSampling's acceptance (1%% sampling,
// exact request and error counts, quantiles, rollup tiers and service graph) on the cluster.
func TestCluster_REDExactUnderSampling(t *testing.T) {
	t.Parallel()
	testREDExact(t, weirOptions{Stages: redStages, Cluster: chcluster.New(t)})
}

// clusterLoad sends crashRequest(1), crashRequest(2), ... to weir, one every interval, until
// stopped, and records which weir acknowledged. It is safe for concurrent use.
type clusterLoad struct {
	mu     sync.Mutex
	sent   uint32
	acked  []uint32
	failed []string
	quit   chan struct{}
	done   chan struct{}
}

func startLoad(t *testing.T, addr string, every time.Duration) *clusterLoad {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	client := ptraceotlp.NewGRPCClient(conn)
	l := &clusterLoad{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		defer conn.Close()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for n := uint32(1); ; n++ {
			select {
			case <-l.quit:
				return
			case <-tick.C:
			}
			l.mu.Lock()
			l.sent = n
			l.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := client.Export(ctx, crashRequest(n))
			cancel()
			l.mu.Lock()
			if err == nil {
				l.acked = append(l.acked, n)
			} else {
				l.failed = append(l.failed, fmt.Sprintf("request %d: %v", n, err))
			}
			l.mu.Unlock()
		}
	}()
	t.Cleanup(l.stop)
	return l
}

// stop stops the load and waits for its last request; calling it again is harmless.
func (l *clusterLoad) stop() {
	select {
	case <-l.quit:
	default:
		close(l.quit)
	}
	<-l.done
}

// state is what was sent and acknowledged so far, and what failed.
func (l *clusterLoad) state() (sent uint32, acked []uint32, failed []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent, slices.Clone(l.acked), slices.Clone(l.failed)
}

// TestCluster_OutagesLoseNothing runs weir (shipped config, every span kept, every server's
// endpoints) under a steady load of 10 requests (2000 spans) a second while servers of the
// cluster stop: one replica (the first endpoint weir and the reader try); a whole shard for
// 20 s; ZooKeeper for 20 s. Weir acknowledges every request throughout; during a shard or
// ZooKeeper outage the journal holds what cannot go in and weir writes it afterwards. After
// each outage every acknowledged request is stored, each span once, and at the end red_1m
// counts every span once and the replicas of each shard agree. The shipped retry backoff
// (up to 30 s) is shortened to 2 s so that the test waits little after an outage.
func TestCluster_OutagesLoseNothing(t *testing.T) {
	bin := sharedWeirBinary(t)
	db := chcluster.NewExclusive(t)
	env := clusterEnv(t, db)
	w := startShipped(t, bin, env, clusterHTTPEndpoints(db.Cluster), "yaml:exporters::clickhouse::retry::max_interval: 2s")
	load := startLoad(t, env["WEIR_OTLP_GRPC_ENDPOINT"], 100*time.Millisecond)
	sentNow := func() uint32 { sent, _, _ := load.state(); return sent }

	// outage stops the servers named together, keeps them down for down while the load goes
	// on, runs whileDown (if any), starts them again and waits until every request
	// acknowledged by then is stored once. Weir must acknowledge every request meanwhile, and
	// must have retried inserts when retried says so.
	outage := func(t *testing.T, down time.Duration, retried bool, whileDown func(t *testing.T), names ...string) {
		logged := len(w.out.String())
		sentBefore, _, _ := load.state()
		db.StopNodes(t, names...)
		stopped := time.Now()
		time.Sleep(down)
		if whileDown != nil {
			whileDown(t)
		}
		sentDuring, _, _ := load.state()
		for _, n := range names {
			db.StartNode(t, n)
		}
		back := time.Now()
		_, acked, failed := load.state()
		require.Empty(t, failed, "weir refused requests")
		require.Greater(t, sentDuring-sentBefore, uint32(down/(200*time.Millisecond)), "the load went on while %v were down", names)
		waitStoredOnce(t, db, acked, sentNow, 60*time.Second)
		out := w.out.String()[logged:]
		if retried {
			assert.Contains(t, out, "INSERT failed; retrying", "inserts failed while %v were down", names)
		}
		assert.NotContains(t, out, "for good", "nothing set aside")
		t.Logf("%v down %s; %d requests sent meanwhile; all %d acknowledged requests stored %s after the restart",
			names, back.Sub(stopped).Round(time.Millisecond), sentDuring-sentBefore, len(acked), time.Since(back).Round(time.Millisecond))
	}
	phases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"replica down", func(t *testing.T) {
			first := db.Nodes[0] // shard 1's first replica: the first endpoint everywhere
			require.Equal(t, 1, first.Replica)
			outage(t, 3*time.Second, false, func(t *testing.T) {
				// The inserts go on: what weir acknowledged is stored with the replica still down.
				_, acked, _ := load.state()
				waitStoredOnce(t, db, acked, sentNow, 30*time.Second)
			}, first.Name)
			// It catches up: SYSTEM SYNC REPLICA waits until it has fetched every part.
			start := time.Now()
			shardCounts(t, db, "spans_local", "count(), sum(cityHash64(SpanId))")
			t.Logf("%s caught up in %s", first.Name, time.Since(start).Round(time.Millisecond))
		}},
		{"shard down 20s", func(t *testing.T) {
			var shard []string
			for _, n := range db.Nodes {
				if n.Shard == 2 {
					shard = append(shard, n.Name)
				}
			}
			outage(t, 20*time.Second, true, nil, shard...)
		}},
		{"ZooKeeper down 20s", func(t *testing.T) {
			outage(t, 20*time.Second, true, nil, "zk")
		}},
	}
	for _, p := range phases {
		if !t.Run(p.name, p.run) {
			return
		}
	}
	load.stop()
	sent, acked, failed := load.state()
	require.Empty(t, failed)
	w.stop(t)
	checkStoredOnce(t, db, acked, sent)
	spans := shardCounts(t, db, "spans_local", "count(), sum(cityHash64(SpanId))")
	assert.Equal(t, uint64(spansPerRequest*len(acked)), spans[0]+spans[1], "the shards hold every span once")
	red := shardCounts(t, db, "red_1m_local", "sum(Requests), count()")
	assert.Equal(t, uint64(spansPerRequest*len(acked)), red[0]+red[1], "red_1m's shards count every span once")
	t.Logf("%d requests (%d spans) sent and stored once; spans per shard %v", len(acked), spansPerRequest*len(acked), spans)
}
