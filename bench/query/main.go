// Command query times "RED for one service over a week or a month" (requests, errors and
// p50/p95/p99 per hour or day) from weir's tiers through rollup.Querier, at several volumes
// of traffic per service in one database, against the same numbers computed from raw spans.
// One Querier answers the timed queries, as in a long-lived process: after its first query
// each runs its SQL and the check of the tiers side by side (see rollup.Querier); one way
// shows a new Querier per query.
//
// The database must have weir's schema (bench/run-query.sh applies it with `weir schema
// --apply`). The program loads a week of spans server-side (INSERT ... SELECT FROM numbers)
// for services that send 1M, 10M and 100M spans a week (-scales) and background services
// (-others), fills red_1m from them as weir_red would have, copies those minutes back week
// by week into a month of history (-history-days), runs rollup.Job, checks that every tier
// counts the same requests and errors as the raw spans and how far the tier's percentiles
// are from the exact ones, times the ways in interleaved rounds and drops the database
// unless -keep.
package main

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weirhq/weir/rollup"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

var tmpl = template.Must(template.ParseFS(sqlFiles, "sql/*.sql"))

// Targets of issue 14, which the summary table checks the figures against.
const (
	targetTierMs    = 30  // 7 days per hour through the Querier, at every volume
	targetFlat      = 1.5 // the largest volume within this factor of the smallest
	targetMonthMs   = 50  // 30 days, from the day tier and from the hour tier
	targetRawOver   = 50  // raw spans ÷ tier at the middle volume
	targetQuantile  = 2.0 // p95 and p99 within this many percent of exact
	bytesPerSpan    = 38  // spans on 18.16 without codecs (BENCHMARKS.md: 37.5)
	bytesPerRED1m   = 12  // red_1m and the tiers per span of a day they hold, generously
	diskMarginRatio = 1.3 // merges write new parts before they drop old ones
)

var quantiles = []float64{0.5, 0.95, 0.99}

type options struct {
	endpoint, database string
	scales             []uint64
	others             int
	otherSpans         uint64
	days, historyDays  int
	reps               int
	freeKB             uint64
	keep, reuse        bool
}

func main() {
	var o options
	var scales string
	flag.StringVar(&o.endpoint, "endpoint", "tcp://127.0.0.1:19000", "ClickHouse native endpoint")
	flag.StringVar(&o.database, "database", "weir_bench_query", "database with weir's schema; dropped at the end unless -keep")
	flag.StringVar(&scales, "scales", "1M,10M,100M", "spans per week of each measured service (svc-<scale>), smallest first")
	flag.IntVar(&o.others, "others", 20, "background services, so the tables hold other services' rows too")
	flag.Uint64Var(&o.otherSpans, "other-spans", 1_000_000, "spans per week of each background service")
	flag.IntVar(&o.days, "days", 7, "days of spans, ending at 00:00 yesterday (server time zone)")
	flag.IntVar(&o.historyDays, "history-days", 30, "days the tiers hold: the spans' days, then copies of their minutes a week, two weeks, ... earlier")
	flag.IntVar(&o.reps, "reps", 9, "timed rounds (after one untimed warm-up round)")
	flag.Uint64Var(&o.freeKB, "free-kb", 0, "free disk for ClickHouse's data in KiB (bench/run-query.sh passes df's); 0 skips the check")
	flag.BoolVar(&o.keep, "keep", false, "keep the database at the end")
	flag.BoolVar(&o.reuse, "reuse", false, "skip loading when spans already holds the spans of these flags (a database kept with -keep)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var err error
	if o.scales, err = parseScales(scales); err != nil {
		log.Error("bad -scales", "err", err)
		os.Exit(2)
	}
	if o.days < 1 || o.days > 7 || o.historyDays < o.days {
		log.Error("need 1 <= -days <= 7 and -history-days >= -days")
		os.Exit(2)
	}
	if err := run(context.Background(), o, log); err != nil {
		log.Error("query benchmark failed", "err", err)
		os.Exit(1)
	}
}

// parseScales reads "1M,10M,100M" (k, M and G suffixes, or plain numbers), smallest first.
func parseScales(s string) ([]uint64, error) {
	var out []uint64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		mult := uint64(1)
		switch {
		case strings.HasSuffix(f, "k"):
			mult, f = 1_000, strings.TrimSuffix(f, "k")
		case strings.HasSuffix(f, "M"):
			mult, f = 1_000_000, strings.TrimSuffix(f, "M")
		case strings.HasSuffix(f, "G"):
			mult, f = 1_000_000_000, strings.TrimSuffix(f, "G")
		}
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("scale %q: want a positive number with an optional k, M or G", f)
		}
		out = append(out, n*mult)
	}
	if !slices.IsSorted(out) {
		return nil, fmt.Errorf("scales %s: smallest first", s)
	}
	return out, nil
}

// scaleName is n as the scales flag writes it: 1M, 10M, 250k.
func scaleName(n uint64) string {
	for _, u := range []struct {
		div    uint64
		suffix string
	}{{1_000_000_000, "G"}, {1_000_000, "M"}, {1_000, "k"}} {
		if n%u.div == 0 {
			return strconv.FormatUint(n/u.div, 10) + u.suffix
		}
	}
	return strconv.FormatUint(n, 10)
}

// service is one service of the stream and its spans per week.
type service struct {
	name     string
	perWeek  uint64
	measured bool
}

func (o options) services() []service {
	var out []service
	for _, s := range slices.Backward(o.scales) {
		out = append(out, service{name: "svc-" + scaleName(s), perWeek: s, measured: true})
	}
	for i := range o.others {
		out = append(out, service{name: "other-" + strconv.Itoa(i), perWeek: o.otherSpans})
	}
	return out
}

// spans is how many spans o loads.
func (o options) spans() uint64 {
	var week uint64
	for _, s := range o.services() {
		week += s.perWeek
	}
	return week * uint64(o.days) / 7
}

func run(ctx context.Context, o options, log *slog.Logger) (err error) {
	if err := rollup.ValidateDatabase(o.database); err != nil {
		return err
	}
	spans := o.spans()
	need := uint64(float64(spans*bytesPerSpan+spans*bytesPerRED1m*uint64(o.historyDays)/uint64(o.days)) * diskMarginRatio)
	fmt.Printf("%d spans over %d days (%s), tiers over %d days; about %.1f GiB of disk\n", spans, o.days,
		strings.Join(names(o.services()[:len(o.scales)]), ", "), o.historyDays, float64(need)/(1<<30))
	if o.freeKB > 0 && !o.reuse && need/1024 > o.freeKB {
		return fmt.Errorf("%.1f GiB free for ClickHouse's data, about %.1f GiB needed: use smaller -scales", float64(o.freeKB)/(1<<20), float64(need)/(1<<30))
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol:    clickhouse.Native,
		Addr:        []string{strings.TrimPrefix(o.endpoint, "tcp://")},
		Auth:        clickhouse.Auth{Database: "default", Username: "default"},
		DialTimeout: 5 * time.Second,
		ReadTimeout: 60 * time.Minute, // one INSERT ... SELECT loads a day
	})
	if err != nil {
		return fmt.Errorf("connect %s: %w", o.endpoint, err)
	}
	defer conn.Close()
	if err := conn.Ping(ctx); err != nil {
		return fmt.Errorf("connect %s: %w (is ClickHouse running? scripts/clickhouse.sh start)", o.endpoint, err)
	}
	var tables uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name IN ('spans', 'red_1m', 'red_service_1h', 'red_service_1d')", o.database).Scan(&tables); err != nil {
		return fmt.Errorf("check schema: %w", err)
	}
	if tables != 4 {
		return fmt.Errorf("database %s lacks weir's tables: run `bin/weir schema --endpoint %s --database %s --apply` first (bench/run-query.sh does)", o.database, o.endpoint, o.database)
	}
	if !o.keep {
		defer func() {
			if derr := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+o.database); derr != nil {
				err = errors.Join(err, fmt.Errorf("drop database: %w", derr))
			} else {
				log.Info("dropped database", "database", o.database)
			}
		}()
	}

	var tz string
	if err := conn.QueryRow(ctx, "SELECT timezone()").Scan(&tz); err != nil {
		return err
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return err
	}
	now := time.Now().In(loc)
	to := time.Date(now.Year(), now.Month(), now.Day()-1, 0, 0, 0, 0, loc)
	from := to.AddDate(0, 0, -o.days)
	historyFrom := to.AddDate(0, 0, -o.historyDays)
	fmt.Printf("database %s: spans [%s, %s), tiers from %s (%s)\n", o.database,
		from.Format(time.RFC3339), to.Format(time.RFC3339), historyFrom.Format(time.RFC3339), tz)

	var have uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+o.database+".spans").Scan(&have); err != nil {
		return err
	}
	if o.reuse && have == spans {
		fmt.Printf("reusing the %d spans already loaded\n", have)
	} else {
		if have != 0 {
			return fmt.Errorf("%s.spans already holds %d rows: use a fresh database or -reuse", o.database, have)
		}
		if err := load(ctx, conn, o, from, to, historyFrom, log); err != nil {
			return err
		}
	}
	if err := printSizes(ctx, conn, o.database); err != nil {
		return err
	}

	q := &rollup.Querier{Conn: conn, Database: o.database}
	var measured []service
	for _, s := range o.services() {
		if s.measured {
			measured = append(measured, s)
		}
	}
	slices.Reverse(measured) // smallest first
	week := func(s service) rollup.Query {
		return rollup.Query{Signal: rollup.SignalRED, From: from, To: to, Step: time.Hour,
			ServiceNames: []string{s.name}, GroupBy: []string{rollup.GroupService}, Quantiles: quantiles}
	}
	month := func(s service, step time.Duration) rollup.Query {
		return rollup.Query{Signal: rollup.SignalRED, From: historyFrom, To: to, Step: step,
			ServiceNames: []string{s.name}, GroupBy: []string{rollup.GroupService}, Quantiles: quantiles}
	}
	for _, qr := range []rollup.Query{week(measured[0]), month(measured[0], 24*time.Hour), month(measured[0], time.Hour)} {
		plan, err := q.Plan(ctx, qr)
		if err != nil {
			return err
		}
		fmt.Printf("plan, %s at %s: %s\n", qr.To.Sub(qr.From), qr.Step, plan)
		if slices.ContainsFunc(plan.Reads, func(r rollup.Read) bool {
			return r.Table != rollup.TableREDService1h && r.Table != rollup.TableREDService1d
		}) {
			return fmt.Errorf("the plan reads more than the per-service tiers: %s (is the rollup complete?)", plan)
		}
	}

	quality, err := check(ctx, conn, q, o.database, measured, week, from, to, historyFrom)
	if err != nil {
		return err
	}

	rawSQL, err := render("raw_red.sql", map[string]any{"DB": o.database, "From": from.Unix(), "To": to.Unix()})
	if err != nil {
		return err
	}
	countsSQL, err := render("counts_red.sql", map[string]any{"DB": o.database, "From": from.Unix(), "To": to.Unix()})
	if err != nil {
		return err
	}
	querier := func(qr rollup.Query) func() error {
		return func() error { _, err := q.Query(ctx, qr); return err }
	}
	var ways []way
	for _, s := range measured {
		ways = append(ways, way{name: "7 days per hour, rollup.Querier.Query, " + s.name, kind: wayWeek, svc: s, run: querier(week(s))})
	}
	for _, s := range measured {
		ways = append(ways, way{name: "7 days per hour, raw spans, " + s.name, kind: wayRaw, svc: s, run: func() error {
			return drain(ctx, conn, rawSQL, s.name)
		}})
	}
	for _, s := range measured {
		ways = append(ways,
			way{name: fmt.Sprintf("%d days per day, rollup.Querier.Query, %s", o.historyDays, s.name), kind: wayMonthDay, svc: s, run: querier(month(s, 24*time.Hour))},
			way{name: fmt.Sprintf("%d days per hour, rollup.Querier.Query, %s", o.historyDays, s.name), kind: wayMonthHour, svc: s, run: querier(month(s, time.Hour))})
	}
	mid := measured[len(measured)/2]
	ways = append(ways,
		way{name: "7 days per hour, a new rollup.Querier each time (system.parts, then the rows), " + mid.name, run: func() error {
			_, err := (&rollup.Querier{Conn: conn, Database: o.database}).Query(ctx, week(mid))
			return err
		}},
		way{name: "7 days per hour, red_service_1h requests and errors only (no latency), " + mid.name, run: func() error {
			return drain(ctx, conn, countsSQL, mid.name)
		}},
		way{name: "7 days per hour, rollup.Querier.Query with distributions (no Quantiles), " + mid.name, run: func() error {
			qr := week(mid)
			qr.Quantiles = nil
			_, err := q.Query(ctx, qr)
			return err
		}})
	// The pieces of a Querier.Query: its plan's SQL, the check of the tiers that runs beside
	// it (Availability reads the same system.parts rows), and a round trip that reads nothing.
	midPlan, err := q.Plan(ctx, week(mid))
	if err != nil {
		return err
	}
	ways = append(ways,
		way{name: "piece: the plan's SQL alone (rollup.Querier.Rows), " + mid.name, run: func() error {
			_, err := q.Rows(ctx, midPlan)
			return err
		}},
		way{name: "piece: the check of the tiers alone (rollup.Querier.Availability)", run: func() error {
			_, err := q.Availability(ctx, rollup.SignalRED)
			return err
		}},
		way{name: "piece: SELECT 1 (a round trip)", run: func() error {
			return drain(ctx, conn, "SELECT 1")
		}})
	start := time.Now()
	times, err := timeWays(ways, o.reps)
	if err != nil {
		return err
	}
	fmt.Printf("\ntimed %d ways in %d interleaved rounds (after one warm-up) in %s\n", len(ways), o.reps, time.Since(start).Round(time.Second))
	report(ways, times, measured, quality, o)
	return nil
}

func names(ss []service) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%s %s/week", s.name, scaleName(s.perWeek))
	}
	return out
}

// wayKind says which line of the summary a way's time goes to.
type wayKind int

const (
	wayOther wayKind = iota
	wayWeek
	wayRaw
	wayMonthDay
	wayMonthHour
)

// way is one way of answering a query, timed.
type way struct {
	name string
	kind wayKind
	svc  service
	run  func() error
}

// timeWays runs every way once as a warm-up, then reps rounds of all of them, each round in
// a new order (seeded, so reruns use the same orders): no way always follows the same
// neighbour. (A rotation keeps neighbours: the way after the 100M raw query, two seconds of
// both cores, followed it in every round and measured a millisecond or two slower.)
func timeWays(ways []way, reps int) ([][]time.Duration, error) {
	out := make([][]time.Duration, len(ways))
	order := make([]int, len(ways))
	for k := range order {
		order[k] = k
	}
	rng := rand.New(rand.NewPCG(14, 14))
	for r := 0; r <= reps; r++ {
		if r > 0 {
			rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		}
		for _, i := range order {
			t := time.Now()
			if err := ways[i].run(); err != nil {
				return nil, fmt.Errorf("%s: %w", ways[i].name, err)
			}
			if r > 0 {
				out[i] = append(out[i], time.Since(t))
			}
		}
	}
	return out, nil
}

// quality is what check found, per measured service.
type quality struct {
	// hours compared; worst and mean |tier/exact - 1| of p50, p95 and p99 over them.
	hours       int
	worst, mean [3]float64
}

// check compares, for each measured service: every tier's requests and errors per window
// with the raw spans' (and, for the month, with red_1m's); and the Querier's answer to the
// week's query, hour by hour, with the raw spans' counts and exact percentiles. Counts that
// differ are an error; percentiles are measured.
func check(ctx context.Context, conn driver.Conn, q *rollup.Querier, db string, measured []service,
	week func(service) rollup.Query, from, to, historyFrom time.Time) (map[string]quality, error) {
	start := time.Now()
	out := map[string]quality{}
	for _, s := range measured {
		// Every tier per window against the raw spans (the spans' days) and red_1m (the month).
		for _, c := range []struct {
			table, errors, against, againstErrors string
			width                                 int64
			lo                                    time.Time
		}{
			{rollup.TableRED1h, "sumIf(Requests, StatusCode = 2)", rollup.TableSpans, "countIf(StatusCode = 2)", 3600, from},
			{rollup.TableRED1d, "sumIf(Requests, StatusCode = 2)", rollup.TableSpans, "countIf(StatusCode = 2)", 86400, from},
			{rollup.TableREDService1h, "sum(Errors)", rollup.TableSpans, "countIf(StatusCode = 2)", 3600, from},
			{rollup.TableREDService1d, "sum(Errors)", rollup.TableSpans, "countIf(StatusCode = 2)", 86400, from},
			{rollup.TableREDService1h, "sum(Errors)", rollup.TableRED1m, "sumIf(Requests, StatusCode = 2)", 3600, historyFrom},
			{rollup.TableREDService1d, "sum(Errors)", rollup.TableRED1m, "sumIf(Requests, StatusCode = 2)", 86400, historyFrom},
		} {
			got, err := windowCounts(ctx, conn, db, c.table, c.errors, s.name, c.width, c.lo, to)
			if err != nil {
				return nil, err
			}
			want, err := windowCounts(ctx, conn, db, c.against, c.againstErrors, s.name, c.width, c.lo, to)
			if err != nil {
				return nil, err
			}
			if len(want) == 0 || !slices.Equal(got, want) {
				return nil, fmt.Errorf("%s: %s per %ds from %s differs from %s (%d windows, %d)", s.name, c.table, c.width,
					c.lo.Format(time.DateOnly), c.against, len(got), len(want))
			}
		}

		res, err := q.Query(ctx, week(s))
		if err != nil {
			return nil, err
		}
		var qual quality
		for day := from; day.Before(to); day = day.AddDate(0, 0, 1) {
			exact, err := exactRows(ctx, conn, db, s.name, day, day.AddDate(0, 0, 1))
			if err != nil {
				return nil, err
			}
			for _, e := range exact {
				i := slices.IndexFunc(res.Rows, func(r rollup.Row) bool { return r.Bucket.Equal(e.hour) })
				if i < 0 {
					return nil, fmt.Errorf("%s: no tier row for %s", s.name, e.hour.Format(time.RFC3339))
				}
				r := res.Rows[i]
				if r.Requests != e.requests || r.Errors != e.errors {
					return nil, fmt.Errorf("%s %s: tier requests %d errors %d, raw %d and %d", s.name, e.hour.Format(time.RFC3339),
						r.Requests, r.Errors, e.requests, e.errors)
				}
				for k := range quantiles {
					d := math.Abs(r.Quantiles[k]/e.q[k] - 1)
					qual.worst[k] = max(qual.worst[k], d)
					qual.mean[k] += d
				}
				qual.hours++
			}
		}
		if qual.hours != len(res.Rows) {
			return nil, fmt.Errorf("%s: %d hours of raw spans, %d tier rows", s.name, qual.hours, len(res.Rows))
		}
		for k := range qual.mean {
			qual.mean[k] /= float64(qual.hours)
		}
		out[s.name] = qual
		fmt.Printf("check %s: red_1h, red_1d, red_service_1h and red_service_1d count the raw spans' requests and errors in every window; "+
			"the Querier's percentiles against exact ones over %d hours: p50 mean %.2f%% max %.2f%%, p95 mean %.2f%% max %.2f%%, p99 mean %.2f%% max %.2f%%\n",
			s.name, qual.hours, 100*qual.mean[0], 100*qual.worst[0], 100*qual.mean[1], 100*qual.worst[1], 100*qual.mean[2], 100*qual.worst[2])
	}
	fmt.Printf("checks took %s\n", time.Since(start).Round(time.Second))
	return out, nil
}

// windowCounts reads tier_counts.sql: requests and errors per window, in order.
func windowCounts(ctx context.Context, conn driver.Conn, db, table, errs, svc string, width int64, from, to time.Time) ([][3]uint64, error) {
	sql, err := render("tier_counts.sql", map[string]any{"DB": db, "Table": table, "Errors": errs, "Width": width,
		"From": from.Unix(), "To": to.Unix()})
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, sql, svc)
	if err != nil {
		return nil, fmt.Errorf("counts of %s: %w", table, err)
	}
	defer rows.Close()
	var out [][3]uint64
	for rows.Next() {
		var w time.Time
		var r [3]uint64
		if err := rows.Scan(&w, &r[1], &r[2]); err != nil {
			return nil, fmt.Errorf("counts of %s: %w", table, err)
		}
		r[0] = uint64(w.Unix())
		out = append(out, r)
	}
	return out, rows.Err()
}

// exactRow is an hour of exact_red.sql.
type exactRow struct {
	hour             time.Time
	requests, errors uint64
	q                []float64
}

func exactRows(ctx context.Context, conn driver.Conn, db, svc string, from, to time.Time) ([]exactRow, error) {
	sql, err := render("exact_red.sql", map[string]any{"DB": db, "From": from.Unix(), "To": to.Unix()})
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, sql, svc)
	if err != nil {
		return nil, fmt.Errorf("exact quantiles: %w", err)
	}
	defer rows.Close()
	var out []exactRow
	for rows.Next() {
		var r exactRow
		var q []float64
		if err := rows.Scan(&r.hour, &r.requests, &r.errors, &q); err != nil {
			return nil, fmt.Errorf("exact quantiles: %w", err)
		}
		r.q = q
		out = append(out, r)
	}
	return out, rows.Err()
}

// report prints every way's times and the summary against the targets, its last line for
// scripts.
func report(ways []way, times [][]time.Duration, measured []service, qual map[string]quality, o options) {
	fmt.Printf("\n| way | median | min | max |\n|---|---|---|---|\n")
	med := map[wayKind]map[string]time.Duration{}
	for i, w := range ways {
		m := median(times[i])
		fmt.Printf("| %s | %s | %s | %s |\n", w.name, ms(m), ms(slices.Min(times[i])), ms(slices.Max(times[i])))
		if med[w.kind] == nil {
			med[w.kind] = map[string]time.Duration{}
		}
		med[w.kind][w.svc.name] = m
	}
	small, mid, large := measured[0], measured[len(measured)/2], measured[len(measured)-1]
	msOf := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	var weekMax, monthDayMax, monthHourMax float64
	var weekCells, monthCells []string
	for _, s := range measured {
		weekMax = max(weekMax, msOf(med[wayWeek][s.name]))
		monthDayMax = max(monthDayMax, msOf(med[wayMonthDay][s.name]))
		monthHourMax = max(monthHourMax, msOf(med[wayMonthHour][s.name]))
		weekCells = append(weekCells, fmt.Sprintf("%s %s", scaleName(s.perWeek), ms(med[wayWeek][s.name])))
		monthCells = append(monthCells, fmt.Sprintf("%s %s / %s", scaleName(s.perWeek), ms(med[wayMonthDay][s.name]), ms(med[wayMonthHour][s.name])))
	}
	flat := msOf(med[wayWeek][large.name]) / msOf(med[wayWeek][small.name])
	ratio := float64(med[wayRaw][mid.name]) / float64(med[wayWeek][mid.name])
	var qWorst float64
	var qCells []string
	for _, s := range measured {
		ql := qual[s.name]
		qWorst = max(qWorst, ql.worst[1], ql.worst[2])
		qCells = append(qCells, fmt.Sprintf("%s p95 %.2f%% p99 %.2f%%", scaleName(s.perWeek), 100*ql.worst[1], 100*ql.worst[2]))
	}
	var p99Worst float64
	for _, s := range measured {
		p99Worst = max(p99Worst, qual[s.name].worst[2])
	}
	fmt.Printf("\n| | measured (medians) | target | verdict |\n|---|---|---|---|\n")
	fmt.Printf("| 7-day RED per hour for one service through rollup.Querier, by spans per service and week | %s | ≤ %d ms each | %s |\n",
		strings.Join(weekCells, ", "), targetTierMs, verdict(weekMax <= targetTierMs))
	fmt.Printf("| ... flat: %s ÷ %s | %.2fx | ≤ %.1fx | %s |\n", scaleName(large.perWeek), scaleName(small.perWeek), flat, targetFlat, verdict(flat <= targetFlat))
	fmt.Printf("| the same, %d days, per day (day tier) / per hour (hour tier) | %s | ≤ %d ms | %s |\n",
		o.historyDays, strings.Join(monthCells, ", "), targetMonthMs, verdict(max(monthDayMax, monthHourMax) <= targetMonthMs))
	fmt.Printf("| raw spans ÷ tier at %s spans per service and week | %.1fx (raw %s) | ≥ %dx | %s |\n",
		scaleName(mid.perWeek), ratio, ms(med[wayRaw][mid.name]), targetRawOver, verdict(ratio >= targetRawOver))
	fmt.Printf("| p95 and p99 from the tier against exact quantiles of the raw spans, worst hour | %s | within %.0f%% | %s |\n",
		strings.Join(qCells, ", "), targetQuantile, verdict(100*qWorst <= targetQuantile))
	fmt.Printf("| request and error counts from red_1h, red_1d, red_service_1h, red_service_1d against the raw spans | exact in every window | exact | met |\n")
	fmt.Printf("\ntier_ms_30d_day_max=%.2f tier_ms_30d_hour_max=%.2f\n", monthDayMax, monthHourMax)
	// One field per measured scale: with two scales, mid and large are the same service.
	var last strings.Builder
	for _, s := range measured {
		fmt.Fprintf(&last, "tier_ms_%s=%.2f ", scaleName(s.perWeek), msOf(med[wayWeek][s.name]))
	}
	fmt.Printf("%sraw_over_tier_%s=%.1f p99_err_max=%.2f\n", last.String(), scaleName(mid.perWeek), ratio, 100*p99Worst)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// load inserts the spans, one INSERT per day, fills red_1m per day, copies its minutes back
// into the history, and rolls up the coarse tiers.
func load(ctx context.Context, conn driver.Conn, o options, from, to, historyFrom time.Time, log *slog.Logger) error {
	spans := o.spans()
	period := uint64(to.Sub(from).Nanoseconds())
	step := period / spans
	if step == 0 {
		return fmt.Errorf("%d spans do not fit in %s at one per nanosecond", spans, to.Sub(from))
	}
	svcs := o.services()
	unit := svcs[0].perWeek
	for _, s := range svcs {
		unit = gcd(unit, s.perWeek)
	}
	var expr strings.Builder
	expr.WriteString("multiIf(")
	var units uint64
	for i, s := range svcs {
		units += s.perWeek / unit
		if i < len(svcs)-1 {
			fmt.Fprintf(&expr, "u < %d, '%s', ", units, s.name)
		} else {
			fmt.Fprintf(&expr, "'%s')", s.name)
		}
	}
	start := time.Now()
	days := uint64(o.days)
	for d := range days {
		lo, hi := d*spans/days, (d+1)*spans/days
		stmt, err := render("load_spans.sql", map[string]any{
			"DB": o.database, "Services": expr.String(), "Units": units, "FromNs": uint64(from.UnixNano()), "StepNs": step,
			"Offset": lo, "Count": hi - lo,
		})
		if err != nil {
			return err
		}
		t := time.Now()
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("load spans %d..%d: %w", lo, hi, err)
		}
		log.Info("loaded spans", "day", d+1, "rows", hi-lo, "took", time.Since(t).Round(time.Millisecond))
	}
	fmt.Printf("loaded %d spans in %s\n", spans, time.Since(start).Round(time.Second))

	start = time.Now()
	for day := from; day.Before(to); day = day.AddDate(0, 0, 1) {
		stmt, err := render("fill_red_1m.sql", map[string]any{"DB": o.database, "From": day.Unix(), "To": day.AddDate(0, 0, 1).Unix()})
		if err != nil {
			return err
		}
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("fill red_1m for %s: %w", day.Format(time.DateOnly), err)
		}
	}
	fmt.Printf("filled red_1m in %s\n", time.Since(start).Round(time.Second))

	start = time.Now()
	span := to.Sub(from)
	for shift := span; from.Add(span - shift).After(historyFrom); shift += span {
		stmt, err := render("copy_red_1m.sql", map[string]any{"DB": o.database, "From": from.Unix(), "To": to.Unix(),
			"Shift": int64(shift / time.Second), "HistoryFrom": historyFrom.Unix()})
		if err != nil {
			return err
		}
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("copy red_1m %s back: %w", shift, err)
		}
	}
	fmt.Printf("copied red_1m back to %s in %s\n", historyFrom.Format(time.DateOnly), time.Since(start).Round(time.Second))

	start = time.Now()
	job := &rollup.Job{Conn: conn, Database: o.database, Logger: log}
	rep, err := job.Run(ctx, historyFrom, time.Now())
	if err != nil {
		return fmt.Errorf("rollup: %w", err)
	}
	fmt.Printf("rollup.Job rebuilt %d partitions (%d rows) in %s\n", len(rep.Partitions), rep.Rows(), time.Since(start).Round(time.Second))
	return nil
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func render(name string, data any) (string, error) {
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return b.String(), nil
}

// drain runs a query and reads every row without keeping it.
func drain(ctx context.Context, conn driver.Conn, query string, args ...any) error {
	rows, err := conn.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}

func printSizes(ctx context.Context, conn driver.Conn, db string) error {
	rows, err := conn.Query(ctx, "SELECT table, sum(rows), sum(bytes_on_disk), count() FROM system.parts "+
		"WHERE database = ? AND active GROUP BY table ORDER BY table", db)
	if err != nil {
		return fmt.Errorf("table sizes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var table string
		var n, b, parts uint64
		if err := rows.Scan(&table, &n, &b, &parts); err != nil {
			return err
		}
		fmt.Printf("  %-17s %11d rows %9.1f MiB %3d parts\n", table, n, float64(b)/(1<<20), parts)
	}
	return rows.Err()
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}
