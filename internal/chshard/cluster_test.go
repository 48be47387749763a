package chshard

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chcluster"
	"github.com/weirhq/weir/rollup"
)

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// migrated is a database on the test cluster at schema version target.
func migrated(t testing.TB, db *chcluster.DB, target int) {
	t.Helper()
	c := rollup.Cluster{Name: db.Cluster.Name, Dial: chcluster.Dial}
	_, err := rollup.MigrateCluster(testContext(t), db.Conn, c, db.Name, target)
	require.NoError(t, err)
}

// selector is the cluster's, from system.clusters.
func selector(t testing.TB, db *chcluster.DB) *Selector {
	t.Helper()
	top, err := rollup.ReadTopology(testContext(t), db.Conn, rollup.Cluster{Name: db.Cluster.Name, Dial: chcluster.Dial})
	require.NoError(t, err)
	var weights []int
	for _, sh := range top.Shards {
		weights = append(weights, sh.Weight)
	}
	s, err := NewSelector(weights)
	require.NoError(t, err)
	return s
}

// span is the few span columns these tests set.
type span struct {
	trace   [16]byte
	id      [8]byte
	service string
	start   time.Time
}

func genSpans(rng *rand.Rand, traces, perTrace int, services []string, start time.Time) []span {
	var out []span
	for range traces {
		var tid [16]byte
		for i := range tid {
			tid[i] = byte(rng.Uint32())
		}
		for range perTrace {
			var sid [8]byte
			for i := range sid {
				sid[i] = byte(rng.Uint32())
			}
			out = append(out, span{trace: tid, id: sid, service: services[rng.IntN(len(services))],
				start: start.Add(time.Duration(rng.IntN(3600)) * time.Second)})
		}
	}
	return out
}

// insertSpans writes spans through the Distributed table, synchronously, as one block.
func insertSpans(t testing.TB, conn driver.Conn, database string, spans []span) {
	t.Helper()
	batch, err := conn.PrepareBatch(testContext(t), "INSERT INTO "+database+"."+rollup.TableSpans+
		" (Timestamp, StartTimeUnixNano, ServiceName, SpanName, TraceId, SpanId)")
	require.NoError(t, err)
	for _, s := range spans {
		require.NoError(t, batch.Append(s.start, uint64(s.start.UnixNano()), s.service, "op", string(s.trace[:]), string(s.id[:])))
	}
	require.NoError(t, batch.Send())
}

// countBy runs "SELECT key, count() ... GROUP BY key" on conn: key (as text) -> count.
func countBy(t testing.TB, conn driver.Conn, query string) map[string]uint64 {
	t.Helper()
	rows, err := conn.Query(testContext(t), query)
	require.NoError(t, err, query)
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var k string
		var n uint64
		require.NoError(t, rows.Scan(&k, &n))
		out[k] = n
	}
	require.NoError(t, rows.Err())
	return out
}

// firstReplicas are the servers of replica 1 of each shard, in shard order, and
// secondReplicas those of replica 2.
func replicas(db *chcluster.DB, replica int) []string {
	var out []string
	for _, n := range db.Nodes {
		if n.Replica == replica {
			out = append(out, n.Name)
		}
	}
	return out
}

func syncReplica(t testing.TB, db *chcluster.DB, node, table string) {
	t.Helper()
	require.NoError(t, db.Cluster.Conn(t, node).Exec(testContext(t), "SYSTEM SYNC REPLICA "+db.Name+"."+table), "%s on %s", table, node)
}

// TestDistributed_RowsLandWhereTheSelectorSays inserts through the Distributed tables and
// reads every shard's local tables: each trace is whole on one shard, each service's RED
// rows, each client's edge rows and each series' rows on one shard, both shards hold data,
// the shard is the one Selector picks with the same key, and a shard's replicas agree.
func TestDistributed_RowsLandWhereTheSelectorSays(t *testing.T) {
	db := chcluster.New(t)
	migrated(t, db, 4) // spans, trace_index, RED and edge tiers, series tiers
	sel := selector(t, db)
	ctx := testContext(t)
	rng := rand.New(rand.NewPCG(5, 6))
	services := []string{"checkout", "cart", "frontend", "payment", "shipping", "search", "ads", "auth", "email", "quote"}
	day := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	const perTrace = 5
	spans := genSpans(rng, 500, perTrace, services, day)
	insertSpans(t, db.Conn, db.Name, spans[:len(spans)/2])
	insertSpans(t, db.Conn, db.Name, spans[len(spans)/2:])

	red, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+db.Name+"."+rollup.TableRED1m+" (Timestamp, ServiceName, SpanName, Requests)")
	require.NoError(t, err)
	edges, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+db.Name+"."+rollup.TableEdges1m+" (Timestamp, Client, Server, Calls)")
	require.NoError(t, err)
	for i, s := range services {
		require.NoError(t, red.Append(day, s, "op", uint64(i+1)))
		require.NoError(t, edges.Append(day, s, services[(i+1)%len(services)], uint64(i+1)))
	}
	require.NoError(t, red.Send())
	require.NoError(t, edges.Send())
	series, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+db.Name+"."+rollup.TableSeries1m+" (Timestamp, ServiceName, MetricName, SeriesHash, Count)")
	require.NoError(t, err)
	for range 200 {
		require.NoError(t, series.Append(day, "svc", "m", rng.Uint64(), uint64(1)))
	}
	require.NoError(t, series.Send())

	for shard, node := range replicas(db, 1) {
		traces := countBy(t, db.Cluster.Conn(t, node), "SELECT hex(TraceId), count() FROM "+db.Name+".spans_local GROUP BY TraceId")
		require.NotEmpty(t, traces, "shard %d holds traces", shard+1)
		for id, n := range traces {
			assert.Equal(t, uint64(perTrace), n, "trace %s is whole on shard %d", id, shard+1)
			b, err := hex.DecodeString(id)
			require.NoError(t, err)
			assert.Equal(t, shard, sel.Shard(TraceKey([16]byte(b))), "trace %s", id)
		}
		for _, q := range []string{
			"SELECT ServiceName, count() FROM " + db.Name + ".red_1m_local GROUP BY ServiceName",
			"SELECT Client, count() FROM " + db.Name + ".edges_1m_local GROUP BY Client",
		} {
			keys := countBy(t, db.Cluster.Conn(t, node), q)
			require.NotEmpty(t, keys, "shard %d: %s", shard+1, q)
			for k := range keys {
				assert.Equal(t, shard, sel.Shard(StringKey(k)), "%s: %s", q, k)
			}
		}
		hashes := countBy(t, db.Cluster.Conn(t, node), "SELECT toString(SeriesHash), count() FROM "+db.Name+".series_1m_local GROUP BY SeriesHash")
		require.NotEmpty(t, hashes, "shard %d holds series", shard+1)
		for k := range hashes {
			var h uint64
			_, err := fmt.Sscan(k, &h)
			require.NoError(t, err)
			assert.Equal(t, shard, sel.Shard(h), "series %d", h)
		}
	}
	total := 0
	for i, node := range replicas(db, 1) {
		other := replicas(db, 2)[i]
		syncReplica(t, db, other, "spans_local")
		q := "SELECT hex(SpanId), count() FROM " + db.Name + ".spans_local GROUP BY SpanId"
		mine := countBy(t, db.Cluster.Conn(t, node), q)
		assert.Equal(t, mine, countBy(t, db.Cluster.Conn(t, other), q), "replicas %s and %s agree", node, other)
		total += len(mine)
	}
	assert.Equal(t, len(spans), total, "every span stored once")
	assert.Equal(t, uint64(len(spans)), db.QueryUint64(t, "", "SELECT count() FROM "+db.Name+".spans"), "the Distributed table reads them all")
}

// TestDistributed_ReplicaDownInsertsGoOn stops one replica of shard 1: inserts through the
// Distributed table go on, nothing is lost, a connection whose first endpoint is the stopped
// server fails over, and the replica catches up once it is back.
func TestDistributed_ReplicaDownInsertsGoOn(t *testing.T) {
	db := chcluster.NewExclusive(t)
	migrated(t, db, 1)
	rng := rand.New(rand.NewPCG(7, 8))
	day := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	services := []string{"a", "b", "c"}
	down := replicas(db, 2)[0]
	up := replicas(db, 1)[0]

	db.Cluster.StopNode(t, down)
	stopped := time.Now()
	failover, err := chcluster.Open(db.Cluster.Node(t, down).Addr, db.Cluster.Node(t, up).Addr)
	require.NoError(t, err)
	defer failover.Close()
	var want int
	for i := range 10 {
		spans := genSpans(rng, 50, 4, services, day)
		conn := db.Conn
		if i%2 == 1 {
			conn = failover
		}
		insertSpans(t, conn, db.Name, spans)
		want += len(spans)
	}
	assert.Equal(t, uint64(want), db.QueryUint64(t, "", "SELECT count() FROM "+db.Name+".spans"), "every row readable with %s down", down)
	onShard := db.QueryUint64(t, up, "SELECT count() FROM "+db.Name+".spans_local")
	require.NotZero(t, onShard)

	db.Cluster.StartNode(t, down)
	back := time.Now()
	syncReplica(t, db, down, "spans_local")
	assert.Equal(t, onShard, db.QueryUint64(t, down, "SELECT count() FROM "+db.Name+".spans_local"), "%s caught up", down)
	t.Logf("%s was down %s; caught up %s after it answered again", down, back.Sub(stopped).Round(time.Millisecond), time.Since(back).Round(time.Millisecond))
}
