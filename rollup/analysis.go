package rollup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ServiceCostDay is one service's spend and traffic on one day of a weekly report.
type ServiceCostDay struct {
	Date     time.Time // the day, 00:00 UTC
	Service  string    // "(unmapped)" and "(idle)" carry spend no rule gave a service
	Currency string
	Spend    float64
	Requests uint64
	Errors   uint64
}

// HotspotRow is one finding of a weekly report.
type HotspotRow struct {
	Rank                  uint32
	Rule, Service         string
	Operation, Severity   string
	Currency              string
	ImpactPerWeek         float64
	AvoidableCallsPerWeek float64
	CostPerCall           float64
	Evidence              string // JSON
	ExampleTraceIDs       []string
	Recommendation        string
}

var (
	serviceCostColumns = []string{"Week", "Date", "Service", "Currency", "Spend", "Requests", "Errors", "GeneratedAt"}
	hotspotColumns     = []string{"Week", "GeneratedAt", "Rank", "Rule", "Service", "Operation", "Severity", "Currency",
		"ImpactPerWeek", "AvoidableCallsPerWeek", "CostPerCall", "Evidence", "ExampleTraceIds", "Recommendation"}

	serviceCostStaged = stagedTable{table: TableServiceCost1d, columns: serviceCostColumns, partition: "Week", scope: "Week"}
	hotspotStaged     = stagedTable{table: TableHotspots, columns: hotspotColumns, partition: "Week", scope: "Week"}
)

// WriteAnalysis stores what the weekly report of the ISO week starting on Monday week
// computed: days into service_cost_1d, hotspots into hotspots. Each table's rows of that
// week are replaced as a whole (a staging table swapped in with REPLACE PARTITION), so
// building a week's report again never doubles it, and readers see the old week or the new
// one. A week without hotspots clears that week's hotspots.
func WriteAnalysis(ctx context.Context, conn driver.Conn, database string, week, generatedAt time.Time,
	days []ServiceCostDay, hotspots []HotspotRow) error {
	week = utcDay(week)
	if week.Weekday() != time.Monday {
		return fmt.Errorf("write analysis: week %s does not start on a Monday", week.Format(time.DateOnly))
	}
	gen := generatedAt.UTC().Truncate(time.Second)
	n := len(days)
	cs := struct {
		week, date, gen []time.Time
		service, cur    []string
		spend           []float64
		req, errs       []uint64
	}{}
	for _, d := range days {
		cs.week, cs.date, cs.gen = append(cs.week, week), append(cs.date, utcDay(d.Date)), append(cs.gen, gen)
		cs.service, cs.cur = append(cs.service, d.Service), append(cs.cur, d.Currency)
		cs.spend, cs.req, cs.errs = append(cs.spend, d.Spend), append(cs.req, d.Requests), append(cs.errs, d.Errors)
	}
	if err := replaceWeek(ctx, conn, database, serviceCostStaged, week, n,
		[]any{cs.week, cs.date, cs.service, cs.cur, cs.spend, cs.req, cs.errs, cs.gen}); err != nil {
		return err
	}

	hs := struct {
		week, gen                        []time.Time
		rank                             []uint32
		rule, svc, op, sev, cur, ev, rec []string
		impact, avoid, perCall           []float64
		examples                         [][]string
	}{}
	for _, h := range hotspots {
		hs.week, hs.gen, hs.rank = append(hs.week, week), append(hs.gen, gen), append(hs.rank, h.Rank)
		hs.rule, hs.svc, hs.op = append(hs.rule, h.Rule), append(hs.svc, h.Service), append(hs.op, h.Operation)
		hs.sev, hs.cur = append(hs.sev, h.Severity), append(hs.cur, h.Currency)
		hs.impact, hs.avoid, hs.perCall = append(hs.impact, h.ImpactPerWeek), append(hs.avoid, h.AvoidableCallsPerWeek), append(hs.perCall, h.CostPerCall)
		ex := h.ExampleTraceIDs
		if ex == nil {
			ex = []string{}
		}
		hs.ev, hs.examples, hs.rec = append(hs.ev, h.Evidence), append(hs.examples, ex), append(hs.rec, h.Recommendation)
	}
	return replaceWeek(ctx, conn, database, hotspotStaged, week, len(hotspots),
		[]any{hs.week, hs.gen, hs.rank, hs.rule, hs.svc, hs.op, hs.sev, hs.cur, hs.impact, hs.avoid, hs.perCall, hs.ev, hs.examples, hs.rec})
}

// replaceWeek replaces the rows of week in t's table with rows (columns in t.columns order),
// or drops the week's partition when there are none.
func replaceWeek(ctx context.Context, conn driver.Conn, database string, t stagedTable, week time.Time, rows int, cols []any) error {
	if rows == 0 {
		if err := ValidateDatabase(database); err != nil {
			return err
		}
		// A Date partition key's partition ID is the date as YYYYMMDD.
		if err := conn.Exec(ctx, "ALTER TABLE "+database+"."+t.table+" DROP PARTITION ID '"+week.Format("20060102")+"'"); err != nil {
			return fmt.Errorf("clear week %s of %s.%s (is the schema at version 6 or later? weir schema --apply): %w",
				week.Format(time.DateOnly), database, t.table, err)
		}
		return nil
	}
	s, err := newStagedImport(ctx, conn, database, t)
	if err != nil {
		return err
	}
	if err := s.send(ctx, rows, 0, cols); err != nil {
		return errors.Join(err, s.abort(ctx))
	}
	if _, err := s.commit(ctx, func(context.Context) error { return nil }); err != nil {
		return fmt.Errorf("write %s.%s: %w", database, t.table, err)
	}
	return nil
}
