package rollup

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chcluster"
	"github.com/weirhq/weir/internal/chshard"
	"github.com/weirhq/weir/internal/chtest"
)

// shardedTables are the tables that are <table>_local plus a Distributed table on a
// cluster, with their sharding keys; the rest of allObjects every server holds whole.
var shardedTables = map[string]string{
	TableSpans:                       "cityHash64(TraceId)",
	TableTraceIndex:                  "cityHash64(TraceId)",
	TableMetricsGauge:                "SeriesHash",
	TableMetricsSum:                  "SeriesHash",
	TableMetricsHistogram:            "SeriesHash",
	TableMetricsExponentialHistogram: "SeriesHash",
	TableMetricsSummary:              "SeriesHash",
	TableRED1m:                       "cityHash64(ServiceName)",
	TableRED1h:                       "cityHash64(ServiceName)",
	TableRED1d:                       "cityHash64(ServiceName)",
	TableREDService1h:                "cityHash64(ServiceName)",
	TableREDService1d:                "cityHash64(ServiceName)",
	TableEdges1m:                     "cityHash64(Client)",
	TableEdges1h:                     "cityHash64(Client)",
	TableEdges1d:                     "cityHash64(Client)",
	TableSeries1m:                    "SeriesHash",
	TableSeries1h:                    "SeriesHash",
	TableSeries1d:                    "SeriesHash",
}

// rollupCluster is the test cluster as rollup sees it.
func rollupCluster(db *chcluster.DB) Cluster {
	return Cluster{Name: db.Cluster.Name, Dial: chcluster.Dial}
}

// migratedCluster is a database on the test cluster at schema version target (0: latest).
func migratedCluster(t *testing.T, target int) *chcluster.DB {
	t.Helper()
	db := chcluster.New(t)
	res, err := MigrateCluster(testContext(t), db.Conn, rollupCluster(db), db.Name, target)
	require.NoError(t, err)
	want := target
	if want == 0 {
		want = LatestVersion()
	}
	require.Equal(t, want, res.To)
	return db
}

// engines lists the tables of db's database on one server: name -> engine_full.
func engines(t *testing.T, db *chcluster.DB, node string) map[string]string {
	t.Helper()
	rows, err := db.Cluster.Conn(t, node).Query(testContext(t),
		"SELECT name, engine_full FROM system.tables WHERE database = ?", db.Name)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, engine string
		require.NoError(t, rows.Scan(&name, &engine))
		out[name] = engine
	}
	require.NoError(t, rows.Err())
	return out
}

// columns lists table's columns on one server, as "name type", in the table's order (18.16's
// system.columns has no position but lists them so).
func columns(t *testing.T, db *chcluster.DB, node, table string) []string {
	t.Helper()
	rows, err := db.Cluster.Conn(t, node).Query(testContext(t),
		"SELECT name, type FROM system.columns WHERE database = ? AND table = ?", db.Name, table)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name, typ string
		require.NoError(t, rows.Scan(&name, &typ))
		out = append(out, name+" "+typ)
	}
	require.NoError(t, rows.Err())
	return out
}

func TestMigrateCluster_TablesOnEveryServer(t *testing.T) {
	t.Parallel()
	db := migratedCluster(t, 0)
	for _, node := range db.Nodes {
		got := engines(t, db, node.Name)
		var names []string
		for name := range got {
			names = append(names, name)
		}
		var want []string
		for _, name := range allObjects {
			want = append(want, name)
			if _, ok := shardedTables[name]; ok {
				want = append(want, name+LocalSuffix)
			}
		}
		assert.ElementsMatch(t, want, names, "tables on %s", node.Name)
		for _, name := range allObjects {
			key, sharded := shardedTables[name]
			if !sharded {
				// Every server holds the whole table: one ZooKeeper path for all of them.
				assert.True(t, strings.HasPrefix(got[name], "ReplicatedMergeTree('/clickhouse/tables/all/"+db.Name+"/"+name+"', '{shard}-{replica}')"),
					"%s on %s: %s", name, node.Name, got[name])
				continue
			}
			assert.Equal(t, "Distributed("+db.Cluster.Name+", "+db.Name+", "+name+"_local, "+key+")", got[name], "%s on %s", name, node.Name)
			engine := "ReplicatedMergeTree"
			if name == TableTraceIndex {
				engine = "ReplicatedAggregatingMergeTree"
			}
			assert.True(t, strings.HasPrefix(got[name+LocalSuffix], engine+"('/clickhouse/tables/{shard}/"+db.Name+"/"+name+"_local', '{replica}')"),
				"%s_local on %s: %s", name, node.Name, got[name+LocalSuffix])
			// The Distributed table reads and writes the local one's columns, migrations included.
			local := columns(t, db, node.Name, name+LocalSuffix)
			assert.Equal(t, local, columns(t, db, node.Name, name), "columns of %s and %s_local on %s", name, name, node.Name)
		}
		assert.Contains(t, columns(t, db, node.Name, TableSpans), "InsertId UInt64", "migration 8 on %s", node.Name)

		// schema_migrations is replicated to every server: each one knows the version.
		assert.Equal(t, uint64(LatestVersion()), db.QueryUint64(t, node.Name, "SELECT toUInt64(max(Version)) FROM "+db.Name+"."+TableSchemaMigrations), node.Name)
		assert.Equal(t, uint64(len(Migrations())), db.QueryUint64(t, node.Name, "SELECT count() FROM "+db.Name+"."+TableSchemaMigrations), node.Name)
	}

	readersRun(t, db)
	traceIndexOnItsShard(t, db)

	// Running it again changes nothing.
	res, err := MigrateCluster(testContext(t), db.Conn, rollupCluster(db), db.Name, 0)
	require.NoError(t, err)
	assert.Empty(t, res.Ran)
	assert.Equal(t, LatestVersion(), res.From)
}

func TestMigrateCluster_FromPreviousVersionWithColumnOnOneShard(t *testing.T) {
	t.Parallel()
	db := migratedCluster(t, 7)
	// A migration that stopped half-way left the column on shard 1 only: the guard asks every
	// server, so the ALTER still runs for shard 2, and shard 1's "already exists" is no error.
	first := db.Nodes[0]
	require.NoError(t, db.Cluster.Conn(t, first.Name).Exec(testContext(t),
		"ALTER TABLE "+db.Name+".spans_local ADD COLUMN InsertId UInt64 DEFAULT 0"))
	res, err := MigrateCluster(testContext(t), db.Conn, rollupCluster(db), db.Name, 0)
	require.NoError(t, err)
	assert.Equal(t, 7, res.From)
	assert.Equal(t, LatestVersion(), res.To)
	for _, node := range db.Nodes {
		for name := range shardedTables {
			if !strings.HasSuffix(name, "_1h") && !strings.HasSuffix(name, "_1d") && name != TableTraceIndex {
				assert.Contains(t, columns(t, db, node.Name, name+LocalSuffix), "InsertId UInt64", "%s_local on %s", name, node.Name)
				assert.Contains(t, columns(t, db, node.Name, name), "InsertId UInt64", "%s on %s", name, node.Name)
			}
		}
	}
}

// A server that is down would make every ON CLUSTER statement wait
// distributed_ddl_task_timeout (180 s) for it: the migration refuses to start instead, within
// SessionWait, naming the server, and creates nothing.
func TestMigrateCluster_RefusesWhileAServerIsDown(t *testing.T) {
	db := chcluster.NewExclusive(t)
	down := db.Nodes[len(db.Nodes)-1]
	db.Cluster.StopNode(t, down.Name)
	c := rollupCluster(db)
	c.SessionWait = 2 * time.Second
	start := time.Now()
	_, err := MigrateCluster(testContext(t), db.Conn, c, db.Name, 0)
	require.Error(t, err)
	assert.ErrorContains(t, err, "server "+down.Addr+" has no ZooKeeper session")
	assert.Less(t, time.Since(start), 30*time.Second)
	assert.Zero(t, db.QueryUint64(t, db.Nodes[0].Name, "SELECT count() FROM system.tables WHERE database = ?", db.Name))
	db.Cluster.StartNode(t, down.Name)
}

func TestMigrateCluster_RefusesUnknownCluster(t *testing.T) {
	t.Parallel()
	db := chcluster.New(t)
	c := rollupCluster(db)
	c.Name = "no_such_cluster"
	_, err := MigrateCluster(testContext(t), db.Conn, c, db.Name, 0)
	assert.ErrorContains(t, err, "no_such_cluster is not in system.clusters")

	c = rollupCluster(db)
	c.Servers = db.Cluster.Name // has replicas: not one server per shard
	_, err = MigrateCluster(testContext(t), db.Conn, c, db.Name, 0)
	assert.ErrorContains(t, err, "must differ")

	c = rollupCluster(db)
	c.Servers = "no_such_cluster"
	_, err = MigrateCluster(testContext(t), db.Conn, c, db.Name, 0)
	assert.ErrorContains(t, err, "lists servers")
}

// traceIndexOnItsShard writes trace_index rows through TraceIndexWriter (an INSERT ...
// SELECT from external data into the Distributed table) and finds each trace's row on the
// shard its spans go to, read back whole through the Distributed table.
func traceIndexOnItsShard(t *testing.T, db *chcluster.DB) {
	t.Helper()
	day := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	b := NewTraceIndexBlock(time.UTC)
	var ids [][16]byte
	for i := range 40 {
		id := [16]byte{byte(i), 0xab, byte(i * 7)}
		ids = append(ids, id)
		b.Add(id, uint64(day.UnixNano()), uint64(day.Add(time.Second).UnixNano()), "checkout")
		b.Add(id, uint64(day.UnixNano()), uint64(day.Add(2*time.Second).UnixNano()), "cart")
	}
	w, err := NewTraceIndexWriter(db.Conn, db.Name)
	require.NoError(t, err)
	require.NoError(t, w.Write(testContext(t), b))
	top, err := ReadTopology(testContext(t), db.Conn, rollupCluster(db))
	require.NoError(t, err)
	var weights []int
	for _, sh := range top.Shards {
		weights = append(weights, sh.Weight)
	}
	sel, err := chshard.NewSelector(weights)
	require.NoError(t, err)
	asOne := &chtest.DB{Conn: db.Conn, Name: db.Name}
	for _, id := range ids {
		row, ok := readTraceIndex(t, asOne, id)
		require.True(t, ok, "trace %x indexed", id)
		assert.Equal(t, uint64(2), row.count)
		assert.Equal(t, []string{"cart", "checkout"}, row.services)
		replica := top.Shards[sel.Shard(chshard.TraceKey(id))].Replicas[0]
		for _, n := range db.Nodes {
			if n.Addr == replica {
				assert.Equal(t, uint64(1), db.QueryUint64(t, n.Name, fmt.Sprintf(
					"SELECT count() FROM %s.trace_index_local WHERE TraceId = unhex('%x')", db.Name, id)), "trace %x on %s", id, n.Name)
			}
		}
	}
}

// readersRun calls every reader the analyzer uses against the cluster's tables. The test
// cluster keeps distributed_product_mode at the server's default, deny: a reader whose IN
// or JOIN read a Distributed table inside a query on another would fail (code 288). (The
// driver cannot send string settings to 18.16, so weir could not set it per query.)
func readersRun(t *testing.T, db *chcluster.DB) {
	t.Helper()
	ctx := testContext(t)
	from, to := seedFrom, seedTo
	conn, name := db.Conn, db.Name
	check := func(what string, err error) {
		t.Helper()
		assert.NoError(t, err, what)
	}
	_, err := CallGroups(ctx, conn, name, CallGroupQuery{From: from, To: to, MinCalls: 3, MinFailing: 3})
	check("CallGroups", err)
	_, err = ChildCounts(ctx, conn, name, ChildCountQuery{From: from, To: to, MinChildren: 3, MinClientChildren: 2})
	check("ChildCounts", err)
	_, err = TracesWithOperation(ctx, conn, name, from, to, []Operation{{Service: "a", Name: "b"}})
	check("TracesWithOperation", err)
	_, err = ResentCallsByOperation(ctx, conn, name, from, to, 1)
	check("ResentCallsByOperation", err)
	_, err = CountRequests(ctx, conn, name, from, to)
	check("CountRequests", err)
	_, err = CountSpans(ctx, conn, name, from, to)
	check("CountSpans", err)
	_, err = TelemetryByService(ctx, conn, name, from, to)
	check("TelemetryByService", err)
	_, err = SeriesCounts(ctx, conn, name, from, to)
	check("SeriesCounts", err)
	_, err = SpendByResource(ctx, conn, name, "EffectiveCost", from, to)
	check("SpendByResource", err)
	_, err = AllocationByController(ctx, conn, name, from, to)
	check("AllocationByController", err)
	_, err = CallsToNode(ctx, conn, name, "postgres", from, to)
	check("CallsToNode", err)
	_, err = RequestsByService(ctx, conn, name, []string{"a"}, from, to)
	check("RequestsByService", err)
	for _, sig := range []Signal{SignalRED, SignalEdges} {
		_, err = (&Querier{Conn: conn, Database: name}).Query(ctx, Query{Signal: sig, From: from, To: to, Step: time.Hour})
		check("Querier "+sig.String(), err)
	}
}

// dumpRows runs query on conn and prints every row with fmt, sorted: what two databases
// must agree on, row for row.
func dumpRows(t *testing.T, conn driver.Conn, query string) []string {
	t.Helper()
	rows, err := conn.Query(testContext(t), query)
	require.NoError(t, err, query)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var dest []any
		for _, c := range rows.ColumnTypes() {
			dest = append(dest, reflect.New(c.ScanType()).Interface())
		}
		require.NoError(t, rows.Scan(dest...))
		var b strings.Builder
		for _, d := range dest {
			v := reflect.ValueOf(d).Elem().Interface()
			if tm, ok := v.(time.Time); ok {
				v = tm.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(&b, "%v|", v)
		}
		out = append(out, b.String())
	}
	require.NoError(t, rows.Err())
	slices.Sort(out)
	return out
}

// clusterRedSeries has enough services that both shards get some.
var clusterRedSeries = func() [][]any {
	var out [][]any
	for _, svc := range []string{"checkout", "cart", "frontend", "payment", "shipping", "search", "ads", "auth"} {
		out = append(out,
			[]any{svc, "GET /" + svc, uint8(2), uint8(0), []string{"region"}, []string{"eu"}},
			[]any{svc, "GET /" + svc, uint8(2), uint8(2), []string{}, []string{}})
	}
	return out
}()

var clusterEdgeSeries = func() [][]any {
	var out [][]any
	for _, c := range []string{"frontend", "checkout", "cart", "payment", "api", "worker"} {
		out = append(out, []any{c, "postgres", "database", uint8(0)}, []any{c, "cache", "", uint8(1)})
	}
	return out
}()

// seriesRows writes count points per series and minute of series_1m in [from, to).
func insertSeries(t *testing.T, conn driver.Conn, database string, from, to time.Time) {
	t.Helper()
	batch, err := conn.PrepareBatch(testContext(t), "INSERT INTO "+database+"."+TableSeries1m+
		" (Timestamp, ServiceName, MetricName, MetricType, SeriesHash, Count, Sum, Min, Max, Last, LastTimeUnixNano, BucketBounds, BucketCounts)")
	require.NoError(t, err)
	for m := from; m.Before(to); m = m.Add(time.Minute) {
		for h := uint64(1); h <= 12; h++ {
			v := float64(m.Unix()%97) + float64(h)
			require.NoError(t, batch.Append(m.Add(time.Duration(h)*time.Second), "svc", "queue.depth", uint8(1),
				h*0x9E3779B97F4A7C15, uint64(2), 2*v, v-1, v+1, v, uint64(m.Add(time.Duration(h)*time.Second).UnixNano()),
				[]float64{1, 10, math.Inf(1)}, []uint64{h % 3, 1, 0}))
		}
	}
	require.NoError(t, batch.Send())
}

// TestCluster_RollupAndRetentionMatchOneServer feeds the same one-minute rows to one server
// and to the cluster (through the Distributed tables), runs the rollup job and retention on
// both, and compares every tier row for row. On the cluster each shard's hourly and daily
// rows stay on the shard of their source rows, and replicas agree.
func TestCluster_RollupAndRetentionMatchOneServer(t *testing.T) {
	t.Parallel()
	single := chtest.New(t)
	ctx := testContext(t)
	_, err := Migrate(ctx, single.Conn, single.Name, 0)
	require.NoError(t, err)
	cdb := migratedCluster(t, 0)
	cluster := &chtest.DB{Conn: cdb.Conn, Name: cdb.Name} // the Distributed tables, as one server's

	rng := rand.New(rand.NewPCG(3, 4))
	red := genRows(rng, clusterRedSeries, seedFrom, seedTo)
	edges := genRows(rng, clusterEdgeSeries, seedFrom, seedTo)
	for _, db := range []*chtest.DB{single, cluster} {
		half := len(red) / 2
		insertRows(t, db, TableRED1m, redFamily, red[:half])
		insertRows(t, db, TableRED1m, redFamily, red[half:])
		insertRows(t, db, TableEdges1m, edgeFamily, edges)
		insertSeries(t, db.Conn, db.Name, seedFrom, seedTo)
	}

	now := func() time.Time { return seedNow }
	oneRep, err := (&Job{Conn: single.Conn, Database: single.Name, Now: now}).Run(ctx, seedFrom, seedTo)
	require.NoError(t, err)
	rc := rollupCluster(cdb)
	clusterRep, err := (&Job{Conn: cdb.Conn, Database: cdb.Name, Cluster: &rc, Now: now}).Run(ctx, seedFrom, seedTo)
	require.NoError(t, err)
	require.NotEmpty(t, oneRep.Partitions)

	// The same partitions are rebuilt, on each shard that has rows for them.
	shards := map[int]bool{}
	perTable := map[string]bool{}
	for _, p := range clusterRep.Partitions {
		shards[p.Shard] = true
		perTable[p.Table+"/"+p.PartitionID] = true
	}
	assert.Equal(t, map[int]bool{1: true, 2: true}, shards, "both shards rolled up")
	var want []string
	for _, p := range oneRep.Partitions {
		assert.Zero(t, p.Shard)
		want = append(want, p.Table+"/"+p.PartitionID)
	}
	assert.ElementsMatch(t, want, slices.Collect(maps.Keys(perTable)))

	// compare checks that every tier agrees, and that the tiers in nonEmpty have rows.
	compare := func(when string, nonEmpty ...string) {
		t.Helper()
		for _, tc := range []struct {
			table string
			cols  []string
		}{
			{TableRED1h, redFamily.columns()}, {TableRED1d, redFamily.columns()},
			{TableEdges1h, edgeFamily.columns()}, {TableEdges1d, edgeFamily.columns()},
			{TableSeries1h, seriesFamily.columns()}, {TableSeries1d, seriesFamily.columns()},
			{TableRED1m, redFamily.columns()},
		} {
			q := func(db string) string {
				return "SELECT " + strings.Join(tc.cols, ", ") + " FROM " + db + "." + tc.table
			}
			one := dumpRows(t, single.Conn, q(single.Name))
			assert.Equal(t, one, dumpRows(t, cdb.Conn, q(cdb.Name)), "%s %s", when, tc.table)
			if slices.Contains(nonEmpty, tc.table) {
				assert.NotEmpty(t, one, "%s %s", when, tc.table)
			}
		}
	}
	compare("after the rollup", TableRED1h, TableRED1d, TableEdges1h, TableEdges1d, TableSeries1h, TableSeries1d, TableRED1m)
	sameQueries(t, single, cdb, "after the rollup")

	// Rows of a service sit on one shard in every RED tier, and replicas hold the same rows.
	cdb.SyncReplicas(t, TableRED1m+LocalSuffix, TableRED1h+LocalSuffix, TableRED1d+LocalSuffix)
	for _, shard := range [][2]string{{"n1", "n2"}, {"n3", "n4"}} {
		svc := func(node, table string) []string {
			return dumpRows(t, cdb.Cluster.Conn(t, node), "SELECT DISTINCT ServiceName FROM "+cdb.Name+"."+table+LocalSuffix)
		}
		assert.NotEmpty(t, svc(shard[0], TableRED1m))
		assert.Equal(t, svc(shard[0], TableRED1m), svc(shard[0], TableRED1h), "shard of %s", shard[0])
		assert.Equal(t, svc(shard[0], TableRED1m), svc(shard[0], TableRED1d), "shard of %s", shard[0])
		for _, table := range []string{TableRED1h, TableRED1d} {
			q := "SELECT " + strings.Join(redFamily.columns(), ", ") + " FROM " + cdb.Name + "." + table + LocalSuffix
			assert.Equal(t, dumpRows(t, cdb.Cluster.Conn(t, shard[0]), q), dumpRows(t, cdb.Cluster.Conn(t, shard[1]), q),
				"%s on %s and %s", table, shard[0], shard[1])
		}
	}

	// Retention 40 days later with 1m tiers kept 30 days and 1h tiers 35: every 1m and 1h
	// partition goes, on both shards; the daily rows stay.
	policy := Retention{TableRED1m: 30 * day, TableEdges1m: 30 * day, TableSeries1m: 30 * day,
		TableRED1h: 35 * day, TableEdges1h: 35 * day, TableSeries1h: 35 * day}
	later := seedNow.Add(40 * day)
	oneDropped, err := ApplyRetention(ctx, single.Conn, single.Name, policy, later)
	require.NoError(t, err)
	clusterDropped, err := ApplyRetentionCluster(ctx, cdb.Conn, rc, cdb.Name, policy, later)
	require.NoError(t, err)
	require.NotEmpty(t, oneDropped)
	shards = map[int]bool{}
	perTable = map[string]bool{}
	for _, p := range clusterDropped {
		shards[p.Shard] = true
		perTable[p.Table+"/"+p.PartitionID] = true
	}
	assert.Equal(t, map[int]bool{1: true, 2: true}, shards, "both shards dropped")
	assert.ElementsMatch(t, droppedIDs(oneDropped), slices.Sorted(maps.Keys(perTable)))
	compare("after retention", TableRED1d, TableEdges1d, TableSeries1d)
	// Only the daily tiers hold rows now: a reader that did not find them on the cluster
	// would read the empty one-minute tiers.
	sameQueries(t, single, cdb, "after retention")
	for _, node := range cdb.Nodes {
		for _, table := range []string{TableRED1m, TableRED1h, TableEdges1m, TableSeries1h} {
			// Replication drops them on the other replica of each shard too.
			assert.Zero(t, cdb.QueryUint64(t, node.Name, "SELECT count() FROM "+cdb.Name+"."+table+LocalSuffix), "%s on %s", table, node.Name)
		}
	}

	// One shard loses its daily per-service rows of February (a rollup that has not reached it
	// yet, a partition dropped there alone); its hourly per-service rows are still there (the
	// retention above kept red_service_1h). A plan made from all shards' parts together would
	// read February from the daily tier on both shards and miss that shard's rows; planned by
	// each shard on its own parts, panels and Querier still return everything.
	q := Query{Signal: SignalRED, From: seedFrom.Add(-24 * time.Hour), To: seedTo.Add(24 * time.Hour), Step: 24 * time.Hour,
		GroupBy: []string{GroupService}}
	before, err := (&Querier{Conn: cdb.Conn, Database: cdb.Name}).Query(ctx, q)
	require.NoError(t, err)
	require.NotEmpty(t, before.Rows)
	require.NoError(t, cdb.Conn.Exec(ctx, "ALTER TABLE "+cdb.Name+"."+TableREDService1d+LocalSuffix+" DROP PARTITION 202402"))
	after, err := (&Querier{Conn: cdb.Conn, Database: cdb.Name}).Query(ctx, q)
	require.NoError(t, err)
	assert.Equal(t, rowMap(before.Rows), rowMap(after.Rows), "Querier, one shard without its daily rows")
	sql, err := PanelSQL(panelQueryOf(q), panelAt(cdb.Name, q.From, q.To, q.Step))
	require.NoError(t, err)
	rows, err := (&Querier{Conn: cdb.Conn, Database: cdb.Name}).Rows(ctx, QueryPlan{Query: q, SQL: sql})
	require.NoError(t, err)
	assert.Equal(t, rowMap(before.Rows), rowMap(rows), "PanelSQL, one shard without its daily rows")
}

// sameQueries runs tier-aware queries through rollup.Querier on one server and on the
// cluster and requires the same rows, and rows at all for the daily ones.
func sameQueries(t *testing.T, single *chtest.DB, cdb *chcluster.DB, when string) {
	t.Helper()
	for _, q := range []Query{
		{Signal: SignalRED, From: seedFrom.Add(-24 * time.Hour), To: seedTo.Add(24 * time.Hour), Step: 24 * time.Hour},
		{Signal: SignalEdges, From: seedFrom.Add(-24 * time.Hour), To: seedTo.Add(24 * time.Hour), Step: 24 * time.Hour},
		{Signal: SignalRED, From: seedFrom, To: seedTo, Step: time.Hour, ServiceNames: []string{"checkout", "ads"}},
	} {
		one, err := (&Querier{Conn: single.Conn, Database: single.Name}).Query(testContext(t), q)
		require.NoError(t, err)
		got, err := (&Querier{Conn: cdb.Conn, Database: cdb.Name}).Query(testContext(t), q)
		require.NoError(t, err)
		if q.Step == 24*time.Hour {
			require.NotEmpty(t, one.Rows, "%s: %v", when, q)
		}
		assert.Equal(t, one.Plan.String(), got.Plan.String(), "%s: the same tiers are read", when)
		sortRows := func(rows []Row) []string {
			var out []string
			for _, r := range rows {
				out = append(out, fmt.Sprintf("%v", r))
			}
			slices.Sort(out)
			return out
		}
		assert.Equal(t, sortRows(one.Rows), sortRows(got.Rows), "%s: %v", when, q)

		// A dashboard panel's SQL picks the same tiers on the server and returns the same rows:
		// on the cluster, each shard plans on its own parts.
		for _, db := range []struct {
			name string
			conn driver.Conn
			db   string
			want []Row
		}{{"one server", single.Conn, single.Name, one.Rows}, {"cluster", cdb.Conn, cdb.Name, got.Rows}} {
			sql, err := PanelSQL(panelQueryOf(q), panelAt(db.db, q.From, q.To, q.Step))
			require.NoError(t, err)
			rows, err := (&Querier{Conn: db.conn, Database: db.db}).Rows(testContext(t), QueryPlan{Query: q, SQL: sql})
			require.NoError(t, err)
			assert.Equal(t, sortRows(db.want), sortRows(rows), "%s: PanelSQL on %s: %v", when, db.name, q)
		}
	}
}
