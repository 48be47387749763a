package rollup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weirhq/weir/internal/model"
)

// Querier runs tier-aware queries against weir's tables. It is safe for concurrent use if
// Conn is; do not copy one after its first use.
//
// Query plans with what the coarse tiers held at the Querier's previous query of the same
// signal, and reads what system.parts says now on a second connection while the plan's SQL
// runs; only when that differs (the rollup job or retention changed a tier in between) does
// Query plan again and run the query again. A dashboard's queries thus take about as long as
// their own SQL, not that plus the check.
type Querier struct {
	Conn     driver.Conn
	Database string
	// Logger gets each plan's reads at debug level; nil discards.
	Logger *slog.Logger

	mu    sync.Mutex
	seen  map[seenKey]seenTiers  // what the last Availability of a signal read
	parts map[string]partsSource // where the tiers' parts are listed, by database
	// plain: the server refused querySettings (a user with readonly = 1 may change no
	// setting), so Rows runs the plans' SQL as it is.
	plain atomic.Bool
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

// tierSpansSQL is a SELECT of a row per coarse tier of st that holds rows: its table (the
// local table's name on a cluster), the oldest and newest Timestamp of its parts, and the
// server's time zone. A flat GROUP BY, and the fingerprint put together by the caller: 18.16
// answers it faster than one row of arrays and a concatenated string (BENCHMARKS.md, issue
// 14), and a dashboard pays it on every query. The database goes in as a literal
// (ValidateDatabase allows only identifier characters).
func tierSpansSQL(database string, st signalTiers, src partsSource) string {
	var tables []string
	for _, t := range st.allTiers() {
		if t.window > stepUnit {
			tables = append(tables, "'"+src.holderOf(t.table)+"'")
		}
	}
	return "SELECT table, min(min_time), max(max_time), timezone() FROM " + src.parts + " " +
		"WHERE database = '" + database + "' AND " + partsWithRows + " AND table IN (" + strings.Join(tables, ", ") + ") " +
		"GROUP BY table"
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
	zone   string            // the server's time zone when tierParts read it
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
// to work on a cluster. It also reads the server's time zone, for plans made before any tier
// holds rows (tierSpansSQL returns it with the rows).
func tierParts(ctx context.Context, conn driver.Conn, database string) (partsSource, error) {
	src := partsSource{parts: "system.parts", holder: map[string]string{}}
	var names, engines []string
	// An aggregate without GROUP BY returns its row when no table matches.
	if err := conn.QueryRow(ctx, "SELECT timezone(), groupArray(name), groupArray(engine_full) FROM system.tables WHERE database = ? AND engine = 'Distributed'",
		database).Scan(&src.zone, &names, &engines); err != nil {
		return src, fmt.Errorf("query: look for Distributed tiers: %w", err)
	}
	for i, name := range names {
		m := distributedRe.FindStringSubmatch(engines[i])
		if m == nil {
			return src, fmt.Errorf("query: tier %s.%s: unexpected engine %q", database, name, engines[i])
		}
		src.parts = "cluster('" + m[1] + "', system, parts)"
		src.holder[name] = m[3]
	}
	return src, nil
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
	src, err := q.partsOf(ctx)
	if err != nil {
		return seenTiers{}, err
	}
	spans, tz, err := readTierSpans(ctx, q.Conn, tierSpansSQL(q.Database, st, src))
	if err != nil {
		return seenTiers{}, err
	}
	if tz == "" { // no tier holds rows yet
		tz = src.zone
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
	fingerprint := tz
	for _, sp := range spans {
		w := windows[sp.tier]
		av.Tiers[sp.tier] = TierSpan{From: windowStart(sp.lo, w, loc), To: windowStart(sp.hi, w, loc).Add(w)}
		fingerprint += " " + sp.tier + " " + strconv.FormatInt(sp.lo.Unix(), 10) + " " + strconv.FormatInt(sp.hi.Unix(), 10)
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

// tierSpan is a row of tierSpansSQL: a tier (by its own name) and the oldest and newest
// Timestamp of its parts.
type tierSpan struct {
	tier   string
	lo, hi time.Time
}

// readTierSpans runs tierSpansSQL's sql and returns its rows sorted by tier, and the server's
// time zone ("" when no tier holds rows).
func readTierSpans(ctx context.Context, conn driver.Conn, sql string) ([]tierSpan, string, error) {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return nil, "", fmt.Errorf("query: read tier spans: %w", err)
	}
	defer rows.Close()
	var spans []tierSpan
	var tz string
	for rows.Next() {
		var sp tierSpan
		if err := rows.Scan(&sp.tier, &sp.lo, &sp.hi, &tz); err != nil {
			return nil, "", fmt.Errorf("query: read tier spans: %w", err)
		}
		// On a cluster the parts are the local tables': the name goes back to the tier's.
		sp.tier = strings.TrimSuffix(sp.tier, LocalSuffix)
		spans = append(spans, sp)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("query: read tier spans: %w", err)
	}
	slices.SortFunc(spans, func(a, b tierSpan) int { return strings.Compare(a.tier, b.tier) })
	return spans, tz, nil
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

// querySettings end the SQL that Rows runs. A tier query reads a few small columns of a few
// parts over and over (a dashboard's panels, a report): the uncompressed cache saves their
// decompression and the opening of their files. The server uses the cache only for reads
// of at most merge_tree_max_rows_to_use_cache rows (1M by default), so a wide read of red_1m
// does not flush it. A SETTINGS clause, not the context's settings: clickhouse.WithSettings would
// replace the caller's.
const querySettings = "\nSETTINGS use_uncompressed_cache = 1"

// codeReadonly is ClickHouse's READONLY: the user may not change settings.
const codeReadonly = 164

// Rows runs a plan and returns its rows.
func (q *Querier) Rows(ctx context.Context, p QueryPlan) ([]Row, error) {
	plain := q.plain.Load()
	var rows driver.Rows
	var err error
	if !plain {
		rows, err = q.Conn.Query(ctx, p.SQL+querySettings, p.Args...)
		var ex *clickhouse.Exception
		if plain = errors.As(err, &ex) && ex.Code == codeReadonly; plain {
			q.plain.Store(true)
		}
	}
	if plain {
		rows, err = q.Conn.Query(ctx, p.SQL, p.Args...)
	}
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", p.Query.Signal, err)
	}
	defer rows.Close()
	var out []Row
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
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("query %s: scan: %w", p.Query.Signal, err)
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
		return nil, fmt.Errorf("query %s: %w", p.Query.Signal, err)
	}
	return out, nil
}

// Query plans qr and runs it. When the Querier has read the signal's tiers before, it plans
// with what it read and, while the plan's SQL runs, reads on another connection what the
// tiers hold now; only when that differs (the first query, or a rollup or retention run in
// between) does it plan again and run the query again. The check costs the server about as
// much as the query's own reads (system.parts lists every part of the tiers, whatever the
// filter; bench/run-query.sh times both), so it runs beside the query rather than before it:
// a scalar subquery would run first and add its time.
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
	if !ok {
		p, err := q.Plan(ctx, qr)
		if err != nil {
			return Result{Plan: p}, err
		}
		rows, err := q.Rows(ctx, p)
		return Result{Plan: p, Rows: rows}, err
	}
	p, err := q.plan(qr, seen.avail)
	if err != nil {
		return Result{Plan: p}, err
	}
	checkCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type check struct {
		now seenTiers
		err error
	}
	checked := make(chan check, 1)
	go func() {
		now, err := q.availability(checkCtx, qr.Signal)
		checked <- check{now, err}
	}()
	rows, err := q.Rows(ctx, p)
	if err != nil {
		cancel()
		<-checked
		return Result{Plan: p}, err
	}
	c := <-checked
	if c.err != nil {
		return Result{Plan: p}, c.err
	}
	if c.now.fingerprint == seen.fingerprint {
		return Result{Plan: p, Rows: rows}, nil
	}
	if p, err = q.plan(qr, c.now.avail); err != nil {
		return Result{Plan: p}, err
	}
	rows, err = q.Rows(ctx, p)
	return Result{Plan: p, Rows: rows}, err
}
