package rollup

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Applied is the outcome of Migrate.
type Applied struct {
	Server Version // the server's version
	From   int     // schema version found before
	To     int     // schema version after
	Ran    []Statement
}

// CurrentVersion reads the schema version of database: 0 when weir never ran there.
func CurrentVersion(ctx context.Context, conn driver.Conn, database string) (int, error) {
	if err := ValidateDatabase(database); err != nil {
		return 0, err
	}
	var n uint64
	err := conn.QueryRow(ctx,
		"SELECT count() FROM system.tables WHERE database = ? AND name = ?",
		database, TableSchemaMigrations).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("look for %s.%s: %w", database, TableSchemaMigrations, err)
	}
	if n == 0 {
		return 0, nil
	}
	var v uint32
	if err := conn.QueryRow(ctx, "SELECT max(Version) FROM "+database+"."+TableSchemaMigrations).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version of %s: %w", database, err)
	}
	return int(v), nil
}

// Migrate brings database up to version target (LatestVersion when target is 0), detecting
// the server's features. It is safe to run again and from several processes at once: every
// statement is idempotent and the version table only ever grows (migrators that race may
// each record the same version; the schema version is the highest one). A database at a
// newer version than this binary knows, or a target beyond it, is refused with
// ErrSchemaTooNew.
func Migrate(ctx context.Context, conn driver.Conn, database string, target int) (Applied, error) {
	return migrate(ctx, conn, database, target, nil)
}

// MigrateCluster is Migrate for a database on cluster c, through conn to any of its servers.
// Every statement runs ON CLUSTER (SCHEMA.md, "On a cluster"). Before the first one it
// waits until every server of c answers and has its ZooKeeper session, and fails naming the
// server that does not: ON CLUSTER DDL would otherwise wait distributed_ddl_task_timeout for
// it. The schema version is the lowest any server has, so a server added to the cluster
// gets every table (each statement is idempotent, and an ALTER runs only while some server
// lacks its column).
func MigrateCluster(ctx context.Context, conn driver.Conn, c Cluster, database string, target int) (Applied, error) {
	if err := c.validate(); err != nil {
		return Applied{}, err
	}
	if err := ValidateDatabase(database); err != nil {
		return Applied{}, err
	}
	top, err := ReadTopology(ctx, conn, c)
	if err != nil {
		return Applied{}, err
	}
	conns, err := waitSessions(ctx, c, top.Servers)
	if err != nil {
		return Applied{}, err
	}
	defer closeAll(conns)
	return migrate(ctx, conn, database, target, &clusterRun{c: c, top: top, conns: conns})
}

// clusterRun is what a migration on a cluster needs besides the connection it runs DDL on.
type clusterRun struct {
	c     Cluster
	top   Topology
	conns []driver.Conn // one per server, in top.Servers order
}

// version is the lowest schema version of database on any server.
func (cr *clusterRun) version(ctx context.Context, database string) (int, error) {
	lowest := -1
	for i, conn := range cr.conns {
		v, err := CurrentVersion(ctx, conn, database)
		if err != nil {
			return 0, fmt.Errorf("server %s: %w", cr.top.Servers[i], err)
		}
		if lowest < 0 || v < lowest {
			lowest = v
		}
	}
	return lowest, nil
}

func migrate(ctx context.Context, conn driver.Conn, database string, target int, cr *clusterRun) (Applied, error) {
	if target == 0 {
		target = LatestVersion()
	}
	if target < 0 {
		return Applied{}, fmt.Errorf("migrate %s to schema version %d: versions start at 1", database, target)
	}
	if target > LatestVersion() {
		return Applied{}, fmt.Errorf("migrate %s to schema version %d: this binary knows up to %d: %w",
			database, target, LatestVersion(), ErrSchemaTooNew)
	}
	server, err := DetectVersion(ctx, conn)
	if err != nil {
		return Applied{}, err
	}
	from, err := CurrentVersion(ctx, conn, database)
	if err != nil {
		return Applied{}, err
	}
	opts := Options{Database: database, Features: FeaturesFor(server)}
	if cr != nil {
		// A newer weir on any server is refused below, from the server conn reached.
		if lowest, err := cr.version(ctx, database); err != nil {
			return Applied{}, err
		} else if lowest < from {
			from = lowest
		}
		opts.Cluster, opts.ServersCluster = cr.c.Name, cr.c.servers()
	}
	res := Applied{Server: server, From: from, To: from}
	if from > LatestVersion() {
		return res, fmt.Errorf("database %s is at schema version %d, this binary knows up to %d: %w",
			database, from, LatestVersion(), ErrSchemaTooNew)
	}
	if target <= from {
		return res, nil
	}
	if from == 0 {
		// Create the database and version table on their own first, so each migration's
		// bookkeeping row can follow its statements.
		head, err := Plan(opts, 0, 0)
		if err != nil {
			return res, err
		}
		if err := execAll(ctx, conn, head, cr); err != nil {
			return res, err
		}
		res.Ran = append(res.Ran, head...)
	}
	binary, _ := os.Executable()
	for _, m := range migrations {
		if m.Version <= from || m.Version > target {
			continue
		}
		stmts, err := Plan(opts, m.Version-1, m.Version)
		if err != nil {
			return res, err
		}
		if err := execAll(ctx, conn, stmts, cr); err != nil {
			return res, fmt.Errorf("migration %d (%s): %w", m.Version, m.Name, err)
		}
		if err := recordMigration(ctx, conn, database, m, binary); err != nil {
			return res, fmt.Errorf("record migration %d: %w", m.Version, err)
		}
		res.Ran = append(res.Ran, stmts...)
		res.To = m.Version
	}
	if cr != nil && res.To != from {
		if err := cr.syncVersions(ctx, database); err != nil {
			return res, err
		}
	}
	return res, nil
}

// syncVersions waits until every server has fetched the version rows: the rows went to one
// server, and a writer or the rollup schedule on another checks the version before it runs.
func (cr *clusterRun) syncVersions(ctx context.Context, database string) error {
	for i, conn := range cr.conns {
		if err := conn.Exec(ctx, "SYSTEM SYNC REPLICA "+database+"."+TableSchemaMigrations); err != nil {
			return fmt.Errorf("server %s: wait for the schema version to replicate: %w", cr.top.Servers[i], err)
		}
	}
	return nil
}

// execAll runs stmts in order and stops at the first failure: later statements may depend
// on it (the view needs its tables). A guarded statement runs only while its column is
// missing. On a cluster (cr not nil) an EachShard statement runs on one replica of every
// shard, with its guard asked there; another guard asks every server.
func execAll(ctx context.Context, conn driver.Conn, stmts []Statement, cr *clusterRun) error {
	for _, st := range stmts {
		if cr != nil && st.EachShard {
			if err := cr.execEachShard(ctx, st); err != nil {
				return fmt.Errorf("%s: %w", st.Name, err)
			}
			continue
		}
		has := func() (bool, error) {
			if cr != nil {
				return cr.everyServerHas(ctx, st.SQL, st.UnlessColumn)
			}
			return hasColumn(ctx, conn, st.SQL, st.UnlessColumn)
		}
		if err := execGuarded(ctx, conn, st, has); err != nil {
			return fmt.Errorf("%s: %w", st.Name, err)
		}
	}
	return nil
}

// execGuarded runs st on conn unless its guard says the column is there already.
func execGuarded(ctx context.Context, conn driver.Conn, st Statement, has func() (bool, error)) error {
	guarded := st.UnlessColumn[0] != ""
	if guarded {
		ok, err := has()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	err := conn.Exec(ctx, st.SQL)
	if err != nil && guarded {
		// A migrator running at the same time added it between the check and here; on a
		// cluster, some servers had it already and said so.
		if ok, herr := has(); herr == nil && ok {
			return nil
		}
	}
	return err
}

// execEachShard runs st on the first replica of each shard that takes it.
func (cr *clusterRun) execEachShard(ctx context.Context, st Statement) error {
	for _, sh := range cr.top.Shards {
		var err error
		for _, addr := range sh.Replicas {
			conn := cr.conn(addr)
			err = execGuarded(ctx, conn, st, func() (bool, error) { return hasColumn(ctx, conn, st.SQL, st.UnlessColumn) })
			if err == nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("shard %d: %w", sh.Num, err)
		}
	}
	return nil
}

// recordMigration appends m's row to the version table. It goes as a one-row block:
// 18.16 waits forever for data after an INSERT ... VALUES sent with bound parameters.
func recordMigration(ctx context.Context, conn driver.Conn, database string, m Migration, binary string) error {
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+database+"."+TableSchemaMigrations+
		" (Version, Name, AppliedAt, Binary)")
	if err != nil {
		return err
	}
	if err := batch.Append(uint32(m.Version), m.Name, time.Now().UTC().Truncate(time.Second), binary); err != nil {
		_ = batch.Abort()
		return err
	}
	return batch.Send()
}

// conn is the connection to the server at addr.
func (cr *clusterRun) conn(addr string) driver.Conn {
	return cr.conns[slices.Index(cr.top.Servers, addr)]
}

// everyServerHas reports whether every server has the column of guard g (in the database
// sql names).
func (cr *clusterRun) everyServerHas(ctx context.Context, sql string, g [2]string) (bool, error) {
	for i, conn := range cr.conns {
		has, err := hasColumn(ctx, conn, sql, g)
		if err != nil {
			return false, fmt.Errorf("server %s: %w", cr.top.Servers[i], err)
		}
		if !has {
			return false, nil
		}
	}
	return true, nil
}

// hasColumn reports whether the table of guard g (in the database sql names: "ALTER TABLE
// db.table ...") has its column. An unguarded statement has nothing to check: false.
func hasColumn(ctx context.Context, conn driver.Conn, sql string, g [2]string) (bool, error) {
	table, column := g[0], g[1]
	if table == "" {
		return false, nil
	}
	db := databaseOf(sql)
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?",
		db, table, column).Scan(&n); err != nil {
		return false, fmt.Errorf("look for column %s.%s.%s: %w", db, table, column, err)
	}
	return n > 0, nil
}

// databaseOf is the database of the first "db.table" name after ALTER TABLE in sql.
func databaseOf(sql string) string {
	_, rest, ok := strings.Cut(sql, "ALTER TABLE ")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
	db, _, _ := strings.Cut(name, ".")
	return db
}
