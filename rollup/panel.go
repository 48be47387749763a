package rollup

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
)

//go:embed sql/panel/*.sql
var panelFS embed.FS

var panelTemplates = template.Must(template.New("").Option("missingkey=error").ParseFS(panelFS, "sql/panel/*.sql"))

// Panel is where SQL whose range is known only when it runs, such as a Grafana panel's, takes
// its range, interval and database from. Each field is SQL text that goes into the query as
// it is, for the server to evaluate or for a client (Grafana's ClickHouse data source) to
// replace before it sends the query; it is the caller's text, never user data.
type Panel struct {
	// From and To are DateTime expressions bounding the range [From, To), such as the
	// data source's $__fromTime and $__toTime.
	From, To string
	// Interval is an integer expression, the bucket width wanted in seconds, such as
	// $__interval_s. The step is Interval rounded up to whole minutes (Step).
	Interval string
	// Database names the database that holds the tiers: its name, or text the client replaces
	// by it, such as ${database:raw}. It is written before table names and inside a string
	// literal.
	Database string
}

func (p Panel) validate() error {
	var errs []error
	for _, f := range []struct{ name, v string }{{"From", p.From}, {"To", p.To}, {"Interval", p.Interval}, {"Database", p.Database}} {
		if strings.TrimSpace(f.v) == "" {
			errs = append(errs, fmt.Errorf("panel: %s is empty", f.name))
		}
	}
	if strings.ContainsAny(p.Database, "'\\ \t\n;") {
		errs = append(errs, fmt.Errorf("panel: database %q cannot go into a string literal", p.Database))
	}
	return errors.Join(errs...)
}

// Step is the bucket width in seconds, as SQL: Interval rounded up to a whole number of
// minutes, at least one, since a step is whole windows of the finest tier (Query.Step).
func (p Panel) Step() string {
	w := int64(stepUnit / time.Second)
	return fmt.Sprintf("greatest(%d, intDiv(%s + %d, %d) * %d)", w, p.Interval, w-1, w, w)
}

// PanelRead is one tier as panel SQL reads it: the rows of Table (unqualified) for which
// Where holds.
type PanelRead struct {
	Table string
	Where string
}

// PanelTiers is the tier choice of PlanQuery made by the server when the SQL runs: for each
// tier of sig, finest first, the condition on Timestamp that picks the rows a query of
// [p.From, p.To) at p.Step reads from it. Together the tiers read every window of the range
// once, from the tier that PlanQuery picks for the same range and step when the coarse tiers
// hold what system.parts says they hold at that moment (as Querier.Availability reads it), in
// the server's time zone. Each condition reads system.parts (metadata only).
//
// A SELECT over the tiers is one sub-select per tier, "FROM <database>.<Table> WHERE <Where>",
// joined by UNION ALL; PanelSQL writes that SELECT for RED and edges.
//
// These are the tiers of a query that groups by span name; PanelSQL reads the per-service
// tiers for a RED query that neither groups nor filters by it, as PlanQuery does.
func PanelTiers(sig Signal, p Panel) ([]PanelRead, error) {
	st, ok := signals[sig]
	if !ok {
		return nil, fmt.Errorf("panel: unknown signal %d", sig)
	}
	return panelTiers(st.tiers, p)
}

// panelTiers is PanelTiers for a chain of tiers, finest first.
func panelTiers(tiers []queryTier, p Panel) ([]PanelRead, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	coarse, nodes := tierPlan(tiers)
	out := make([]PanelRead, len(tiers))
	for i, t := range tiers {
		// A tier's windows depend on its nodes and the coarser ones: one SELECT per tier,
		// coarser ones inside, so that each refers to the columns of the one inside it
		// rather than to aliases that 18.16 would copy, with what they refer to, into
		// every expression using them.
		plan := planData{From: p.From, To: p.To, Step: p.Step(), Database: p.Database, Parts: partsWithRows, Tiers: coarse}
		indent := strings.Repeat(" ", 18) // where "plan" starts in "where"
		for _, n := range nodes[i:] {
			plan.Levels = append(plan.Levels, planLevel{Indent: indent, Nodes: n})
			indent += "    "
		}
		plan.Indent = indent
		_, startOf := windowSQL(t.window)
		var b bytes.Buffer
		err := panelTemplates.ExecuteTemplate(&b, "where", struct {
			Plan    planData
			StartOf string
			Width   int64
			Nodes   []planNode
		}{plan, startOf, int64(t.window / time.Second), nodes[i]})
		if err != nil {
			return nil, fmt.Errorf("panel: render %s: %w", t.table, err)
		}
		out[i] = PanelRead{Table: t.table, Where: b.String()}
	}
	return out, nil
}

// planData is what sql/panel/tier_plan.sql's "plan" reads.
type planData struct {
	From, To, Step, Database string
	// Parts picks the parts that say what a tier holds.
	Parts string
	// Tiers are the coarse tiers, coarsest first.
	Tiers []planTier
	// Levels are the nodes of each tier, one SELECT each, outermost (finest) first.
	Levels []planLevel
	// Indent is the innermost SELECT's.
	Indent string
}

// planTier is a coarse tier in the plan.
type planTier struct {
	Name  string // prefix of its columns
	Table string
	// Holders are the tables whose parts hold the tier's rows, quoted and joined: the tier
	// itself on one server, its local table on a cluster (the Distributed table has none;
	// each shard runs the plan on its own parts, see tier_plan.sql).
	Holders string
	StartOf string // the ClickHouse function mapping a time to the start of its window
	Width   int64  // window length in seconds
	Coarser string // Name of the next coarser tier; "" for the coarsest
}

// planLevel is the SELECT of one tier's nodes.
type planLevel struct {
	Indent string
	Nodes  []planNode
}

// planNode is one call of serve: its tier serves [A, B) of [Lo, Hi).
type planNode struct {
	Name   string // prefix of its columns
	Tier   string // Name of its coarse tier; "" for the finest tier, which serves all of [Lo, Hi)
	Width  int64  // window length of its tier in seconds
	Last   int64  // Width - 1
	Lo, Hi string // columns of the plan
	A, B   string // columns of the plan
}

// tierPlan lays out the plan of tiers (finest first): the coarse tiers, coarsest first, and
// the nodes of each tier. Columns are named by the tier's place in the chain, since two
// tiers may have windows of the same length.
func tierPlan(tiers []queryTier) ([]planTier, [][]planNode) {
	name := func(prefix string, i int) string { return prefix + strconv.Itoa(i) }
	var coarse []planTier
	for i := len(tiers) - 1; i > 0; i-- {
		t := planTier{Name: name("t", i), Table: tiers[i].table, Width: int64(tiers[i].window / time.Second),
			Holders: "'" + tiers[i].table + "', '" + tiers[i].table + LocalSuffix + "'"}
		_, t.StartOf = windowSQL(tiers[i].window)
		if i < len(tiers)-1 {
			t.Coarser = name("t", i+1)
		}
		coarse = append(coarse, t)
	}
	nodes := make([][]planNode, len(tiers))
	var grow func(i int, path, lo, hi string)
	grow = func(i int, path, lo, hi string) {
		w := int64(tiers[i].window / time.Second)
		n := planNode{Name: name("n", i), Width: w, Last: w - 1, Lo: lo, Hi: hi, A: lo, B: hi}
		if path != "" {
			n.Name += "_" + path
		}
		if i > 0 {
			n.Tier = name("t", i)
			n.A, n.B = n.Name+"_a", n.Name+"_b"
		}
		nodes[i] = append(nodes[i], n)
		if i > 0 {
			grow(i-1, path+"l", lo, n.A)
			grow(i-1, path+"r", n.B, hi)
		}
	}
	grow(len(tiers)-1, "", "lo", "hi")
	return coarse, nodes
}

// windowSQL names a tier's window length and the ClickHouse function that maps a time to the
// start of its window in the server's time zone, as the rollup job computes windows.
func windowSQL(w time.Duration) (name, startOf string) {
	switch w {
	case time.Minute:
		return "1m", "toStartOfMinute"
	case time.Hour:
		return "1h", "toStartOfHour"
	case 24 * time.Hour:
		return "1d", "toStartOfDay"
	}
	panic("rollup: no window function for tiers of " + w.String())
}

// PanelQuery is a Query for panel SQL: its range and step come from a Panel, and its filter
// values are SQL text.
type PanelQuery struct {
	Signal Signal
	// In restricts series columns, by their Group* name, to a list of values: SQL text put
	// into "<column> IN (...)" as it is, such as the Grafana variable ${service:singlequote}.
	// It is spliced, not bound, so it must never hold user data.
	In map[string]string
	// GroupBy lists the series columns the result is split by, as in Query.
	GroupBy []string
	// Quantiles, when not nil, replaces the distribution columns by one column per quantile,
	// as in Query.
	Quantiles []float64
}

// PanelSQL is PlanQuery's SQL for q with the range, step and database of p: the columns,
// buckets, grouping and order that QueryPlan.SQL documents, from one sub-select per tier
// bounded by PanelTiers (or, for RED neither grouped nor filtered by span name, by the same
// plan over the per-service tiers), with the step p.Step. It has no placeholders.
func PanelSQL(q PanelQuery, p Panel) (string, error) {
	sig, err := querySignal(q.Signal)
	if err != nil {
		return "", err
	}
	errs := sig.checkColumns(q.Signal, "filter", slices.Sorted(maps.Keys(q.In)))
	errs = append(errs, sig.checkColumns(q.Signal, "group", q.GroupBy)...)
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	tiers := sig.chain(q.GroupBy, slices.Sorted(maps.Keys(q.In)))
	reads, err := panelTiers(tiers, p)
	if err != nil {
		return "", err
	}
	var filter []string
	for _, c := range sig.series {
		if v, ok := q.In[c.name]; ok {
			filter = append(filter, c.stored+" IN ("+v+")")
		}
	}
	sources := make([]source, len(reads))
	for i, r := range reads {
		sources[i] = source{table: p.Database + "." + r.Table, tier: tiers[i], where: r.Where}
	}
	sel := selection{sig: sig, groupBy: q.GroupBy, step: p.Step(), filter: filter, quantiles: q.Quantiles}
	return sel.mergedSQL(sources), nil
}
