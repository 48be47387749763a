package rollup

import (
	"context"
	"fmt"
	"os"
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
	res := Applied{Server: server, From: from, To: from}
	if from > LatestVersion() {
		return res, fmt.Errorf("database %s is at schema version %d, this binary knows up to %d: %w",
			database, from, LatestVersion(), ErrSchemaTooNew)
	}
	if target <= from {
		return res, nil
	}
	opts := Options{Database: database, Features: FeaturesFor(server)}
	if from == 0 {
		// Create the database and version table on their own first, so each migration's
		// bookkeeping row can follow its statements.
		head, err := Plan(opts, 0, 0)
		if err != nil {
			return res, err
		}
		if err := execAll(ctx, conn, head); err != nil {
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
		if err := execAll(ctx, conn, stmts); err != nil {
			return res, fmt.Errorf("migration %d (%s): %w", m.Version, m.Name, err)
		}
		if err := recordMigration(ctx, conn, database, m, binary); err != nil {
			return res, fmt.Errorf("record migration %d: %w", m.Version, err)
		}
		res.Ran = append(res.Ran, stmts...)
		res.To = m.Version
	}
	return res, nil
}

// execAll runs stmts in order and stops at the first failure: later statements may depend
// on it (the view needs its tables).
func execAll(ctx context.Context, conn driver.Conn, stmts []Statement) error {
	for _, st := range stmts {
		if g := st.UnlessColumn; g[0] != "" {
			has, err := hasColumn(ctx, conn, st.SQL, g[0], g[1])
			if err != nil {
				return fmt.Errorf("%s: %w", st.Name, err)
			}
			if has {
				continue
			}
		}
		if err := conn.Exec(ctx, st.SQL); err != nil {
			if g := st.UnlessColumn; g[0] != "" {
				// A migrator running at the same time added it between the check and here.
				if has, herr := hasColumn(ctx, conn, st.SQL, g[0], g[1]); herr == nil && has {
					continue
				}
			}
			return fmt.Errorf("%s: %w", st.Name, err)
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

// hasColumn reports whether table (in the database sql names: "ALTER TABLE db.table ...")
// has column.
func hasColumn(ctx context.Context, conn driver.Conn, sql, table, column string) (bool, error) {
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
