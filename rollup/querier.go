package rollup

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weirhq/weir/internal/model"
)

// Querier runs tier-aware queries against weir's tables. It is safe for concurrent use if
// Conn is; do not copy one after its first use.
//
// Query plans with what the coarse tiers held at the Querier's previous query of the same
// signal, and the same round trip returns what system.parts says now; only when that
// differs (the rollup job or retention changed a tier in between) does Query read it and
// run the query again. A dashboard's queries thus cost one round trip, not two.
type Querier struct {
	Conn     driver.Conn
	Database string
	// Logger gets each plan's reads at debug level; nil discards.
	Logger *slog.Logger

	mu    sync.Mutex
	seen  map[seenKey]seenTiers  // what the last Availability of a signal read
	parts map[string]partsSource // where the tiers' parts are listed, by database
}

type seenKey struct {
	database string
	signal   Signal
}

// seenTiers is an Availability and the fingerprint that system.parts gave with it.
type seenTiers struct {
	avail       Availability
	fingerprint string
}

// partsWithRows picks the parts of system.parts whose min_time and max_time say which
// windows a tier holds: those are the part's least and greatest Timestamp (the partition key's
// column), so reading them reads metadata only. Querier.Availability and the tier plan of
// PanelTiers read the same parts.
const partsWithRows = "active AND rows > 0"

// tierSpansSQL is a SELECT of one row: the server's time zone, the coarse tiers of st that
// hold rows (sorted), the oldest and newest Timestamp of each, and all of it as one string,
// the fingerprint that Query compares. An aggregate without GROUP BY returns its row even
// when no part matches. The database goes in as a literal (ValidateDatabase allows only
// identifier characters), so that the same text can be a scalar subquery of a query whose
// ? placeholders are the plan's.
func tierSpansSQL(database string, st signalTiers, src partsSource) string {
	var tables []string
	for _, t := range st.allTiers() {
		if t.window > stepUnit {
			tables = append(tables, "'"+src.holderOf(t.table)+"'")
		}
	}
	// On a cluster the parts are the local tables': the name goes back to the tier's.
	// (tier, not table: an alias is visible in WHERE, and would shadow the column there.)
	return "SELECT timezone() AS tz, groupArray(tier) AS tables, groupArray(lo) AS los, groupArray(hi) AS his, " +
		"concat(tz, ' ', toString(tables), ' ', toString(los), ' ', toString(his)) AS fingerprint FROM (" +
		"SELECT replaceRegexpOne(table, '" + LocalSuffix + "$', '') AS tier, min(min_time) AS lo, max(max_time) AS hi FROM " + src.parts + " " +
		"WHERE database = '" + database + "' AND " + partsWithRows + " AND table IN (" + strings.Join(tables, ", ") + ") " +
		"GROUP BY tier ORDER BY tier)"
}

// queryShards is Query on a cluster. Each shard plans its reads on its own parts: the tier
// plan of PanelSQL, which the Distributed tables send to every shard with the query. A plan
// made once from all shards' parts would read a window from a tier that one shard holds and
// another has not rolled up yet (the rollup runs shard by shard; a shard can be down), and
// miss that shard's rows. Result.Plan is the plan over all shards' parts, what the tiers hold
// together; a shard may read a finer tier where it holds less.
func (q *Querier) queryShards(ctx context.Context, qr Query) (Result, error) {
	p, err := q.Plan(ctx, qr)
	if err != nil {
		return Result{Plan: p}, err
	}
	sql, err := PanelSQL(qr.panelQuery(), Panel{From: sqlTime(qr.From), To: sqlTime(qr.To),
		Interval: strconv.FormatInt(int64(qr.Step/time.Second), 10), Database: q.Database})
	if err != nil {
		return Result{Plan: p}, err
	}
	rows, err := q.Rows(ctx, QueryPlan{Query: qr, SQL: sql})
	return Result{Plan: p, Rows: rows}, err
}

// partsSource is where the parts of the tiers are listed.
type partsSource struct {
	parts  string            // system.parts, or cluster('<name>', system, parts) on a cluster
	holder map[string]string // tier -> the table whose parts hold its rows, when not the tier
}

// distributed reports whether the tiers are Distributed tables, on a cluster.
func (s partsSource) distributed() bool { return len(s.holder) > 0 }

func (s partsSource) holderOf(tier string) string {
	if h, ok := s.holder[tier]; ok {
		return h
	}
	return tier
}

// distributedRe reads a Distributed table's engine_full: cluster, database, table, key.
var distributedRe = regexp.MustCompile(`^Distributed\(([A-Za-z_][A-Za-z0-9_]*), ([A-Za-z_][A-Za-z0-9_]*), ([A-Za-z_][A-Za-z0-9_]*)[,)]`)

// tierParts finds where the parts of the database's tiers are: on one server, the tiers' own
// in system.parts; when the tiers are Distributed tables (SCHEMA.md, "On a cluster"), their
// local tables', on one replica of every shard of their cluster. A Distributed table has no
// parts, and one server's parts say only what its shard holds. Readers thus need no setting
// to work on a cluster.
func tierParts(ctx context.Context, conn driver.Conn, database string) (partsSource, error) {
	src := partsSource{parts: "system.parts", holder: map[string]string{}}
	rows, err := conn.Query(ctx, "SELECT name, engine_full FROM system.tables WHERE database = ? AND engine = 'Distributed'", database)
	if err != nil {
		return src, fmt.Errorf("query: look for Distributed tiers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, engine string
		if err := rows.Scan(&name, &engine); err != nil {
			return src, fmt.Errorf("query: look for Distributed tiers: %w", err)
		}
		m := distributedRe.FindStringSubmatch(engine)
		if m == nil {
			return src, fmt.Errorf("query: tier %s.%s: unexpected engine %q", database, name, engine)
		}
		src.parts = "cluster('" + m[1] + "', system, parts)"
		src.holder[name] = m[3]
	}
	return src, rows.Err()
}

// partsOf is tierParts for q's database, read once (a database's tables do not change from
// local to Distributed under a running reader).
func (q *Querier) partsOf(ctx context.Context) (partsSource, error) {
	q.mu.Lock()
	src, ok := q.parts[q.Database]
	q.mu.Unlock()
	if ok {
		return src, nil
	}
	src, err := tierParts(ctx, q.Conn, q.Database)
	if err != nil {
		return src, err
	}
	q.mu.Lock()
	if q.parts == nil {
		q.parts = map[string]partsSource{}
	}
	q.parts[q.Database] = src
	q.mu.Unlock()
	return src, nil
}

// Availability reads from system.parts which windows the coarse tiers of sig hold, and the
// server's time zone, in one round trip.
func (q *Querier) Availability(ctx context.Context, sig Signal) (Availability, error) {
	seen, err := q.availability(ctx, sig)
	return seen.avail, err
}

func (q *Querier) availability(ctx context.Context, sig Signal) (seenTiers, error) {
	st, ok := signals[sig]
	if !ok {
		return seenTiers{}, fmt.Errorf("query: unknown signal %d", sig)
	}
	if err := ValidateDatabase(q.Database); err != nil {
		return seenTiers{}, err
	}
	var tz, fingerprint string
	var names []string
	var los, his []time.Time
	src, err := q.partsOf(ctx)
	if err != nil {
		return seenTiers{}, err
	}
	if err := q.Conn.QueryRow(ctx, tierSpansSQL(q.Database, st, src)).Scan(&tz, &names, &los, &his, &fingerprint); err != nil {
		return seenTiers{}, fmt.Errorf("query: read tier spans: %w", err)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return seenTiers{}, fmt.Errorf("query: server time zone %q: %w", tz, err)
	}
	windows := map[string]time.Duration{}
	for _, t := range st.allTiers() {
		windows[t.table] = t.window
	}
	av := Availability{Location: loc, Tiers: map[string]TierSpan{}}
	for i, table := range names {
		w := windows[table]
		av.Tiers[table] = TierSpan{From: windowStart(los[i], w, loc), To: windowStart(his[i], w, loc).Add(w)}
	}
	seen := seenTiers{avail: av, fingerprint: fingerprint}
	q.mu.Lock()
	if q.seen == nil {
		q.seen = map[seenKey]seenTiers{}
	}
	q.seen[seenKey{q.Database, sig}] = seen
	q.mu.Unlock()
	return seen, nil
}

// Plan picks the tiers for qr from what the server holds now (see PlanQuery).
func (q *Querier) Plan(ctx context.Context, qr Query) (QueryPlan, error) {
	seen, err := q.availability(ctx, qr.Signal)
	if err != nil {
		return QueryPlan{}, err
	}
	return q.plan(qr, seen.avail)
}

func (q *Querier) plan(qr Query, av Availability) (QueryPlan, error) {
	p, err := PlanQuery(q.Database, qr, av)
	if err != nil {
		return p, err
	}
	if q.Logger != nil {
		q.Logger.Debug("rollup query plan", "signal", qr.Signal, "step", qr.Step, "reads", p.String())
	}
	return p, nil
}

// Rows runs a plan and returns its rows.
func (q *Querier) Rows(ctx context.Context, p QueryPlan) ([]Row, error) {
	rows, _, err := q.rows(ctx, p, p.SQL, false)
	return rows, err
}

// rows runs p with its SQL as sql; with check, sql has a last column tiers_now, the
// fingerprint of the tiers as the server saw them when it ran sql, which rows returns (""
// without rows).
func (q *Querier) rows(ctx context.Context, p QueryPlan, sql string, check bool) ([]Row, string, error) {
	rows, err := q.Conn.Query(ctx, sql, p.Args...)
	if err != nil {
		return nil, "", fmt.Errorf("query %s: %w", p.Query.Signal, err)
	}
	defer rows.Close()
	var out []Row
	var now string
	for rows.Next() {
		var r Row
		var s1, s2, s3 string
		var kind uint8
		dest := []any{&r.Bucket, &s1, &s2, &kind}
		if p.Query.Signal == SignalEdges {
			dest = []any{&r.Bucket, &s1, &s2, &s3}
		}
		var zero uint64
		var offset int32
		var counts []uint64
		dest = append(dest, &r.Requests, &r.Errors, &r.DurationSumNano, &zero)
		if p.Query.Quantiles != nil {
			r.Quantiles = make([]float64, len(p.Query.Quantiles))
			for k := range r.Quantiles {
				dest = append(dest, &r.Quantiles[k])
			}
		} else {
			dest = append(dest, &offset, &counts)
		}
		if check {
			dest = append(dest, &now)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, "", fmt.Errorf("query %s: scan: %w", p.Query.Signal, err)
		}
		if p.Query.Quantiles == nil {
			r.Latency = denseDistribution(zero, offset, counts)
		} else {
			r.Latency = model.Distribution{ZeroCount: zero, Downscale: queryDownscale}
		}
		if p.Query.Signal == SignalEdges {
			r.Series = Series{Client: s1, Server: s2, ConnectionType: s3}
		} else {
			r.Series = Series{ServiceName: s1, SpanName: s2, SpanKind: kind}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("query %s: %w", p.Query.Signal, err)
	}
	return out, now, nil
}

// Query plans qr and runs it. When the Querier has read the signal's tiers before, it plans
// with what it read and checks, in the same round trip, that the tiers still hold that;
// otherwise (the first query, or a rollup or retention run in between, or no rows to carry
// the check) it reads them, plans again and runs the query again.
func (q *Querier) Query(ctx context.Context, qr Query) (Result, error) {
	src, err := q.partsOf(ctx)
	if err != nil {
		return Result{}, err
	}
	if src.distributed() {
		return q.queryShards(ctx, qr)
	}
	q.mu.Lock()
	seen, ok := q.seen[seenKey{q.Database, qr.Signal}]
	q.mu.Unlock()
	if ok {
		p, err := q.plan(qr, seen.avail)
		if err != nil {
			return Result{Plan: p}, err
		}
		// The plan's SQL with the fingerprint of the tiers, read while it runs, as a last column.
		sig, tiers := signals[qr.Signal], signals[qr.Signal].chain(qr.GroupBy, qr.filtered())
		checked, _ := buildSQL(q.Database, qr, sig, tiers, p.Reads,
			"(SELECT fingerprint FROM ("+tierSpansSQL(q.Database, sig, src)+")) AS tiers_now")
		rows, now, err := q.rows(ctx, p, checked, true)
		if err != nil {
			return Result{Plan: p}, err
		}
		if now == seen.fingerprint {
			return Result{Plan: p, Rows: rows}, nil
		}
	}
	p, err := q.Plan(ctx, qr)
	if err != nil {
		return Result{Plan: p}, err
	}
	rows, err := q.Rows(ctx, p)
	return Result{Plan: p, Rows: rows}, err
}
