package rollup

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// rowWriter is the writer SpendWriter and AllocationWriter share: one import of rows R
// into a staging table of R's table, committed by the staging engine (stagedImport).
type rowWriter[R stagedRow[R]] struct {
	s *stagedImport
}

func newRowWriter[R stagedRow[R]](ctx context.Context, conn driver.Conn, database string) (rowWriter[R], error) {
	var zero R
	s, err := newStagedImport(ctx, conn, database, zero.table().stagedTable)
	return rowWriter[R]{s: s}, err
}

// ImportID identifies the import: its rows carry it in the ImportId column.
func (w *rowWriter[R]) ImportID() string { return w.s.id }

// Write adds b to the staging table. The driver copies it, so the caller may Reset and
// reuse b when Write returns. Blocks are gathered into INSERTs of about 4 MiB (or 10 s),
// so small blocks still make few parts; an error means the import must be aborted.
func (w *rowWriter[R]) Write(ctx context.Context, b *Block[R]) error {
	if b.Len() == 0 {
		return w.s.send(ctx, 0, 0, nil)
	}
	return w.s.send(ctx, b.Len(), b.Bytes(), b.columns(w.s.id))
}

// Abort drops the staging table; the target table is left as it was.
func (w *rowWriter[R]) Abort(ctx context.Context) error { return w.s.abort(ctx) }

// commitRows commits w's import and returns the partitions it swapped and what it replaced,
// one G per scope of the table (see replacedGroupsSQL for extra, cost and out), each read
// by scan from one row of the summary.
func commitRows[R stagedRow[R], G any](ctx context.Context, w *rowWriter[R], extra string, costs []string, out string,
	scan func(driver.Rows) (G, error)) ([]string, []G, error) {
	s := w.s
	var groups []G
	ids, err := s.commit(ctx, func(ctx context.Context) error {
		target := s.db + "." + s.t.table
		rows, err := s.conn.Query(ctx, replacedGroupsSQL(target, s.staging, s.t.scope, extra, costs, out))
		if err != nil {
			return fmt.Errorf("summarize import into %s: %w", target, err)
		}
		defer rows.Close()
		for rows.Next() {
			g, err := scan(rows)
			if err != nil {
				return fmt.Errorf("summarize import into %s: %w", target, err)
			}
			groups = append(groups, g)
		}
		return rows.Err()
	})
	return ids, groups, err
}

// replacedGroupsSQL summarizes an import per replaced group (the scope's columns): the rows
// and costs it brings, and how many rows the target held for the same group. extra is one
// more computed staging column (with its alias) or empty; out lists the leading result
// columns, in the order callers scan them, before new_rows, the costs (one column each, in
// order) and previous_rows.
func replacedGroupsSQL(target, staging, scope, extra string, costs []string, out string) string {
	if extra != "" {
		extra += ", "
	}
	inner, outer := "", ""
	for i, c := range costs {
		alias := "new_cost" + strconv.Itoa(i)
		inner += ", " + c + " AS " + alias
		outer += ", " + alias
	}
	return "SELECT " + out + ", new_rows" + outer + ", previous_rows FROM (\n" +
		"  SELECT " + scope + ", " + extra + "count() AS new_rows" + inner + "\n" +
		"  FROM " + staging + " GROUP BY " + scope + "\n" +
		") ANY LEFT JOIN (\n" +
		"  SELECT " + scope + ", count() AS previous_rows FROM " + target + "\n" +
		"  WHERE (" + scope + ") IN (SELECT DISTINCT " + scope + " FROM " + staging + ")\n" +
		"  GROUP BY " + scope + "\n" +
		") USING (" + scope + ")\n" +
		"ORDER BY " + scope
}

// SpendWriter writes one import of FOCUS rows. Blocks go into a staging table of their own
// (spend_import_<id>, created by NewSpendWriter); Commit then replaces, in the spend
// table, every (billing period, billing account) the import has rows for with exactly
// those rows, one partition at a time with ALTER TABLE ... REPLACE PARTITION. So importing
// a billing period again replaces it instead of doubling it, and an import that fails or
// is aborted before Commit leaves the spend table as it was.
//
// Give one import every file of a billing period and account: rows of that pair that are
// not in the import are gone after Commit. A SpendWriter is not safe for concurrent use;
// separate writers (and processes) may import at once.
type SpendWriter struct {
	rowWriter[SpendRow]
}

// NewSpendWriter creates the staging table of a new import into database.spend.
func NewSpendWriter(ctx context.Context, conn driver.Conn, database string) (*SpendWriter, error) {
	w, err := newRowWriter[SpendRow](ctx, conn, database)
	if err != nil {
		return nil, err
	}
	return &SpendWriter{w}, nil
}

// ReplacedPeriod is one billing period of one billing account that a Commit replaced.
type ReplacedPeriod struct {
	Start, End       time.Time // the billing period, UTC
	BillingAccountID string
	Rows             uint64  // rows the import stored for it
	PreviousRows     uint64  // rows it held before
	BilledCost       float64 // sum of the import's BilledCost (the invoice)
	EffectiveCost    float64 // sum of its EffectiveCost (after discounts, credits, commitments)
}

// SpendCommit is what a SpendWriter's Commit replaced.
type SpendCommit struct {
	ImportID   string
	Periods    []ReplacedPeriod // ordered by start, then account
	Partitions []string         // partition IDs swapped, e.g. 202409-2603192927274642682
}

// Commit swaps the import's billing periods into the spend table and drops the staging
// table. An import without rows changes nothing. On error the periods whose partitions
// were already swapped stay replaced (Partitions lists them); the others are unchanged.
func (w *SpendWriter) Commit(ctx context.Context) (SpendCommit, error) {
	c := SpendCommit{ImportID: w.ImportID()}
	var err error
	c.Partitions, c.Periods, err = commitRows(ctx, &w.rowWriter,
		"max(BillingPeriodEnd) AS period_end", []string{"sum(BilledCost)", "sum(EffectiveCost)"}, "BillingPeriodStart, period_end, BillingAccountId",
		func(rows driver.Rows) (p ReplacedPeriod, err error) {
			err = rows.Scan(&p.Start, &p.End, &p.BillingAccountID, &p.Rows, &p.BilledCost, &p.EffectiveCost, &p.PreviousRows)
			p.Start, p.End = p.Start.UTC(), p.End.UTC()
			return p, err
		})
	return c, err
}

// AllocationWriter writes one import of OpenCost allocations, the way SpendWriter writes
// spend: Commit replaces, in the allocation table, every (window start, window end,
// cluster) the import has rows for with exactly those rows. It is not safe for concurrent
// use.
type AllocationWriter struct {
	rowWriter[AllocationRow]
}

// NewAllocationWriter creates the staging table of a new import into database.allocation.
func NewAllocationWriter(ctx context.Context, conn driver.Conn, database string) (*AllocationWriter, error) {
	w, err := newRowWriter[AllocationRow](ctx, conn, database)
	if err != nil {
		return nil, err
	}
	return &AllocationWriter{w}, nil
}

// ReplacedWindow is one allocation window of one cluster that a Commit replaced.
type ReplacedWindow struct {
	Start, End   time.Time // UTC
	Cluster      string
	Rows         uint64  // rows the import stored for it
	PreviousRows uint64  // rows it held before
	TotalCost    float64 // sum of the import's TotalCost
}

// AllocationCommit is what an AllocationWriter's Commit replaced.
type AllocationCommit struct {
	ImportID   string
	Windows    []ReplacedWindow // ordered by start, end, cluster
	Partitions []string
}

// Commit swaps the import's windows into the allocation table and drops the staging table,
// with SpendWriter.Commit's guarantees.
func (w *AllocationWriter) Commit(ctx context.Context) (AllocationCommit, error) {
	c := AllocationCommit{ImportID: w.ImportID()}
	var err error
	c.Partitions, c.Windows, err = commitRows(ctx, &w.rowWriter,
		"", []string{"sum(TotalCost)"}, "WindowStart, WindowEnd, Cluster",
		func(rows driver.Rows) (r ReplacedWindow, err error) {
			err = rows.Scan(&r.Start, &r.End, &r.Cluster, &r.Rows, &r.TotalCost, &r.PreviousRows)
			r.Start, r.End = r.Start.UTC(), r.End.UTC()
			return r, err
		})
	return c, err
}
