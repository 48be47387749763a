package rollup

// Trace-pattern queries: the reads behind the hotspot rules of analyzer/hotspot (N+1 calls,
// fan-out, chatty edges, retry storms). Each one reads the spans table over [From, To) only,
// names only the columns it needs and groups siblings (spans that share TraceId and
// ParentSpanId) in ClickHouse, so only the groups past a threshold reach Go. Every query runs
// on ClickHouse 18.16.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Span attributes the pattern queries read.
const (
	AttrDBStatement     = "db.statement"              // older semantic conventions
	AttrDBQueryText     = "db.query.text"             // current semantic conventions
	AttrHTTPRoute       = "http.route"                //
	AttrURLTemplate     = "url.template"              //
	AttrHTTPResendCount = "http.request.resend_count" // set on retried HTTP client requests
)

// PeerSQL names what a client span calls the way the weir_red connector names a virtual node
// of the service graph (its default virtual_node_attributes): peer.service, else db.system,
// else messaging.system, else server.address, else ”. For a database call it is the node the
// edges tiers (and a costmap shared resource) know the database by.
var PeerSQL = "multiIf(" + attrExpr("peer.service") + " != '', " + attrExpr("peer.service") + ", " +
	attrExpr("db.system") + " != '', " + attrExpr("db.system") + ", " +
	attrExpr("messaging.system") + " != '', " + attrExpr("messaging.system") + ", " +
	attrExpr("server.address") + ")"

// ParentLookback is how far before From the pattern queries look for the parent span of a
// group of siblings: a parent starts before its children, possibly before the window.
const ParentLookback = time.Hour

// zeroSpanID is the ParentSpanId of a root span.
const zeroSpanID = "toFixedString(unhex('0000000000000000'), 8)"

// attrExpr reads one span attribute (” when missing).
func attrExpr(key string) string {
	return "SpanAttributeValues[indexOf(SpanAttributeKeys, '" + key + "')]"
}

// statementExpr is the span's DB statement: db.statement, else db.query.text, else ”.
var statementExpr = "if(has(SpanAttributeKeys, '" + AttrDBStatement + "'), " + attrExpr(AttrDBStatement) + ", " + attrExpr(AttrDBQueryText) + ")"

// NormalizeStatementSQL wraps a SQL expression yielding a DB statement so that it yields the
// statement's shape: single-quoted literals ('it”s' included) and numbers that stand alone
// (not the 1 of t1) become ?, a list of only placeholders becomes (?), runs of white space
// become one space. "SELECT * FROM t WHERE id IN (1, 2) AND n = 'x'" becomes
// "SELECT * FROM t WHERE id IN (?) AND n = ?". The expression holds ? characters in its
// regular expressions: use it only in queries that bind no arguments, because the driver's
// client-side binding would replace them.
func NormalizeStatementSQL(expr string) string {
	e := "replaceRegexpAll(" + expr + `, '\'(?:[^\']|\'\')*\'', '?')`
	e = "replaceRegexpAll(" + e + `, '\\b[0-9]+(?:\\.[0-9]+)?(?:[eE][-+]?[0-9]+)?\\b', '?')`
	e = "replaceRegexpAll(" + e + `, '\\(\\s*\\?(?:\\s*,\\s*\\?)*\\s*\\)', '(?)')`
	e = "replaceRegexpAll(replaceRegexpAll(" + e + `, '\\s+', ' '), '^ | $', '')`
	return e
}

// CallKeySQL is the SQL expression naming what a client span calls: http.route, else
// url.template, else the span name.
var CallKeySQL = "multiIf(" + attrExpr(AttrHTTPRoute) + " != '', " + attrExpr(AttrHTTPRoute) + ", " +
	attrExpr(AttrURLTemplate) + " != '', " + attrExpr(AttrURLTemplate) + ", toString(SpanName))"

// Parent is the span that a group of siblings hangs under, looked up by ParentSpanId within
// [From-ParentLookback, To). Found is false when that span is not stored there.
type Parent struct {
	Service, Name string
	Kind          uint8
	Found         bool
}

// CallGroupQuery selects groups of sibling calls that repeat the same thing.
type CallGroupQuery struct {
	From, To time.Time
	// MinCalls returns a group with at least this many calls (0: off).
	MinCalls int
	// MinFailing returns a group with at least MinFailing calls of which at least
	// MinFailing-1 failed (StatusCode 2) (0: off).
	MinFailing int
}

// CallGroup is the calls one span made to one thing: the children of one parent span (in one
// trace, of one service) that share a normalized DB statement, or, for client spans without a
// statement, a call key (see CallKeySQL). The arrays hold one entry per call, in no order.
type CallGroup struct {
	TraceID, ParentSpanID string // lowercase hex
	Parent                Parent
	Service               string // the calling service (the children's)
	IsDB                  bool   // Key is a normalized DB statement, else a call key
	Key                   string
	// Peer is what the calls call as the service graph names a virtual node (PeerSQL) —
	// the database of a statement — the most frequent one when they differ; '' if none.
	Peer         string
	Weight       float64 // the average SampleWeight of the calls
	Starts       []uint64
	Durations    []int64
	Statuses     []uint8
	ResendCounts []uint64 // http.request.resend_count, 0 when missing
}

// CallGroups returns the groups of sibling calls in [q.From, q.To) that pass q's thresholds,
// ordered by service, key and trace.
func CallGroups(ctx context.Context, conn driver.Conn, database string, q CallGroupQuery) ([]CallGroup, error) {
	if err := ValidateDatabase(database); err != nil {
		return nil, err
	}
	if !q.From.Before(q.To) {
		return nil, fmt.Errorf("call groups: empty range")
	}
	var having []string
	if q.MinCalls > 0 {
		having = append(having, "count() >= "+strconv.Itoa(q.MinCalls))
	}
	if q.MinFailing > 0 {
		having = append(having, "(count() >= "+strconv.Itoa(q.MinFailing)+" AND countIf(StatusCode = 2) >= "+strconv.Itoa(q.MinFailing-1)+")")
	}
	if len(having) == 0 {
		return nil, fmt.Errorf("call groups: no threshold set")
	}
	inner := "SELECT TraceId, ParentSpanId, ServiceName, IsDB, Key, topK(1)(Peer)[1] AS Peer, avg(SampleWeight) AS Weight,\n" +
		"       groupArray(StartTimeUnixNano) AS Starts, groupArray(DurationNano) AS Durations,\n" +
		"       groupArray(StatusCode) AS Statuses, groupArray(Resends) AS ResendCounts\n" +
		"FROM (\n" +
		"  SELECT TraceId, ParentSpanId, ServiceName, SampleWeight, StartTimeUnixNano, DurationNano, StatusCode,\n" +
		"         " + statementExpr + " AS Stmt, Stmt != '' AS IsDB,\n" +
		"         if(IsDB, " + NormalizeStatementSQL("Stmt") + ", " + CallKeySQL + ") AS Key,\n" +
		"         toUInt64OrZero(" + attrExpr(AttrHTTPResendCount) + ") AS Resends,\n" +
		"         " + PeerSQL + " AS Peer\n" +
		"  FROM " + database + "." + TableSpans + "\n" +
		"  WHERE " + timeRange(q.From, q.To) + " AND ParentSpanId != " + zeroSpanID + "\n" +
		"    AND (SpanKind = 3 OR has(SpanAttributeKeys, '" + AttrDBStatement + "') OR has(SpanAttributeKeys, '" + AttrDBQueryText + "'))\n" +
		")\n" +
		"GROUP BY TraceId, ParentSpanId, ServiceName, IsDB, Key\n" +
		"HAVING " + strings.Join(having, " OR ")
	sql := "SELECT lower(hex(TraceId)), lower(hex(ParentSpanId)), toString(ServiceName), IsDB, Key, Peer, Weight,\n" +
		"       Starts, Durations, Statuses, ResendCounts, ParentService, ParentName, ParentKind, ParentFound\n" +
		"FROM (\n" + inner + "\n) ANY LEFT JOIN (\n" + parentSQL(database, q.From, q.To, inner) + "\n) USING (TraceId, ParentSpanId)\n" +
		"ORDER BY ServiceName, Key, TraceId, ParentSpanId\n" + withinTraceSettings
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("call groups: %w", err)
	}
	defer rows.Close()
	var out []CallGroup
	for rows.Next() {
		var g CallGroup
		var isDB, found uint8
		if err := rows.Scan(&g.TraceID, &g.ParentSpanID, &g.Service, &isDB, &g.Key, &g.Peer, &g.Weight,
			&g.Starts, &g.Durations, &g.Statuses, &g.ResendCounts,
			&g.Parent.Service, &g.Parent.Name, &g.Parent.Kind, &found); err != nil {
			return nil, fmt.Errorf("call groups: scan: %w", err)
		}
		g.IsDB, g.Parent.Found = isDB != 0, found != 0
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("call groups: %w", err)
	}
	return out, nil
}

// ChildCountQuery selects spans with many direct children.
type ChildCountQuery struct {
	From, To time.Time
	// MinChildren returns a parent with at least this many children (0: off).
	MinChildren int
	// MinClientChildren returns a parent with at least this many CLIENT children (of any
	// service; ChildCount.ClientServices tells which) (0: off).
	MinClientChildren int
}

// ChildCount is one span's direct children in [From, To).
type ChildCount struct {
	TraceID, SpanID string // the parent, lowercase hex
	Parent          Parent
	Children        uint64
	Weight          float64  // the average SampleWeight of the children
	ClientServices  []string // the service of each CLIENT child
}

// ChildCounts returns the spans whose direct children in [q.From, q.To) pass q's thresholds,
// ordered by the parent's service and name and the trace.
func ChildCounts(ctx context.Context, conn driver.Conn, database string, q ChildCountQuery) ([]ChildCount, error) {
	if err := ValidateDatabase(database); err != nil {
		return nil, err
	}
	if !q.From.Before(q.To) {
		return nil, fmt.Errorf("child counts: empty range")
	}
	var having []string
	if q.MinChildren > 0 {
		having = append(having, "Children >= "+strconv.Itoa(q.MinChildren))
	}
	if q.MinClientChildren > 0 {
		having = append(having, "length(ClientServices) >= "+strconv.Itoa(q.MinClientChildren))
	}
	if len(having) == 0 {
		return nil, fmt.Errorf("child counts: no threshold set")
	}
	inner := "SELECT TraceId, ParentSpanId, count() AS Children, avg(SampleWeight) AS Weight,\n" +
		"       groupArrayIf(toString(ServiceName), SpanKind = 3) AS ClientServices\n" +
		"FROM " + database + "." + TableSpans + "\n" +
		"WHERE " + timeRange(q.From, q.To) + " AND ParentSpanId != " + zeroSpanID + "\n" +
		"GROUP BY TraceId, ParentSpanId\n" +
		"HAVING " + strings.Join(having, " OR ")
	sql := "SELECT lower(hex(TraceId)), lower(hex(ParentSpanId)), Children, Weight, ClientServices,\n" +
		"       ParentService, ParentName, ParentKind, ParentFound\n" +
		"FROM (\n" + inner + "\n) ANY LEFT JOIN (\n" + parentSQL(database, q.From, q.To, inner) + "\n) USING (TraceId, ParentSpanId)\n" +
		"ORDER BY ParentService, ParentName, TraceId, ParentSpanId\n" + withinTraceSettings
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("child counts: %w", err)
	}
	defer rows.Close()
	var out []ChildCount
	for rows.Next() {
		var c ChildCount
		var found uint8
		if err := rows.Scan(&c.TraceID, &c.SpanID, &c.Children, &c.Weight, &c.ClientServices,
			&c.Parent.Service, &c.Parent.Name, &c.Parent.Kind, &found); err != nil {
			return nil, fmt.Errorf("child counts: scan: %w", err)
		}
		c.Parent.Found = found != 0
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("child counts: %w", err)
	}
	return out, nil
}

// withinTraceSettings ends a query whose IN subquery on spans looks for spans of the same
// trace as the outer query's (parentSQL). On a cluster both read the Distributed spans
// table, which the server's default (distributed_product_mode = 'deny') refuses (code 288).
// Spans are sharded by trace, so every shard can answer the subquery from its own
// spans_local: 'local' does that, exactly and without shipping the subquery's result to
// every shard as 'global' would. On one server the setting changes nothing.
const withinTraceSettings = "SETTINGS distributed_product_mode = 'local'"

// parentSQL reads the parents of the groups that candidates (a query with TraceId and
// ParentSpanId columns) returns, renamed for the join.
func parentSQL(database string, from, to time.Time, candidates string) string {
	return "SELECT TraceId, SpanId AS ParentSpanId, toString(ServiceName) AS ParentService, toString(SpanName) AS ParentName,\n" +
		"       SpanKind AS ParentKind, toUInt8(1) AS ParentFound\n" +
		"FROM " + database + "." + TableSpans + "\n" +
		"WHERE " + timeRange(from.Add(-ParentLookback), to) + "\n" +
		"  AND (TraceId, SpanId) IN (SELECT TraceId, ParentSpanId FROM (\n" + candidates + "\n))"
}

func timeRange(from, to time.Time) string {
	return "Timestamp >= " + sqlTime(from) + " AND Timestamp < " + sqlTime(to)
}

// Operation is a service and span name.
type Operation struct {
	Service, Name string
}

// TracesWithOperation returns, per operation, the weighted number of traces in [from, to)
// with at least one span of that operation: each trace counts its average SampleWeight.
// Operations without spans are missing from the map.
func TracesWithOperation(ctx context.Context, conn driver.Conn, database string, from, to time.Time, ops []Operation) (map[Operation]float64, error) {
	if err := ValidateDatabase(database); err != nil {
		return nil, err
	}
	out := map[Operation]float64{}
	const chunk = 200
	for lo := 0; lo < len(ops); lo += chunk {
		part := ops[lo:min(lo+chunk, len(ops))]
		conds := make([]string, len(part))
		args := make([]any, 0, 2*len(part))
		for i, op := range part {
			conds[i] = "(ServiceName = ? AND SpanName = ?)"
			args = append(args, op.Service, op.Name)
		}
		sql := "SELECT ServiceName, SpanName, sum(W) FROM (\n" +
			"  SELECT ServiceName, SpanName, TraceId, avg(SampleWeight) AS W\n" +
			"  FROM " + database + "." + TableSpans + "\n" +
			"  WHERE " + timeRange(from, to) + " AND (" + strings.Join(conds, " OR ") + ")\n" +
			"  GROUP BY ServiceName, SpanName, TraceId\n" +
			") GROUP BY ServiceName, SpanName"
		if err := func() error {
			rows, err := conn.Query(ctx, sql, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var op Operation
				var w float64
				if err := rows.Scan(&op.Service, &op.Name, &w); err != nil {
					return err
				}
				out[op] = w
			}
			return rows.Err()
		}(); err != nil {
			return nil, fmt.Errorf("traces with operation: %w", err)
		}
	}
	return out, nil
}

// ResentCalls is the spans of one service and call key (see CallKeySQL) in a window whose
// http.request.resend_count is at least the query's minimum: each is a retried request.
type ResentCalls struct {
	Service, Key string
	Weighted     float64  // sum of SampleWeight
	Spans        uint64   // stored spans
	Examples     []string // up to 5 trace IDs, lowercase hex
}

// ResentCallsByOperation sums the spans in [from, to) with http.request.resend_count >=
// minResend (at least 1) per service and call key, ordered by service and key.
func ResentCallsByOperation(ctx context.Context, conn driver.Conn, database string, from, to time.Time, minResend int) ([]ResentCalls, error) {
	if err := ValidateDatabase(database); err != nil {
		return nil, err
	}
	if minResend < 1 {
		minResend = 1
	}
	sql := "SELECT toString(ServiceName) AS Service, " + CallKeySQL + " AS Key, sum(SampleWeight), count(),\n" +
		"       groupArray(5)(lower(hex(TraceId)))\n" +
		"FROM " + database + "." + TableSpans + "\n" +
		"WHERE " + timeRange(from, to) + " AND has(SpanAttributeKeys, '" + AttrHTTPResendCount + "')\n" +
		"  AND toUInt64OrZero(" + attrExpr(AttrHTTPResendCount) + ") >= " + strconv.Itoa(minResend) + "\n" +
		"GROUP BY Service, Key ORDER BY Service, Key"
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("resent calls: %w", err)
	}
	defer rows.Close()
	var out []ResentCalls
	for rows.Next() {
		var r ResentCalls
		if err := rows.Scan(&r.Service, &r.Key, &r.Weighted, &r.Spans, &r.Examples); err != nil {
			return nil, fmt.Errorf("resent calls: scan: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("resent calls: %w", err)
	}
	return out, nil
}
