package rollup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The staging engine: an import (of spend, allocations, or a report's week) fills a staging
// table of its own, then swaps the partitions it touches into the target table. The rows
// of a partition that the import does not replace are copied over first, so they survive.

// stagedTable describes how an import replaces part of a table.
type stagedTable struct {
	table   string
	columns []string
	// partition is the table's PARTITION BY tuple without its parentheses, as in its .sql
	// file.
	partition string
	// scope is the tuple of columns an import replaces as a whole: every stored row whose
	// scope an import has rows for is replaced by the import's rows.
	scope string
}

// stagedImport is one import's staging table: rows go there, and Commit swaps the
// partitions they touch into the target table.
type stagedImport struct {
	conn     driver.Conn
	db       string
	t        stagedTable
	id       string
	staging  string // qualified
	rows     uint64 // rows sent
	finished bool

	// The INSERT being filled: blocks are appended to it (the driver copies them) until it
	// holds importBatchBytes or is importBatchAge old, so that an import makes few, large
	// parts while its own blocks stay small.
	batch       driver.Batch
	batchRows   int
	batchBytes  int
	batchOpened time.Time
}

// Bounds of one INSERT into a staging table: its bytes are held in the driver until sent
// (about three times over while it is encoded), and the server waits for the rest of an
// open INSERT only so long. 4 MiB keeps an import within some tens of MiB of heap and
// makes a 1 GB export about 250 parts, which the staging table merges as they come.
const (
	importBatchBytes = 4 << 20
	importBatchAge   = 10 * time.Second
)

func newStagedImport(ctx context.Context, conn driver.Conn, database string, t stagedTable) (*stagedImport, error) {
	if err := ValidateDatabase(database); err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, errors.New("import: no ClickHouse connection")
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:]) // never fails
	id := hex.EncodeToString(rnd[:])
	s := &stagedImport{conn: conn, db: database, t: t, id: id,
		staging: database + "." + t.table + "_import_" + id}
	if err := createStaging(ctx, conn, s.staging, database, t.table); err != nil {
		return nil, err
	}
	return s, nil
}

// send appends one block's columns to the open INSERT, and sends it when it is large or
// old enough. On error the import must be aborted: the open INSERT's rows are lost.
func (s *stagedImport) send(ctx context.Context, rows, bytes int, cols []any) error {
	if s.finished {
		return errors.New("import: write after commit or abort")
	}
	if rows == 0 {
		return nil
	}
	if s.batch == nil {
		batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.staging+" ("+strings.Join(s.t.columns, ", ")+")")
		if err != nil {
			return fmt.Errorf("insert into %s: %w", s.staging, err)
		}
		s.batch, s.batchOpened = batch, time.Now()
	}
	for i, c := range cols {
		if err := s.batch.Column(i).Append(c); err != nil {
			s.abortBatch()
			return fmt.Errorf("insert into %s: column %s: %w", s.staging, s.t.columns[i], err)
		}
	}
	s.batchRows += rows
	s.batchBytes += bytes
	if s.batchBytes >= importBatchBytes || time.Since(s.batchOpened) >= importBatchAge {
		return s.sendBatch()
	}
	return nil
}

// sendBatch sends the open INSERT, if any.
func (s *stagedImport) sendBatch() error {
	if s.batch == nil {
		return nil
	}
	err := s.batch.Send()
	rows := s.batchRows
	s.batch, s.batchRows, s.batchBytes = nil, 0, 0
	if err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", rows, s.staging, err)
	}
	s.rows += uint64(rows)
	return nil
}

func (s *stagedImport) abortBatch() {
	if s.batch != nil {
		_ = s.batch.Abort()
	}
	s.batch, s.batchRows, s.batchBytes = nil, 0, 0
}

// commit replaces, in the target table, every scope the staged rows have with those rows.
// summarize runs first, while the staging table holds only this import's rows. It returns
// the IDs of the partitions it replaced.
func (s *stagedImport) commit(ctx context.Context, summarize func(ctx context.Context) error) ([]string, error) {
	if s.finished {
		return nil, errors.New("import: commit after commit or abort")
	}
	defer s.drop()
	if err := s.sendBatch(); err != nil {
		return nil, err
	}
	if s.rows == 0 {
		return nil, nil
	}
	if err := summarize(ctx); err != nil {
		return nil, err
	}
	target := s.db + "." + s.t.table
	cols := strings.Join(s.t.columns, ", ")
	// REPLACE PARTITION swaps whole partitions, and a partition can hold scopes this import
	// does not have (another billing period of the month, or another account whose hash
	// collides): copy those over first so they survive the swap.
	keep := "INSERT INTO " + s.staging + " (" + cols + ")\n" +
		"SELECT " + cols + " FROM " + target + "\n" +
		"WHERE (" + s.t.partition + ") IN (SELECT DISTINCT " + s.t.partition + " FROM " + s.staging + ")\n" +
		"  AND (" + s.t.scope + ") NOT IN (SELECT DISTINCT " + s.t.scope + " FROM " + s.staging + ")"
	if err := s.conn.Exec(ctx, keep); err != nil {
		return nil, fmt.Errorf("keep other rows of %s: %w", target, err)
	}
	ids, err := s.partitions(ctx)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		// Each swap is atomic: readers see the old partition or the new one.
		if err := s.conn.Exec(ctx, "ALTER TABLE "+target+" REPLACE PARTITION ID '"+id+"' FROM "+s.staging); err != nil {
			return ids[:i], fmt.Errorf("replace partition %s of %s: %w", id, target, err)
		}
	}
	return ids, nil
}

// partitions lists the staging table's partition IDs, sorted.
func (s *stagedImport) partitions(ctx context.Context) ([]string, error) {
	name := s.staging[len(s.db)+1:]
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT partition_id FROM system.parts WHERE database = ? AND table = ? AND active ORDER BY partition_id",
		s.db, name)
	if err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", s.staging, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list partitions of %s: %w", s.staging, err)
		}
		// IDs come from the server; they are digits and a dash, but never trust them into SQL.
		if strings.Trim(id, "0123456789-") != "" {
			return nil, fmt.Errorf("list partitions of %s: unexpected partition ID %q", s.staging, id)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// abort drops the staging table: the target is left as it was.
func (s *stagedImport) abort(ctx context.Context) error {
	if s.finished {
		return nil
	}
	s.finished = true
	s.abortBatch()
	if err := s.conn.Exec(ctx, "DROP TABLE IF EXISTS "+s.staging); err != nil {
		return fmt.Errorf("drop staging table %s: %w", s.staging, err)
	}
	return nil
}

// drop removes the staging table after a commit, on a context of its own so that a
// canceled import still cleans up.
func (s *stagedImport) drop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = s.abort(ctx)
}

// utcDay is the UTC midnight of t's day, which the driver stores as that Date.
func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// createStaging creates staging (qualified) with the structure, partition key and sort key
// of db.table, as a plain table of the same family: REPLACE PARTITION needs all three to
// match. The engine is spelled out because CREATE TABLE ... AS a replicated table would copy
// its ZooKeeper path and fail ("replica already exists"); a staging table belongs to one
// server, and REPLACE PARTITION into a replicated table replicates the result.
func createStaging(ctx context.Context, conn driver.Conn, staging, db, table string) error {
	var engine, engineFull, partitionKey, sortingKey string
	if err := conn.QueryRow(ctx, "SELECT engine, engine_full, partition_key, sorting_key FROM system.tables WHERE database = ? AND name = ?",
		db, table).Scan(&engine, &engineFull, &partitionKey, &sortingKey); err != nil {
		return fmt.Errorf("read the engine of %s.%s (is the schema up to date? weir schema --apply): %w", db, table, err)
	}
	switch engine = strings.TrimPrefix(engine, "Replicated"); engine {
	case "MergeTree", "AggregatingMergeTree":
	default:
		// Engines with parameters (a version column, columns to sum) would need them copied.
		return fmt.Errorf("stage %s.%s: engine %s has no staging form", db, table, engine)
	}
	ddl := "CREATE TABLE " + staging + " AS " + db + "." + table + " ENGINE = " + engine
	if partitionKey != "" {
		ddl += " PARTITION BY " + partitionKey
	}
	if sortingKey == "" {
		sortingKey = "tuple()"
	}
	ddl += " ORDER BY (" + sortingKey + ")"
	// The table's settings too: 18.16 keeps no granularity in a part, so a part written with
	// 8192 rows a mark and swapped into a table of 256 (the per-service tiers) is read 256
	// rows a mark, and every row past a part's first 256 is lost to readers.
	if i := strings.LastIndex(engineFull, " SETTINGS "); i >= 0 {
		ddl += engineFull[i:]
	}
	if err := conn.Exec(ctx, ddl); err != nil {
		return fmt.Errorf("create staging table %s for %s.%s: %w", staging, db, table, err)
	}
	return nil
}
