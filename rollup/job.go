package rollup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DefaultGrace is how long after a window ends the rollup job waits before it treats the
// window as closed, so that one-minute rows arriving late are in before the hour is summed.
const DefaultGrace = 5 * time.Minute

// DefaultLookback is how far back RunRecent rebuilds when it is given no lookback: two days
// covers the current and the previous day partition of the hourly tiers.
const DefaultLookback = 48 * time.Hour

// family is the column layout shared by the tiers of one signal.
type family struct {
	series []string // the series key, as stored
	values []string // the value columns, in the order aggregates computes them
	// aggregates merges a window's rows: one SELECT expression per value column.
	aggregates string
}

func (f family) columns() []string {
	cols := append([]string{"Timestamp"}, f.series...)
	return append(cols, f.values...)
}

// latencyAggregates merge RED and edge rows: counts add, distributions add bucket by bucket.
func latencyAggregates(count string) string {
	return "sum(" + count + "), sum(DurationSumNano), sum(ZeroCount),\n" +
		"       (sumMap(BucketIndexes, BucketCounts) AS rollup_buckets).1, rollup_buckets.2"
}

var (
	redFamily = family{
		series:     []string{"ServiceName", "SpanName", "SpanKind", "StatusCode", "DimKeys", "DimValues"},
		values:     []string{"Requests", "DurationSumNano", "ZeroCount", "BucketIndexes", "BucketCounts"},
		aggregates: latencyAggregates("Requests"),
	}
	edgeFamily = family{
		series:     []string{"Client", "Server", "ConnectionType", "Failed"},
		values:     []string{"Calls", "DurationSumNano", "ZeroCount", "BucketIndexes", "BucketCounts"},
		aggregates: latencyAggregates("Calls"),
	}
	// seriesFamily merges metric series rows: points and delta sums add, min and max keep
	// their extremes, last is the value with the latest time, histogram buckets add by bound.
	// serviceFamily merges a RED tier's rows (red_1h, red_1d) into one row per service:
	// requests and failed requests add up, and the distributions merge at QueryScale (bucket
	// i of red_1h goes to floor(i/2), at least LatencyOrigin) and are stored dense from their
	// lowest bucket, so that a query adds them element by element; the stored percentiles are
	// QuantileSQL's of that distribution.
	serviceFamily = family{
		series: []string{"ServiceName"},
		values: append([]string{"Requests", "Errors", "DurationSumNano", "ZeroCount", "BucketOffset", "BucketCounts"}, storedQuantileColumns()...),
		aggregates: "sum(Requests), sumIf(Requests, StatusCode = 2), sum(DurationSumNano), sum(ZeroCount),\n" +
			"       arrayReduce('min', (" + downscaledSumMap + " AS rollup_buckets).1) AS rollup_offset,\n" +
			"       " + sparseFromFirstSQL("rollup_buckets") + storedQuantilesSQL("sum(ZeroCount)", "rollup_offset", sparseFromFirstSQL("rollup_buckets")),
	}
	seriesFamily = family{
		series: []string{"ServiceName", "MetricName", "MetricUnit", "MetricType", "SeriesHash", "AttributeKeys", "AttributeValues"},
		values: []string{"Count", "Sum", "Min", "Max", "Last", "LastTimeUnixNano", "BucketBounds", "BucketCounts"},
		aggregates: "sum(Count), sum(Sum), min(Min), max(Max), argMax(Last, LastTimeUnixNano), max(LastTimeUnixNano),\n" +
			"       (sumMap(BucketBounds, BucketCounts) AS rollup_buckets).1, rollup_buckets.2",
	}
)

// partitioning is how a tier's table is partitioned.
type partitioning int

const (
	byDay   partitioning = iota // toDate(Timestamp): partition ID YYYYMMDD
	byMonth                     // toYYYYMM(Timestamp): partition ID YYYYMM
)

// rollupTier is one computed tier: table is rebuilt from source, one window per row per series.
type rollupTier struct {
	table, source string
	fam           family
	startOf       string // ClickHouse function mapping a time to its window start (server time zone)
	window        time.Duration
	parts         partitioning
}

// rollupOrder is the order Run rebuilds tiers in: every hourly tier before any daily one, so a
// day is summed from hours rebuilt in the same run.
var rollupOrder = []rollupTier{
	{table: TableRED1h, source: TableRED1m, fam: redFamily, startOf: "toStartOfHour", window: time.Hour, parts: byDay},
	{table: TableEdges1h, source: TableEdges1m, fam: edgeFamily, startOf: "toStartOfHour", window: time.Hour, parts: byDay},
	{table: TableSeries1h, source: TableSeries1m, fam: seriesFamily, startOf: "toStartOfHour", window: time.Hour, parts: byDay},
	{table: TableREDService1h, source: TableRED1h, fam: serviceFamily, startOf: "toStartOfHour", window: time.Hour, parts: byDay},
	{table: TableRED1d, source: TableRED1h, fam: redFamily, startOf: "toStartOfDay", window: 24 * time.Hour, parts: byMonth},
	{table: TableEdges1d, source: TableEdges1h, fam: edgeFamily, startOf: "toStartOfDay", window: 24 * time.Hour, parts: byMonth},
	{table: TableSeries1d, source: TableSeries1h, fam: seriesFamily, startOf: "toStartOfDay", window: 24 * time.Hour, parts: byMonth},
	// From red_1d rather than red_service_1h: red_1d keeps five years, so the daily service
	// tier has them too.
	{table: TableREDService1d, source: TableRED1d, fam: serviceFamily, startOf: "toStartOfDay", window: 24 * time.Hour, parts: byMonth},
}

// Job computes the hourly tiers from the one-minute tiers and the daily tiers from the hourly
// ones, over closed windows only. It rebuilds whole partitions: for each partition it sums the
// finer tier into a staging table (<tier>_staging, with the tier's structure and keys) and
// swaps it in with ALTER TABLE ... REPLACE PARTITION, which readers see atomically. Running
// it again over the same range rewrites the same rows, so it is idempotent.
//
// On a cluster each tier is sharded on the same key as the tier it is summed from, so every
// shard rolls up its own rows: the job works shard by shard, on the <tier>_local tables of
// one replica of each, and replication carries each swapped partition to the others.
//
// A Job is safe for concurrent use: Run calls are serialised. Two Jobs (or processes) must not
// roll up the same database at once, since they would share the staging tables.
type Job struct {
	// Conn is the ClickHouse connection (native protocol).
	Conn driver.Conn
	// Database holds weir's tables.
	Database string
	// Cluster, when not nil, is the cluster Database lives on (Conn reaches any server of
	// it); nil means the one server Conn reaches.
	Cluster *Cluster
	// Grace is how long after its end a window counts as closed; 0 means DefaultGrace.
	Grace time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives a line per rebuilt partition (debug) and per run (info); nil discards.
	Logger *slog.Logger

	mu sync.Mutex
}

// Report says what a Run rebuilt.
type Report struct {
	// Partitions are the partitions replaced, in the order they were rebuilt.
	Partitions []RebuiltPartition
}

// Rows is the number of rows in all rebuilt partitions.
func (r Report) Rows() uint64 {
	var n uint64
	for _, p := range r.Partitions {
		n += p.Rows
	}
	return n
}

// RebuiltPartition is one partition a Run replaced.
type RebuiltPartition struct {
	Table       string // the tier rebuilt, e.g. red_1h
	Source      string // the tier it was summed from, e.g. red_1m
	PartitionID string // as system.parts shows it: 20240305 (day) or 202403 (month)
	// From and To bound the windows recomputed from Source: the partition's start up to
	// the partition's end or the last closed window's end, whichever is earlier.
	From, To time.Time
	// Shard is the shard whose rows these are; 0 on one server.
	Shard int
	// Rows is how many rows the partition holds now.
	Rows uint64
	// Preserved is how many of those were kept from the tier as they were, because Source no
	// longer holds their windows (its retention is shorter) or they lie past To.
	Preserved uint64
}

func (j *Job) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}

func (j *Job) grace() time.Duration {
	if j.Grace > 0 {
		return j.Grace
	}
	return DefaultGrace
}

func (j *Job) logger() *slog.Logger {
	if j.Logger != nil {
		return j.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// RunRecent rolls up the partitions overlapping the last lookback (DefaultLookback when 0):
// what a schedule calls, every few minutes to every hour.
func (j *Job) RunRecent(ctx context.Context, lookback time.Duration) (Report, error) {
	if lookback <= 0 {
		lookback = DefaultLookback
	}
	now := j.now()
	return j.Run(ctx, now.Add(-lookback), now)
}

// Run rebuilds every partition of the hourly tiers (red_1h, edges_1h, series_1h,
// red_service_1h), then of the daily tiers (red_1d, edges_1d, series_1d, red_service_1d), that
// overlaps [from, to) and holds at least one closed window, and any such partition the tier
// does not have yet whatever [from, to) (see candidatePartitions).
// A window is closed when its end is at or before Now() - Grace. Partitions whose source has
// no rows in their closed windows are left as they are. Only closed windows are computed; rows the tier
// already has for windows its source no longer holds are kept, so running the job after the
// finer tier's retention dropped a day never loses the coarser rows.
func (j *Job) Run(ctx context.Context, from, to time.Time) (Report, error) {
	var rep Report
	if err := ValidateDatabase(j.Database); err != nil {
		return rep, err
	}
	if j.Conn == nil {
		return rep, errors.New("rollup job: no ClickHouse connection")
	}
	if !from.Before(to) {
		return rep, fmt.Errorf("rollup job: empty range [%s, %s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	j.mu.Lock()
	defer j.mu.Unlock()

	sites := []site{{conn: j.Conn}}
	if j.Cluster != nil {
		var closeSites func()
		var err error
		if sites, closeSites, err = shardSites(ctx, j.Conn, *j.Cluster); err != nil {
			return rep, fmt.Errorf("rollup job: %w", err)
		}
		defer closeSites()
	}
	start := time.Now()
	closedBy := j.now().Add(-j.grace())
	for _, s := range sites {
		loc, err := serverLocation(ctx, s.conn)
		if err != nil {
			return rep, shardError(s, err)
		}
		for _, tier := range rollupOrder {
			parts, err := j.rollupTier(ctx, s, tier, loc, from, to, closedBy)
			rep.Partitions = append(rep.Partitions, parts...)
			if err != nil {
				return rep, shardError(s, err)
			}
		}
	}
	j.logger().Info("rollup done", "database", j.Database,
		"from", from, "to", to, "closed_by", closedBy,
		"partitions", len(rep.Partitions), "rows", rep.Rows(), "took", time.Since(start))
	return rep, nil
}

// shardError names the shard err happened on, if any.
func shardError(s site, err error) error {
	if s.shard == 0 {
		return err
	}
	return fmt.Errorf("shard %d: %w", s.shard, err)
}

// rollupTier rebuilds the partitions of one tier at s.
func (j *Job) rollupTier(ctx context.Context, s site, tier rollupTier, loc *time.Location, from, to, closedBy time.Time) ([]RebuiltPartition, error) {
	closedEnd := windowStart(closedBy, tier.window, loc)
	ids, err := j.candidatePartitions(ctx, s, tier, loc, from, to, closedEnd)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	db := j.Database
	staging := db + "." + tier.table + "_staging"
	// Recreate the staging table each pass, so it always has the tier's current structure
	// and partition key (a later migration may alter the tier).
	if err := s.conn.Exec(ctx, "DROP TABLE IF EXISTS "+staging); err != nil {
		return nil, fmt.Errorf("rollup %s: drop staging table: %w", tier.table, err)
	}
	if err := createStaging(ctx, s.conn, staging, db, tier.table+s.local); err != nil {
		return nil, fmt.Errorf("rollup %s: %w", tier.table, err)
	}
	var out []RebuiltPartition
	for _, id := range ids {
		p, replaced, err := j.rebuild(ctx, s, tier, staging, id, loc, closedEnd)
		if err != nil {
			return out, fmt.Errorf("rollup %s partition %s: %w", tier.table, id, err)
		}
		if replaced {
			j.logger().Debug("rollup partition rebuilt", "table", tier.table, "partition", id,
				"from", p.From, "to", p.To, "rows", p.Rows, "preserved", p.Preserved)
			out = append(out, p)
		}
	}
	// The staging table's parts are hard links to the tier's now; dropping it frees nothing
	// the tier uses and leaves no extra table behind.
	if err := s.conn.Exec(ctx, "DROP TABLE IF EXISTS "+staging); err != nil {
		return out, fmt.Errorf("rollup %s: drop staging table: %w", tier.table, err)
	}
	return out, nil
}

// candidatePartitions lists, oldest first, the IDs of tier's partitions that start before
// closedEnd, whose range the source has rows in, and that overlap [from, to) or that the tier
// does not have at all. The last is how a tier catches up: a tier added by a later migration
// fills its history from its source on the first run, and days the job missed while it was
// not running are built on the next run, whatever its range. (Without it the tier would hold
// windows on both sides of a gap, and the Querier, which reads a tier from its oldest window
// to its newest, would read nothing for the gap.) It assumes every tier keeps its rows at
// least as long as its source, as DefaultRetention does; otherwise the job would build again
// what retention dropped.
func (j *Job) candidatePartitions(ctx context.Context, s site, tier rollupTier, loc *time.Location, from, to, closedEnd time.Time) ([]string, error) {
	sourceIDs, err := j.partitionIDs(ctx, s, tier.source, false)
	if err != nil {
		return nil, fmt.Errorf("rollup %s: list partitions of %s: %w", tier.table, tier.source, err)
	}
	have, err := j.partitionIDs(ctx, s, tier.table, true)
	if err != nil {
		return nil, fmt.Errorf("rollup %s: list partitions: %w", tier.table, err)
	}
	set := map[string]bool{}
	for id := range sourceIDs {
		// Source partitions are days; a monthly tier's partition is the day's month.
		if tier.parts == byMonth && len(id) == 8 {
			id = id[:6]
		}
		start, end, ok := partitionRange(id, loc)
		if !ok || !start.Before(closedEnd) {
			continue
		}
		if (start.Before(to) && end.After(from)) || !have[id] {
			set[id] = true
		}
	}
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// partitionIDs is the set of partition IDs of table's active parts at s (its local table on
// a shard). With dropShort (a tier, not a source) it leaves out those holding a part short of
// marks for the table's granularity: weir before 2026-12-07 swapped parts written at 8192 rows
// a mark into the per-service tiers (256 a mark), whose readers then skip every row past a
// part's first 256 (createStaging). Left out, such a partition is rebuilt from its source on
// the next run, whatever its range.
func (j *Job) partitionIDs(ctx context.Context, s site, table string, dropShort bool) (map[string]bool, error) {
	short := "0" // whether a partition holds a short part
	if dropShort {
		var engine string
		switch err := s.conn.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = ?",
			j.Database, table+s.local).Scan(&engine); {
		case errors.Is(err, sql.ErrNoRows):
			return map[string]bool{}, nil // no such table: no parts
		case err != nil:
			return nil, fmt.Errorf("read the engine of %s: %w", table, err)
		}
		granularity := "8192" // 18.16's default
		if m := granularityRe.FindStringSubmatch(engine); m != nil {
			granularity = m[1] // digits only
		}
		short = "max(rows > marks * " + granularity + ")"
	}
	rows, err := s.conn.Query(ctx,
		"SELECT partition_id, "+short+" FROM system.parts WHERE database = ? AND active AND table = ? GROUP BY partition_id",
		j.Database, table+s.local)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		var short uint8
		if err := rows.Scan(&id, &short); err != nil {
			return nil, err
		}
		if short == 0 {
			out[id] = true
		}
	}
	return out, rows.Err()
}

var granularityRe = regexp.MustCompile(`\bindex_granularity = (\d+)`)

// rebuild fills the staging table with partition id's new contents and swaps it in. It
// reports false when the source has no rows in the partition's closed windows: then the
// partition would be replaced by itself.
func (j *Job) rebuild(ctx context.Context, s site, tier rollupTier, staging, id string, loc *time.Location, closedEnd time.Time) (RebuiltPartition, bool, error) {
	pStart, pEnd, _ := partitionRange(id, loc)
	winEnd := pEnd
	if closedEnd.Before(winEnd) {
		winEnd = closedEnd
	}
	p := RebuiltPartition{Table: tier.table, Source: tier.source, PartitionID: id, From: pStart, To: winEnd, Shard: s.shard}
	target := s.table(j.Database, tier.table)
	source := s.table(j.Database, tier.source)

	// TRUNCATE works on 18.16 for MergeTree tables.
	if err := s.conn.Exec(ctx, "TRUNCATE TABLE "+staging); err != nil {
		return p, false, fmt.Errorf("truncate staging: %w", err)
	}
	cols := strings.Join(tier.fam.columns(), ", ")
	series := strings.Join(tier.fam.series, ", ")
	inRange := "Timestamp >= " + sqlTime(pStart) + " AND Timestamp < " + sqlTime(winEnd)

	// The closed windows, summed from the source. Several source rows per series and window
	// are normal, so everything is summed; the distributions merge by adding bucket counts.
	compute := "INSERT INTO " + staging + " (" + cols + ")\n" +
		"SELECT " + tier.startOf + "(Timestamp) AS rollup_window, " + series + ",\n" +
		"       " + tier.fam.aggregates + "\n" +
		"FROM " + source + "\n" +
		"WHERE " + inRange + "\n" +
		"GROUP BY rollup_window, " + series
	if err := s.conn.Exec(ctx, compute); err != nil {
		return p, false, fmt.Errorf("sum %s: %w", tier.source, err)
	}
	computed, err := count(ctx, s.conn, staging)
	if err != nil {
		return p, false, err
	}
	// Keep the tier's rows whose windows were not just recomputed: REPLACE PARTITION swaps
	// the whole partition, and the source may have lost those windows to retention.
	keep := "INSERT INTO " + staging + " (" + cols + ")\n" +
		"SELECT " + cols + " FROM " + target + "\n" +
		"WHERE Timestamp >= " + sqlTime(pStart) + " AND Timestamp < " + sqlTime(pEnd) + "\n" +
		"  AND Timestamp NOT IN (SELECT DISTINCT " + tier.startOf + "(Timestamp) FROM " + source + " WHERE " + inRange + ")"
	if err := s.conn.Exec(ctx, keep); err != nil {
		return p, false, fmt.Errorf("keep rows of %s: %w", tier.table, err)
	}
	total, err := count(ctx, s.conn, staging)
	if err != nil {
		return p, false, err
	}
	p.Rows, p.Preserved = total, total-computed
	if computed == 0 {
		// Nothing to recompute: the staging table holds exactly what the partition holds.
		return p, false, nil
	}
	if err := s.conn.Exec(ctx, "ALTER TABLE "+target+" REPLACE PARTITION ID '"+id+"' FROM "+staging); err != nil {
		return p, false, fmt.Errorf("replace partition: %w", err)
	}
	return p, true, nil
}

func count(ctx context.Context, conn driver.Conn, table string) (uint64, error) {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+table).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}

// serverLocation is the server's time zone, which toDate, toStartOfHour and toStartOfDay use,
// and so the zone partitions and windows are aligned to.
func serverLocation(ctx context.Context, conn driver.Conn) (*time.Location, error) {
	var name string
	if err := conn.QueryRow(ctx, "SELECT timezone()").Scan(&name); err != nil {
		return nil, fmt.Errorf("read server time zone: %w", err)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("server time zone %q: %w", name, err)
	}
	return loc, nil
}

// windowStart is the start of the window of length w (an hour or a day) holding t, in loc.
func windowStart(t time.Time, w time.Duration, loc *time.Location) time.Time {
	t = t.In(loc)
	if w >= 24*time.Hour {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), 0, 0, 0, loc)
}

// partitionRange is the time range [start, end) in loc of a partition ID of a table
// partitioned by day (YYYYMMDD) or by month (YYYYMM). ok is false for any other ID.
func partitionRange(id string, loc *time.Location) (start, end time.Time, ok bool) {
	if _, err := strconv.ParseUint(id, 10, 32); err != nil {
		return start, end, false
	}
	switch len(id) {
	case 8:
		y, _ := strconv.Atoi(id[:4])
		m, _ := strconv.Atoi(id[4:6])
		d, _ := strconv.Atoi(id[6:])
		start = time.Date(y, time.Month(m), d, 0, 0, 0, 0, loc)
		if start.Format("20060102") != id {
			return start, end, false
		}
		return start, start.AddDate(0, 0, 1), true
	case 6:
		y, _ := strconv.Atoi(id[:4])
		m, _ := strconv.Atoi(id[4:])
		start = time.Date(y, time.Month(m), 1, 0, 0, 0, 0, loc)
		if start.Format("200601") != id {
			return start, end, false
		}
		return start, start.AddDate(0, 1, 0), true
	}
	return start, end, false
}

// sqlTime is t as a DateTime literal, clamped to DateTime's range. Times go into the SQL as
// integers the code computed, never as text a user typed.
func sqlTime(t time.Time) string {
	s := t.Unix()
	if s < 0 {
		s = 0
	}
	if s > math.MaxUint32 {
		s = math.MaxUint32
	}
	return "toDateTime(" + strconv.FormatInt(s, 10) + ")"
}
