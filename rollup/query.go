package rollup

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

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
	failed    string // the condition that makes a row of a sparse tier an error
	// byService are the tiers, finest first, that a query neither grouping nor filtering by
	// span name or span kind reads (RED only): the per-service tiers, each after the
	// per-operation tier of the same window, which serves the windows the per-service one
	// does not hold (yet: the rollup job builds it from that tier).
	byService []queryTier
	// perOperation are the series columns (Group* names) the per-service tiers lack.
	perOperation []string
}

// queryable reports whether PlanQuery and PanelSQL can query the signal.
func (s signalTiers) queryable() bool { return s.count != "" }

// chain is the tiers, finest first, that a query grouping by groupBy (nil: every series
// column) and filtering the series columns named by filtered reads.
func (s signalTiers) chain(groupBy, filtered []string) []queryTier {
	if s.byService == nil || groupBy == nil {
		return s.tiers
	}
	for _, c := range s.perOperation {
		if slices.Contains(groupBy, c) || slices.Contains(filtered, c) {
			return s.tiers
		}
	}
	return s.byService
}

// allTiers is every tier of the signal, each once.
func (s signalTiers) allTiers() []queryTier {
	out := slices.Clone(s.tiers)
	for _, t := range s.byService {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// queryTier is one tier: its table, the length of its windows and how it stores latency.
type queryTier struct {
	table  string
	window time.Duration
	// dense tiers (the per-service ones) hold errors in an Errors column and each row's
	// distribution as dense counts at QueryScale from BucketOffset; the others hold a
	// status or failure column and sparse scale-6 buckets (BucketIndexes, BucketCounts).
	dense bool
}

var signals = map[Signal]signalTiers{
	SignalRED: {
		tiers: []queryTier{{TableRED1m, stepUnit, false}, {TableRED1h, time.Hour, false}, {TableRED1d, 24 * time.Hour, false}},
		series: []seriesColumn{
			{"ServiceName", GroupService, "''"},
			{"SpanName", GroupSpanName, "''"},
			{"SpanKind", GroupSpanKind, "toUInt8(0)"},
		},
		count:     "Requests",
		countName: "requests",
		failed:    "StatusCode = 2",
		byService: []queryTier{
			{TableRED1m, stepUnit, false},
			{TableRED1h, time.Hour, false}, {TableREDService1h, time.Hour, true},
			{TableRED1d, 24 * time.Hour, false}, {TableREDService1d, 24 * time.Hour, true},
		},
		perOperation: []string{GroupSpanName, GroupSpanKind},
	},
	SignalEdges: {
		tiers: []queryTier{{TableEdges1m, stepUnit, false}, {TableEdges1h, time.Hour, false}, {TableEdges1d, 24 * time.Hour, false}},
		series: []seriesColumn{
			{"Client", GroupClient, "''"},
			{"Server", GroupServer, "''"},
			{"ConnectionType", GroupConnectionType, "''"},
		},
		count:     "Calls",
		countName: "calls",
		failed:    "Failed != 0",
	},
	SignalSeries: {
		tiers: []queryTier{{TableSeries1m, stepUnit, false}, {TableSeries1h, time.Hour, false}, {TableSeries1d, 24 * time.Hour, false}},
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

	// Quantiles, when not nil, has the server compute these quantiles (0 to 1) of each row's
	// latency distribution (QuantileSQL) and return them in Row.Quantiles, in nanoseconds,
	// instead of the distribution: what a panel of percentiles needs, without moving a few
	// hundred bucket counts per row to the client. Row.Latency is then empty.
	Quantiles []float64
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
	// duration_sum_nano Float64, zero_count UInt64, bucket_offset Int32 and bucket_counts
	// Array(UInt64): the latency distribution at QueryScale, bucket_counts[k] durations in
	// bucket bucket_offset+k (k from 0), its first and last element not zero (empty, offset
	// 0, when every duration was zero). With Query.Quantiles, the columns quantile_0,
	// quantile_1, ... Float64 replace bucket_offset and bucket_counts. Rows are ordered by
	// bucket and series.
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
		for _, t := range st.allTiers() {
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
// A RED query that neither groups nor filters by span name or span kind reads the
// per-service tiers (red_service_1h, red_service_1d) where they hold its windows, the
// per-operation ones where they do not (yet); other queries read the per-operation tiers.
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
	tiers := sig.chain(q.GroupBy, q.filtered())
	reads := planReads(tiers, q.From, q.To, q.Step, avail)
	plan := QueryPlan{Query: q, Reads: reads}
	plan.SQL, plan.Args = buildSQL(database, q, sig, tiers, reads)
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

// panelQuery is q as a PanelQuery, its filter values written as SQL literals (strings
// escaped as clickhouse-go escapes a bound string).
func (q Query) panelQuery() PanelQuery {
	pq := PanelQuery{Signal: q.Signal, In: map[string]string{}, GroupBy: q.GroupBy, Quantiles: q.Quantiles}
	for col, vals := range q.filterValues() {
		if len(vals) == 0 {
			continue
		}
		lits := make([]string, len(vals))
		for i, v := range vals {
			if s, ok := v.(string); ok {
				lits[i] = "'" + literalEscaper.Replace(s) + "'"
			} else {
				lits[i] = fmt.Sprint(v)
			}
		}
		i := slices.IndexFunc(signals[q.Signal].series, func(c seriesColumn) bool { return c.stored == col })
		pq.In[signals[q.Signal].series[i].name] = strings.Join(lits, ", ")
	}
	return pq
}

var literalEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

// filtered names (Group* names) the series columns q filters.
func (q Query) filtered() []string {
	values := q.filterValues()
	var out []string
	for _, st := range signals {
		for _, c := range st.series {
			if len(values[c.stored]) > 0 && !slices.Contains(out, c.name) {
				out = append(out, c.name)
			}
		}
	}
	return out
}

func anys[T any](vals []T) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = v
	}
	return out
}

// buildSQL writes the SELECT over reads of tiers. Filter values go in as ? placeholders;
// times and the step are integers the code computed.
func buildSQL(database string, q Query, sig signalTiers, tiers []queryTier, reads []Read) (string, []any) {
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
		k := slices.IndexFunc(tiers, func(t queryTier) bool { return t.table == r.Table })
		sources[i] = source{table: database + "." + r.Table, tier: tiers[k],
			where: "Timestamp >= " + sqlTime(r.From) + " AND Timestamp < " + sqlTime(r.To)}
		args = append(args, filterArgs...)
	}
	sel := selection{sig: sig, groupBy: q.GroupBy, step: strconv.FormatInt(int64(q.Step/time.Second), 10),
		filter: filter, quantiles: q.Quantiles}
	if disjoint(reads, q.Step) {
		return sel.disjointSQL(sources, q.Step), args
	}
	return sel.mergedSQL(sources), args
}

// disjoint reports whether every bucket of step lies in one read: no read ends inside a
// bucket that the next read continues. Then no bucket needs rows of two tiers, which is the
// rule when the step is the window of the plan's top tier.
func disjoint(reads []Read, step time.Duration) bool {
	for _, r := range reads[:len(reads)-1] {
		if !floorTime(r.To, step).Equal(r.To) {
			return false
		}
	}
	return true
}

// source is one sub-select of a selection: the rows of table (qualified) of tier that
// satisfy where.
type source struct {
	table string
	tier  queryTier
	where string
}

// selection is what the SELECT of a query computes: the signal's columns per bucket of step
// (seconds, as SQL) and the series columns of groupBy (nil: all of them), from rows that
// satisfy every condition of filter, with the distribution or, when quantiles is not nil,
// those quantiles of it. Its columns are those that QueryPlan.SQL documents.
type selection struct {
	sig       signalTiers
	groupBy   []string
	step      string
	filter    []string
	quantiles []float64
}

func (s selection) grouped() []seriesColumn {
	var out []seriesColumn
	for _, c := range s.sig.series {
		if s.groupBy == nil || slices.Contains(s.groupBy, c.name) {
			out = append(out, c)
		}
	}
	return out
}

// keys are the columns every SELECT groups and orders by.
func (s selection) keys() string {
	keys := []string{"bucket"}
	for _, c := range s.grouped() {
		keys = append(keys, c.name)
	}
	return strings.Join(keys, ", ")
}

// head is the start of a SELECT: the bucket and every series column, from the stored
// columns (stored true) or from the names a sub-select gave them.
func (s selection) head(stored bool) string {
	var b strings.Builder
	if stored {
		b.WriteString("toDateTime(intDiv(toUInt32(Timestamp), " + s.step + ") * " + s.step + ") AS bucket")
	} else {
		b.WriteString("bucket")
	}
	grouped := s.grouped()
	for _, c := range s.sig.series {
		switch {
		case !slices.Contains(grouped, c):
			b.WriteString(", " + c.zero + " AS " + c.name)
		case stored:
			b.WriteString(", " + c.stored + " AS " + c.name)
		default:
			b.WriteString(", " + c.name)
		}
	}
	return b.String()
}

// latency is the distribution columns of a SELECT whose distribution is the zero count zero
// and dense counts starting at bucket offset: the two columns bucket_offset and
// bucket_counts, or one column per quantile.
func (s selection) latency(zero, offset, counts string) string {
	if s.quantiles == nil {
		return "toInt32(" + offset + ") AS bucket_offset, " + counts + " AS bucket_counts"
	}
	cols := make([]string, len(s.quantiles))
	for k, q := range s.quantiles {
		cols[k] = QuantileSQL(q, "q"+strconv.Itoa(k), zero, offset, counts) + " AS quantile_" + strconv.Itoa(k)
	}
	return strings.Join(cols, ",\n           ")
}

// storedLatency is the distribution columns (latency) of a row of a per-service tier as it is
// stored: the quantiles it stores are read, not computed.
func (s selection) storedLatency() string {
	if s.quantiles == nil {
		return s.latency("ZeroCount", "BucketOffset", "BucketCounts")
	}
	cols := make([]string, len(s.quantiles))
	for k, q := range s.quantiles {
		name := "quantile_" + strconv.Itoa(k)
		if c, ok := storedQuantileColumn(q); ok {
			cols[k] = c + " AS " + name
		} else {
			cols[k] = QuantileSQL(q, "q"+strconv.Itoa(k), "ZeroCount", "BucketOffset", "BucketCounts") + " AS " + name
		}
	}
	return strings.Join(cols, ",\n           ")
}

// trimmed is the distribution columns (latency) of dense counts that start at LatencyOrigin,
// their leading empty buckets cut off.
func (s selection) trimmed(zero, counts string) string {
	if s.quantiles != nil {
		return s.latency(zero, strconv.Itoa(LatencyOrigin), counts)
	}
	// The first non-empty element, k from 1, is bucket LatencyOrigin+k-1.
	first := "(arrayFirstIndex(c -> c > 0, " + counts + " AS merged) AS first)"
	return s.latency(zero, "if("+first+" = 0, 0, "+bucketAt("first")+")",
		"if(first = 0, emptyArrayUInt64(), arraySlice(merged, first))")
}

// where is a source's WHERE clause.
func (s selection) where(src source) string {
	w := "\n    WHERE " + src.where
	for _, f := range s.filter {
		w += " AND " + f
	}
	return w
}

// disjointSQL is the SELECT over sources when each bucket lies in one of them: each source
// computes its rows to the end, and the rows are put in order (one source is the query).
// A row of a per-service tier whose window is the step is already a row of the result when
// the query groups by service (the tier's one series column; the rollup job writes one row
// per service and window): it passes through as it is stored. Otherwise a source sums its
// rows per bucket and series: a dense tier's distributions shifted to start at
// LatencyOrigin and added element by element (sumForEach), a sparse tier's buckets merged
// with sumMap, whose map needs no alignment, and spread out once per group.
func (s selection) disjointSQL(sources []source, step time.Duration) string {
	var b strings.Builder
	indent := "    "
	if len(sources) > 1 {
		b.WriteString("SELECT *\nFROM (")
	} else {
		indent = "" // one source: its SELECT is the query
	}
	for i, src := range sources {
		if i > 0 {
			b.WriteString("\n    UNION ALL")
		}
		if len(sources) > 1 {
			b.WriteString("\n")
		}
		b.WriteString(indent + "SELECT " + s.head(true) + ",\n" + indent + "       ")
		count, failed := s.sig.count, s.sig.failed
		groupsByRow := src.tier.dense && src.tier.window == step && s.groupBy != nil && slices.Contains(s.groupBy, GroupService)
		var cols string
		switch {
		case groupsByRow:
			cols = count + " AS " + s.sig.countName + ", Errors AS errors, DurationSumNano AS duration_sum_nano, ZeroCount AS zero_count,\n           " +
				s.storedLatency()
		case src.tier.dense:
			cols = "sum(" + count + ") AS " + s.sig.countName + ", sum(Errors) AS errors, sum(DurationSumNano) AS duration_sum_nano, sum(ZeroCount) AS zero_count,\n           " +
				s.trimmed("sum(ZeroCount)", MergeLatencySQL("BucketOffset", "BucketCounts"))
		default:
			cols = "sum(" + count + ") AS " + s.sig.countName + ", sumIf(" + count + ", " + failed + ") AS errors, sum(DurationSumNano) AS duration_sum_nano, sum(ZeroCount) AS zero_count,\n           " +
				// The first bucket is the least (m.1 is sorted). Not m.1[1]: a Distributed table
				// passes the query on to its shards formatted, and 18.16 cannot parse its own
				// formatting of a subscript after a tuple element.
				s.latency("sum(ZeroCount)", "arrayReduce('min', ("+downscaledSumMap+" AS m).1)", sparseFromFirstSQL("m"))
		}
		if indent == "" {
			cols = strings.ReplaceAll(cols, "\n    ", "\n")
		}
		b.WriteString(cols + "\n" + indent + "FROM " + src.table + strings.Replace(s.where(src), "\n    ", "\n"+indent, 1))
		if !groupsByRow {
			b.WriteString("\n" + indent + "GROUP BY " + s.keys())
		}
	}
	if len(sources) > 1 {
		b.WriteString("\n)")
	}
	b.WriteString("\nORDER BY " + s.keys())
	return b.String()
}

// mergedSQL is the SELECT over sources when a bucket may take rows from several of them
// (PanelSQL always writes it, since its reads are known only when it runs). The outer SELECT
// sums, per bucket and series, rows whose distributions are dense counts starting at
// LatencyOrigin, element by element (sumForEach). A dense tier's rows are shifted there one
// by one; a sparse tier's rows are first merged per bucket and series in their own
// sub-select with sumMap and spread out once per group, since spreading every row's sparse
// buckets costs more than sumMap does. sumMap over hundreds of buckets per row in many
// groups is what made week-long RED queries slow on 18.16; sumForEach over aligned arrays is
// several times faster.
func (s selection) mergedSQL(sources []source) string {
	var b strings.Builder
	b.WriteString("SELECT " + s.head(false) +
		",\n       sum(n) AS " + s.sig.countName + ", sum(e) AS errors, sum(ds) AS duration_sum_nano, sum(zc) AS zero_count,\n       " +
		strings.ReplaceAll(s.trimmed("zero_count", "sumForEach(counts)"), "\n           ", "\n       ") + "\nFROM (")
	for i, src := range sources {
		if i > 0 {
			b.WriteString("\n    UNION ALL")
		}
		b.WriteString("\n    SELECT toDateTime(intDiv(toUInt32(Timestamp), " + s.step + ") * " + s.step + ") AS bucket")
		for _, c := range s.grouped() {
			b.WriteString(", " + c.stored + " AS " + c.name)
		}
		count := s.sig.count
		if src.tier.dense {
			b.WriteString(",\n           " + count + " AS n, Errors AS e, DurationSumNano AS ds, ZeroCount AS zc,\n           " +
				denseAtOriginSQL("BucketOffset", "BucketCounts") + " AS counts")
		} else {
			b.WriteString(",\n           sum(" + count + ") AS n, sumIf(" + count + ", " + s.sig.failed + ") AS e, sum(DurationSumNano) AS ds, sum(ZeroCount) AS zc,\n           " +
				sparseToOriginSQL() + " AS counts")
		}
		b.WriteString("\n    FROM " + src.table + s.where(src))
		if !src.tier.dense {
			b.WriteString("\n    GROUP BY " + s.keys())
		}
	}
	b.WriteString("\n)\nGROUP BY " + s.keys() + "\nORDER BY " + s.keys())
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
	// Latency is the merged distribution of durations in nanoseconds at QueryScale
	// (Downscale 1); empty when the query asked for Quantiles.
	Latency model.Distribution
	// Quantiles are the query's Quantiles of the distribution, in order, in nanoseconds: 0
	// when the value is in the zero bucket, NaN when the row has no durations.
	Quantiles []float64
}

// Result is a QueryPlan and the rows it returned.
type Result struct {
	Plan QueryPlan
	Rows []Row
}
