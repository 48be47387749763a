package rollup

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chcluster"
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

	// Running it again changes nothing.
	res, err := MigrateCluster(testContext(t), db.Conn, rollupCluster(db), db.Name, 0)
	require.NoError(t, err)
	assert.Empty(t, res.Ran)
	assert.Equal(t, LatestVersion(), res.From)
}

func TestMigrateCluster_FromPreviousVersionWithColumnOnOneShard(t *testing.T) {
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

func TestMigrateCluster_RefusesUnknownCluster(t *testing.T) {
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

// keep the imports used while the file grows.
var _ = []any{fmt.Sprint, slices.Sorted[string], time.Second, context.Background}
