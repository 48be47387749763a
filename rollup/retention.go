package rollup

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Retention says how long each table keeps its rows, by table name (the Table* constants).
// A table that is missing, or whose duration is 0 or less, is kept forever.
type Retention map[string]time.Duration

const day = 24 * time.Hour

// DefaultRetention is weir's default policy:
//
//	spans, trace_index                15 days
//	metrics_* (all five point tables) 15 days
//	red_1m, edges_1m                  30 days
//	red_1h, edges_1h, red_service_1h 400 days
//	red_1d, edges_1d, red_service_1d   5 years (1826 days)
//
// The sampled spans are kept 15 days because the weekly report (analyzer/report) reads the
// traces of the last complete week, which is up to 14 days old when it runs on a Sunday.
// The one-minute tiers outlive the raw spans and the hourly tiers outlive a year, so a
// dashboard can compare a week, a month or a year with the one before it.
func DefaultRetention() Retention {
	return Retention{
		TableSpans:                       15 * day,
		TableTraceIndex:                  15 * day,
		TableMetricsGauge:                15 * day,
		TableMetricsSum:                  15 * day,
		TableMetricsHistogram:            15 * day,
		TableMetricsExponentialHistogram: 15 * day,
		TableMetricsSummary:              15 * day,
		TableRED1m:                       30 * day,
		TableEdges1m:                     30 * day,
		TableRED1h:                       400 * day,
		TableEdges1h:                     400 * day,
		TableRED1d:                       1826 * day,
		TableEdges1d:                     1826 * day,
		// As long as their sources: the rollup job builds again what a tier lacks and its
		// source still holds.
		TableREDService1h: 400 * day,
		TableREDService1d: 1826 * day,
		TableSeries1m:     30 * day,
		TableSeries1h:     400 * day,
		TableSeries1d:     1826 * day,
	}
}

// DroppedPartition is one partition ApplyRetention dropped.
type DroppedPartition struct {
	Table       string
	Partition   string // as system.parts shows it: 2024-03-05 (day) or 202403 (month)
	PartitionID string // 20240305 or 202403
	// From and To are the partition's time range in the server's time zone.
	From, To time.Time
	Rows     uint64 // rows it held
	// Shard is the shard it was dropped on; 0 on one server.
	Shard int

	maxBlock int64 // newest block in it when listed; later inserts get higher numbers
}

// ApplyRetention drops, in database, every partition whose whole time range ended at or
// before now minus its table's retention: a partition that can still hold a row younger than
// that is kept. Only tables partitioned by day (toDate, Day) or month (toYYYYMM) are touched;
// each drop is checked against system.parts afterwards, since 18.16 reports success for a
// DROP PARTITION that matched nothing. It returns what it dropped, also when it stops at an
// error part-way.
func ApplyRetention(ctx context.Context, conn driver.Conn, database string, policy Retention, now time.Time) ([]DroppedPartition, error) {
	if err := validateRetention(database, policy); err != nil {
		return nil, err
	}
	return applyRetention(ctx, site{conn: conn}, database, policy, now)
}

// ApplyRetentionCluster is ApplyRetention for a database on cluster c, through conn to any
// of its servers: on every shard, through whichever of its replicas answers first, it drops
// the expired partitions of the <table>_local tables, and replication drops them on the
// other replicas. It stops at the first shard it cannot reach or drop on, returning what it
// dropped before.
func ApplyRetentionCluster(ctx context.Context, conn driver.Conn, c Cluster, database string, policy Retention, now time.Time) ([]DroppedPartition, error) {
	if err := validateRetention(database, policy); err != nil {
		return nil, err
	}
	sites, closeSites, err := shardSites(ctx, conn, c)
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	defer closeSites()
	var dropped []DroppedPartition
	for _, s := range sites {
		d, err := applyRetention(ctx, s, database, policy, now)
		dropped = append(dropped, d...)
		if err != nil {
			return dropped, shardError(s, err)
		}
	}
	return dropped, nil
}

func validateRetention(database string, policy Retention) error {
	if err := ValidateDatabase(database); err != nil {
		return err
	}
	for table := range policy {
		if !identRe.MatchString(table) {
			return fmt.Errorf("retention: table name %q is not a plain identifier", table)
		}
	}
	return nil
}

// applyRetention drops the expired partitions at s. Table names in policy are the usual
// ones; at a shard they name the <table>_local tables, and no other table is touched.
func applyRetention(ctx context.Context, s site, database string, policy Retention, now time.Time) ([]DroppedPartition, error) {
	conn := s.conn
	loc, err := serverLocation(ctx, conn)
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, `SELECT table, partition, partition_id, sum(rows), max(max_block_number)
FROM system.parts
WHERE database = ? AND active
GROUP BY table, partition, partition_id
ORDER BY table, partition_id`, database)
	if err != nil {
		return nil, fmt.Errorf("retention: list partitions of %s: %w", database, err)
	}
	var expired []DroppedPartition
	for rows.Next() {
		var p DroppedPartition
		if err := rows.Scan(&p.Table, &p.Partition, &p.PartitionID, &p.Rows, &p.maxBlock); err != nil {
			rows.Close()
			return nil, fmt.Errorf("retention: list partitions of %s: %w", database, err)
		}
		table, ok := strings.CutSuffix(p.Table, s.local)
		if !ok {
			continue // at a shard: a table every server holds whole, or a staging table
		}
		p.Table, p.Shard = table, s.shard
		keep := policy[table]
		if keep <= 0 {
			continue
		}
		start, end, ok := partitionRange(p.PartitionID, loc)
		if !ok {
			continue // not partitioned by day or month: not ours to judge
		}
		if end.After(now.Add(-keep)) {
			continue
		}
		p.From, p.To = start, end
		expired = append(expired, p)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("retention: list partitions of %s: %w", database, err)
	}

	var dropped []DroppedPartition
	for _, p := range expired {
		if err := dropPartition(ctx, s, database, p); err != nil {
			return dropped, err
		}
		dropped = append(dropped, p)
	}
	return dropped, nil
}

// dropAttempts bounds the DROP PARTITIONs of one partition. On a replicated table 18.16
// sometimes answers a DROP PARTITION before this replica has dropped the parts (seen in
// about one run in three of the cluster test, each time a lone part still active right
// after); a moment later, and a second DROP, they are gone.
const dropAttempts = 3

// dropPartition drops p at s and checks that none of its parts listed are left: 18.16
// reports success for a DROP PARTITION that matched nothing. Parts written after the
// listing (a late row for an old day) are not checked: they are dropped next time.
func dropPartition(ctx context.Context, s site, database string, p DroppedPartition) error {
	table := s.table(database, p.Table)
	var left []string
	for attempt := 0; attempt < dropAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("retention: drop partition %s of %s: %w", p.PartitionID, table, ctx.Err())
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		// PARTITION ID '...' is the form that works for every partitioning on 18.16; an
		// unquoted number would succeed and drop nothing.
		if err := s.conn.Exec(ctx, "ALTER TABLE "+table+" DROP PARTITION ID '"+p.PartitionID+"'"); err != nil {
			return fmt.Errorf("retention: drop partition %s of %s: %w", p.PartitionID, table, err)
		}
		rows, err := s.conn.Query(ctx,
			"SELECT name FROM system.parts WHERE database = ? AND table = ? AND partition_id = ? AND active AND min_block_number <= ?",
			database, p.Table+s.local, p.PartitionID, p.maxBlock)
		if err != nil {
			return fmt.Errorf("retention: check partition %s of %s: %w", p.PartitionID, table, err)
		}
		left = left[:0]
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return fmt.Errorf("retention: check partition %s of %s: %w", p.PartitionID, table, err)
			}
			left = append(left, name)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("retention: check partition %s of %s: %w", p.PartitionID, table, err)
		}
		if len(left) == 0 {
			return nil
		}
	}
	return fmt.Errorf("retention: partition %s of %s still has active parts %s after %d DROP PARTITIONs",
		p.PartitionID, table, strings.Join(left, ", "), dropAttempts)
}
