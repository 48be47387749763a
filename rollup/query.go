package rollup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weirhq/weir/internal/model"
)

// Signal is the family of tiers a Query reads.
type Signal uint8

const (
	// SignalRED reads red_1m, red_1h and red_1d: requests, errors and latency per service,
	// operation and span kind.
	SignalRED Signal = iota + 1
	// SignalEdges reads edges_1m, edges_1h and edges_1d: calls, failures and latency per
	// service-graph edge.
	SignalEdges
	// SignalSeries is the metric series tiers series_1m, series_1h and series_1d. Their rows
	// are not requests, so PlanQuery and PanelSQL do not query them; Querier.Availability and
	// PanelTiers pick their tiers by the rules that pick RED's.
	SignalSeries
)

// String names the signal.
func (s Signal) String() string {
	switch s {
	case SignalRED:
		return "red"
	case SignalEdges:
		return "edges"
	case SignalSeries:
		return "series"
	}
	return "signal(" + strconv.Itoa(int(s)) + ")"
}

// Series columns a Query can group by, as they are named in the result.
const (
	GroupService        = "service"         // RED: ServiceName
	GroupSpanName       = "span_name"       // RED: SpanName
	GroupSpanKind       = "span_kind"       // RED: SpanKind
	GroupClient         = "client"          // edges: Client
	GroupServer         = "server"          // edges: Server
	GroupConnectionType = "connection_type" // edges: ConnectionType
)

// seriesColumn is one series column of a signal: its stored name, result name and the
// literal it reads as when the query does not group by it.
type seriesColumn struct {
	stored, name, zero string
}

// stepUnit is the window of every signal's finest tier: a step is a whole number of it.
const stepUnit = time.Minute

// signalTiers describes the tiers of a signal and, for the signals PlanQuery queries, the
// columns of their rows.
type signalTiers struct {
	tiers     []queryTier // finest first
	series    []seriesColumn
	count     string // the counter column
	countName string // its name in the result
	failed    string // the condition that makes a row an error
	inner     []string
}

// queryable reports whether PlanQuery and PanelSQL can query the signal.
func (s signalTiers) queryable() bool { return s.count != "" }

// queryTier is one tier: its table and the length of its windows.
type queryTier struct {
	table  string
	window time.Duration
}

var signals = map[Signal]signalTiers{
	SignalRED: {
		tiers: []queryTier{{TableRED1m, stepUnit}, {TableRED1h, time.Hour}, {TableRED1d, 24 * time.Hour}},
		series: []seriesColumn{
			{"ServiceName", GroupService, "''"},
			{"SpanName", GroupSpanName, "''"},
			{"SpanKind", GroupSpanKind, "toUInt8(0)"},
		},
		count:     "Requests",
		countName: "requests",
		failed:    "StatusCode = 2",
		inner:     []string{"Timestamp", "ServiceName", "SpanName", "SpanKind", "StatusCode", "Requests", "DurationSumNano", "ZeroCount", "BucketIndexes", "BucketCounts"},
	},
	SignalEdges: {
		tiers: []queryTier{{TableEdges1m, stepUnit}, {TableEdges1h, time.Hour}, {TableEdges1d, 24 * time.Hour}},
		series: []seriesColumn{
			{"Client", GroupClient, "''"},
			{"Server", GroupServer, "''"},
			{"ConnectionType", GroupConnectionType, "''"},
		},
		count:     "Calls",
		countName: "calls",
		failed:    "Failed != 0",
		inner:     []string{"Timestamp", "Client", "Server", "ConnectionType", "Failed", "Calls", "DurationSumNano", "ZeroCount", "BucketIndexes", "BucketCounts"},
	},
	SignalSeries: {
		tiers: []queryTier{{TableSeries1m, stepUnit}, {TableSeries1h, time.Hour}, {TableSeries1d, 24 * time.Hour}},
	},
}

// Query asks for one signal over [From, To) in buckets of Step, per series.
type Query struct {
	Signal Signal
	// From and To bound the rows read by their Timestamp: From <= Timestamp < To.
	From, To time.Time
	// Step is the bucket width: a positive whole number of minutes. Buckets are aligned to
	// the Unix epoch (intDiv on the epoch seconds), so a 1h step starts on the hour and a 1d
	// step at 00:00 UTC.
	Step time.Duration

	// RED filters; a nil or empty list does not filter.
	ServiceNames []string
	SpanNames    []string
	SpanKinds    []uint8

	// Edge filters; a nil or empty list does not filter.
	Clients         []string
	Servers         []string
	ConnectionTypes []string

	// GroupBy lists the series columns (Group* constants of the signal) the result is split
	// by; nil means all of the signal's: service, span_name, span_kind for RED and client,
	// server, connection_type for edges. Columns not grouped by read as "" or 0.
	GroupBy []string
}

// TierSpan is the time a tier holds rolled-up windows for: [From, To), from the start of its
// oldest window to the end of its newest.
type TierSpan struct {
	From, To time.Time
}

// Availability is what PlanQuery needs to know about the server.
type Availability struct {
	// Location is the server's time zone (the hourly and daily windows are aligned to it);
	// nil means UTC.
	Location *time.Location
	// Tiers holds the span of each coarse tier, by table name. A tier missing here holds no
	// rows and is not read.
	Tiers map[string]TierSpan
}

// Read is one part of a QueryPlan: Table serves [From, To).
type Read struct {
	Table    string
	From, To time.Time
}

// QueryPlan is the SQL that answers a Query and the tiers it reads.
type QueryPlan struct {
	Query Query
	// SQL is one SELECT with a ? placeholder per filter value, bound from Args in order
	// (clickhouse-go binds them client-side, quoting and escaping each). Its columns are:
	// bucket DateTime, three series columns (service, span_name, span_kind for RED; client,
	// server, connection_type for edges), requests (calls for edges) UInt64, errors UInt64,
	// duration_sum_nano Float64, zero_count UInt64, bucket_indexes Array(Int32),
	// bucket_counts Array(UInt64). Rows are ordered by bucket and series.
	SQL  string
	Args []any
	// Reads are the tiers read, in time order; together they cover [From, To) exactly once.
	Reads []Read
}

// Tables lists the tables the plan reads, coarsest first.
func (p QueryPlan) Tables() []string {
	var out []string
	for _, r := range p.Reads {
		if !slices.Contains(out, r.Table) {
			out = append(out, r.Table)
		}
	}
	grain := map[string]time.Duration{}
	for _, st := range signals {
		for _, t := range st.tiers {
			grain[t.table] = t.window
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return grain[out[i]] > grain[out[j]] })
	return out
}

// String describes the reads, EXPLAIN-style: "red_1h [from, to) + red_1m [from, to)".
func (p QueryPlan) String() string {
	parts := make([]string, len(p.Reads))
	for i, r := range p.Reads {
		parts[i] = r.Table + " [" + r.From.UTC().Format(time.RFC3339) + ", " + r.To.UTC().Format(time.RFC3339) + ")"
	}
	return strings.Join(parts, " + ")
}

// PlanQuery picks the tiers for q and writes its SQL, without talking to the server.
//
// The top tier is the coarsest one whose window divides q.Step (and whose windows line up
// with epoch-aligned buckets in the server's time zone). It serves the whole windows of
// [From, To) it has rolled up (avail.Tiers); what lies before or after them, like the last
// hours a daily tier has not rolled up yet or a From that is not on a window boundary, is
// served the same way by the next finer tier, down to the one-minute tier, which serves
// whatever is left.
func PlanQuery(database string, q Query, avail Availability) (QueryPlan, error) {
	if err := ValidateDatabase(database); err != nil {
		return QueryPlan{}, err
	}
	sig, err := q.validate()
	if err != nil {
		return QueryPlan{}, err
	}
	reads := planReads(sig.tiers, q.From, q.To, q.Step, avail)
	plan := QueryPlan{Query: q, Reads: reads}
	plan.SQL, plan.Args = buildSQL(database, q, sig, reads)
	return plan, nil
}

// planReads picks the tiers that serve [from, to) at step (see PlanQuery).
func planReads(tiers []queryTier, from, to time.Time, step time.Duration, avail Availability) []Read {
	loc := avail.Location
	if loc == nil {
		loc = time.UTC
	}
	top := 0
	for i, t := range tiers {
		if step%t.window == 0 && alignedWindows(t.window, loc, from, to) {
			top = i
		}
	}
	return serve(tiers, top, avail.Tiers, from, to, nil)
}

// serve appends the reads that cover [lo, hi) with tiers[:i+1] to out.
func serve(tiers []queryTier, i int, spans map[string]TierSpan, lo, hi time.Time, out []Read) []Read {
	if !lo.Before(hi) {
		return out
	}
	t := tiers[i]
	if i == 0 {
		return appendRead(out, Read{Table: t.table, From: lo, To: hi})
	}
	a, b := ceilTime(lo, t.window), floorTime(hi, t.window)
	if span, ok := spans[t.table]; ok {
		if span.From.After(a) {
			a = span.From
		}
		if span.To.Before(b) {
			b = span.To
		}
	} else {
		b = a // the tier holds nothing
	}
	if !a.Before(b) {
		return serve(tiers, i-1, spans, lo, hi, out)
	}
	out = serve(tiers, i-1, spans, lo, a, out)
	out = appendRead(out, Read{Table: t.table, From: a, To: b})
	return serve(tiers, i-1, spans, b, hi, out)
}

// appendRead appends r, joining it to the last read when that is the same table and ends
// where r starts.
func appendRead(out []Read, r Read) []Read {
	if n := len(out); n > 0 && out[n-1].Table == r.Table && out[n-1].To.Equal(r.From) {
		out[n-1].To = r.To
		return out
	}
	return append(out, r)
}

// alignedWindows reports whether windows of w in loc start on epoch multiples of w around
// from and to, so that whole windows fall into whole epoch-aligned buckets.
func alignedWindows(w time.Duration, loc *time.Location, from, to time.Time) bool {
	sec := int(w / time.Second)
	for _, t := range []time.Time{from, to} {
		if _, off := t.In(loc).Zone(); off%sec != 0 {
			return false
		}
	}
	return true
}

func floorTime(t time.Time, w time.Duration) time.Time {
	s, ws := t.Unix(), int64(w/time.Second)
	f := s - ((s%ws)+ws)%ws
	return time.Unix(f, 0).In(t.Location())
}

func ceilTime(t time.Time, w time.Duration) time.Time {
	f := floorTime(t, w)
	if f.Equal(t) {
		return t
	}
	return f.Add(w)
}

func (q Query) validate() (signalTiers, error) {
	sig, err := querySignal(q.Signal)
	if err != nil {
		return sig, err
	}
	var errs []error
	if !q.From.Before(q.To) {
		errs = append(errs, fmt.Errorf("query: empty range [%s, %s)", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339)))
	}
	if q.Step < stepUnit || q.Step%stepUnit != 0 {
		errs = append(errs, fmt.Errorf("query: step %s is not a positive whole number of minutes", q.Step))
	}
	if q.Signal == SignalRED && (len(q.Clients) > 0 || len(q.Servers) > 0 || len(q.ConnectionTypes) > 0) {
		errs = append(errs, errors.New("query: client, server and connection type filters apply to edges, not RED"))
	}
	if q.Signal == SignalEdges && (len(q.ServiceNames) > 0 || len(q.SpanNames) > 0 || len(q.SpanKinds) > 0) {
		errs = append(errs, errors.New("query: service, span name and span kind filters apply to RED, not edges"))
	}
	errs = append(errs, sig.checkColumns(q.Signal, "group", q.GroupBy)...)
	return sig, errors.Join(errs...)
}

// querySignal describes s, or says why PlanQuery and PanelSQL cannot query it.
func querySignal(s Signal) (signalTiers, error) {
	sig, ok := signals[s]
	if !ok {
		return sig, fmt.Errorf("query: unknown signal %d", s)
	}
	if !sig.queryable() {
		return sig, fmt.Errorf("query: %s has tiers to pick (PanelTiers) but no requests to query", s)
	}
	return sig, nil
}

// checkColumns reports each of names that is not a series column (Group* name) of the
// signal s; what is what the caller meant to do with it ("group", "filter").
func (st signalTiers) checkColumns(s Signal, what string, names []string) []error {
	var errs []error
	for _, n := range names {
		if !slices.ContainsFunc(st.series, func(c seriesColumn) bool { return c.name == n }) {
			cols := make([]string, len(st.series))
			for i, c := range st.series {
				cols[i] = c.name
			}
			errs = append(errs, fmt.Errorf("query: cannot %s %s by %q (one of %s)", what, s, n, strings.Join(cols, ", ")))
		}
	}
	return errs
}

// filterValues are q's filter values by the column they filter.
func (q Query) filterValues() map[string][]any {
	return map[string][]any{
		"ServiceName":    anys(q.ServiceNames),
		"SpanName":       anys(q.SpanNames),
		"SpanKind":       anys(q.SpanKinds),
		"Client":         anys(q.Clients),
		"Server":         anys(q.Servers),
		"ConnectionType": anys(q.ConnectionTypes),
	}
}

func anys[T any](vals []T) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = v
	}
	return out
}

// buildSQL writes the SELECT over reads. Filter values go in as ? placeholders; times and
// the step are integers the code computed.
func buildSQL(database string, q Query, sig signalTiers, reads []Read) (string, []any) {
	values := q.filterValues()
	var filter []string
	var filterArgs []any
	for _, c := range sig.series {
		if v := values[c.stored]; len(v) > 0 {
			filter = append(filter, c.stored+" IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(v)), ", ")+")")
			filterArgs = append(filterArgs, v...)
		}
	}
	sources := make([]source, len(reads))
	var args []any
	for i, r := range reads {
		sources[i] = source{database + "." + r.Table, "Timestamp >= " + sqlTime(r.From) + " AND Timestamp < " + sqlTime(r.To)}
		args = append(args, filterArgs...)
	}
	return selectSQL(sig, q.GroupBy, strconv.FormatInt(int64(q.Step/time.Second), 10), sources, filter), args
}

// source is one sub-select of selectSQL: the rows of table (qualified) that satisfy where.
type source struct {
	table, where string
}

// selectSQL writes the SELECT that answers a query of sig from sources, in buckets of step
// (seconds, as SQL), per the series columns of groupBy (nil: all of them); every condition of
// filter applies to every source. Its columns are those that QueryPlan.SQL documents.
func selectSQL(sig signalTiers, groupBy []string, step string, sources []source, filter []string) string {
	var b strings.Builder
	b.WriteString("SELECT toDateTime(intDiv(toUInt32(Timestamp), " + step + ") * " + step + ") AS bucket")
	var group []string
	for _, c := range sig.series {
		if groupBy == nil || slices.Contains(groupBy, c.name) {
			b.WriteString(",\n       " + c.stored + " AS " + c.name)
			group = append(group, c.name)
		} else {
			b.WriteString(",\n       " + c.zero + " AS " + c.name)
		}
	}
	b.WriteString(",\n       sum(" + sig.count + ") AS " + sig.countName +
		",\n       sumIf(" + sig.count + ", " + sig.failed + ") AS errors" +
		",\n       sum(DurationSumNano) AS duration_sum_nano" +
		",\n       sum(ZeroCount) AS zero_count" +
		",\n       (sumMap(BucketIndexes, BucketCounts) AS merged).1 AS bucket_indexes" +
		",\n       merged.2 AS bucket_counts\nFROM (")
	for i, src := range sources {
		if i > 0 {
			b.WriteString("\n    UNION ALL")
		}
		b.WriteString("\n    SELECT " + strings.Join(sig.inner, ", ") +
			"\n    FROM " + src.table +
			"\n    WHERE " + src.where)
		for _, f := range filter {
			b.WriteString(" AND " + f)
		}
	}
	keys := strings.Join(append([]string{"bucket"}, group...), ", ")
	b.WriteString("\n)\nGROUP BY " + keys + "\nORDER BY " + keys)
	return b.String()
}

// Series identifies a row's series; only the fields of the query's signal and GroupBy are set.
type Series struct {
	ServiceName, SpanName string
	SpanKind              uint8
	Client, Server        string
	ConnectionType        string
}

// Row is one bucket of one series.
type Row struct {
	Bucket time.Time // start of the bucket
	Series Series
	// Requests counts requests (RED) or calls (edges); Errors those with StatusCode 2 (RED)
	// or Failed (edges).
	Requests, Errors uint64
	DurationSumNano  float64
	// Latency is the merged distribution of durations in nanoseconds at model.LatencyScale.
	Latency model.Distribution
}

// Result is a QueryPlan and the rows it returned.
type Result struct {
	Plan QueryPlan
	Rows []Row
}

// Querier runs tier-aware queries against weir's tables. It is safe for concurrent use if
// Conn is.
type Querier struct {
	Conn     driver.Conn
	Database string
	// Logger gets each plan's reads at debug level; nil discards.
	Logger *slog.Logger
}

// partsWithRows picks the parts of system.parts whose min_time and max_time say which
// windows a tier holds: those are the part's least and greatest Timestamp (the partition key's
// column), so reading them reads metadata only. Querier.Availability and the tier plan of
// PanelTiers read the same parts.
const partsWithRows = "active AND rows > 0"

// Availability reads from system.parts which windows the coarse tiers of sig hold, and the
// server's time zone.
func (q *Querier) Availability(ctx context.Context, sig Signal) (Availability, error) {
	st, ok := signals[sig]
	if !ok {
		return Availability{}, fmt.Errorf("query: unknown signal %d", sig)
	}
	if err := ValidateDatabase(q.Database); err != nil {
		return Availability{}, err
	}
	loc, err := serverLocation(ctx, q.Conn)
	if err != nil {
		return Availability{}, err
	}
	av := Availability{Location: loc, Tiers: map[string]TierSpan{}}
	windows := map[string]time.Duration{}
	var names []string
	for _, t := range st.tiers[1:] {
		windows[t.table] = t.window
		names = append(names, t.table)
	}
	src, err := tierParts(ctx, q.Conn, q.Database, names)
	if err != nil {
		return av, err
	}
	var tables []any
	for _, t := range names {
		tables = append(tables, src.holder[t])
	}
	rows, err := q.Conn.Query(ctx, "SELECT table, min(min_time), max(max_time) FROM "+src.parts+" "+
		"WHERE database = ? AND "+partsWithRows+" AND table IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(tables)), ", ")+") GROUP BY table",
		append([]any{q.Database}, tables...)...)
	if err != nil {
		return av, fmt.Errorf("query: read tier spans: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var table string
		var lo, hi time.Time
		if err := rows.Scan(&table, &lo, &hi); err != nil {
			return av, fmt.Errorf("query: read tier spans: %w", err)
		}
		table = strings.TrimSuffix(table, LocalSuffix)
		w := windows[table]
		av.Tiers[table] = TierSpan{From: windowStart(lo, w, loc), To: windowStart(hi, w, loc).Add(w)}
	}
	if err := rows.Err(); err != nil {
		return av, fmt.Errorf("query: read tier spans: %w", err)
	}
	return av, nil
}

// partsSource is where the parts of some tiers are listed.
type partsSource struct {
	parts  string            // system.parts, or cluster('<name>', system, parts) on a cluster
	holder map[string]string // tier -> the table whose parts hold its rows
}

// distributedRe reads a Distributed table's engine_full: cluster, database, table, key.
var distributedRe = regexp.MustCompile(`^Distributed\(([A-Za-z_][A-Za-z0-9_]*), ([A-Za-z_][A-Za-z0-9_]*), ([A-Za-z_][A-Za-z0-9_]*)[,)]`)

// tierParts finds where the parts of the tiers named are: on one server, the tiers' own in
// system.parts; when a tier is a Distributed table (SCHEMA.md, "On a cluster"), its local
// table's, on one replica of every shard of its cluster. A Distributed table has no parts,
// and one server's parts say only what its shard holds. Readers thus need no setting to
// work on a cluster.
func tierParts(ctx context.Context, conn driver.Conn, database string, tiers []string) (partsSource, error) {
	src := partsSource{parts: "system.parts", holder: map[string]string{}}
	for _, t := range tiers {
		src.holder[t] = t
	}
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
		if _, ok := src.holder[name]; !ok {
			continue
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

// Plan picks the tiers for qr from what the server holds now (see PlanQuery).
func (q *Querier) Plan(ctx context.Context, qr Query) (QueryPlan, error) {
	av, err := q.Availability(ctx, qr.Signal)
	if err != nil {
		return QueryPlan{}, err
	}
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
	rows, err := q.Conn.Query(ctx, p.SQL, p.Args...)
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
		dest = append(dest, &r.Requests, &r.Errors, &r.DurationSumNano,
			&r.Latency.ZeroCount, &r.Latency.Indexes, &r.Latency.Counts)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("query %s: scan: %w", p.Query.Signal, err)
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

// Query plans qr and runs it.
func (q *Querier) Query(ctx context.Context, qr Query) (Result, error) {
	p, err := q.Plan(ctx, qr)
	if err != nil {
		return Result{Plan: p}, err
	}
	rows, err := q.Rows(ctx, p)
	return Result{Plan: p, Rows: rows}, err
}
