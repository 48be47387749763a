// Command query times "seven days of RED for one service" (requests, errors and p95 per hour)
// from weir's hourly tier through rollup.Querier against the same numbers computed from raw
// spans, in a database of its own that holds tens of millions of synthetic spans.
//
// The database must have weir's schema (bench/run-query.sh applies it with `weir schema
// --apply`). The program loads spans server-side (INSERT ... SELECT FROM numbers), fills
// red_1m from them as weir_red would have, runs rollup.Job for red_1h and red_1d, checks that
// both ways count the same requests, times both ways in interleaved repetitions and drops the
// database unless -keep.
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
	"os"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/rollup"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

var tmpl = template.Must(template.ParseFS(sqlFiles, "sql/*.sql"))

type options struct {
	endpoint, database, service string
	spans                       uint64
	services, days, reps        int
	keep, reuse, variants       bool
}

func main() {
	var o options
	flag.StringVar(&o.endpoint, "endpoint", "tcp://127.0.0.1:19000", "ClickHouse native endpoint")
	flag.StringVar(&o.database, "database", "weir_bench_query", "database with weir's schema; dropped at the end unless -keep")
	flag.Uint64Var(&o.spans, "spans", 50_000_000, "spans to load")
	flag.IntVar(&o.services, "services", 50, "services the spans are spread over")
	flag.IntVar(&o.days, "days", 7, "days of data, ending at 00:00 yesterday (server time zone)")
	flag.IntVar(&o.reps, "reps", 9, "timed repetitions of each query (after one untimed warm-up)")
	flag.StringVar(&o.service, "service", "svc-7", "the service queried")
	flag.BoolVar(&o.keep, "keep", false, "keep the database at the end")
	flag.BoolVar(&o.reuse, "reuse", false, "skip loading when spans already holds -spans rows (a database kept with -keep)")
	flag.BoolVar(&o.variants, "variants", false, "also time copies of red_1h with a finer index granularity and a coarser histogram")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(context.Background(), o, log); err != nil {
		log.Error("query benchmark failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, log *slog.Logger) (err error) {
	if err := rollup.ValidateDatabase(o.database); err != nil {
		return err
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol:    clickhouse.Native,
		Addr:        []string{strings.TrimPrefix(o.endpoint, "tcp://")},
		Auth:        clickhouse.Auth{Database: "default", Username: "default"},
		DialTimeout: 5 * time.Second,
		ReadTimeout: 30 * time.Minute, // one INSERT ... SELECT loads a day
	})
	if err != nil {
		return fmt.Errorf("connect %s: %w", o.endpoint, err)
	}
	defer conn.Close()
	if err := conn.Ping(ctx); err != nil {
		return fmt.Errorf("connect %s: %w (is ClickHouse running? scripts/clickhouse.sh start)", o.endpoint, err)
	}
	var tables uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name IN ('spans', 'red_1m', 'red_1h', 'red_1d')", o.database).Scan(&tables); err != nil {
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
	fmt.Printf("database %s, %d spans, %d services, [%s, %s) (%s)\n", o.database, o.spans, o.services,
		from.Format(time.RFC3339), to.Format(time.RFC3339), tz)

	var have uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+o.database+".spans").Scan(&have); err != nil {
		return err
	}
	if o.reuse && have == o.spans {
		fmt.Printf("reusing the %d spans already loaded\n", have)
	} else {
		if have != 0 {
			return fmt.Errorf("%s.spans already holds %d rows: use a fresh database or -reuse", o.database, have)
		}
		if err := load(ctx, conn, o, from, to, log); err != nil {
			return err
		}
	}
	if err := printSizes(ctx, conn, o.database); err != nil {
		return err
	}

	q := &rollup.Querier{Conn: conn, Database: o.database}
	qr := rollup.Query{Signal: rollup.SignalRED, From: from, To: to, Step: time.Hour,
		ServiceNames: []string{o.service}, GroupBy: []string{rollup.GroupService}}
	plan, err := q.Plan(ctx, qr)
	if err != nil {
		return err
	}
	fmt.Printf("tier plan: %s\n", plan)
	if slices.ContainsFunc(plan.Reads, func(r rollup.Read) bool { return r.Table != rollup.TableRED1h }) {
		return fmt.Errorf("the plan reads more than red_1h: %s (is the rollup complete?)", plan)
	}
	rawSQL, err := render("raw_red.sql", map[string]any{"DB": o.database, "From": from.Unix(), "To": to.Unix()})
	if err != nil {
		return err
	}

	tier, err := q.Query(ctx, qr)
	if err != nil {
		return err
	}
	raw, err := rawRows(ctx, conn, rawSQL, o.service)
	if err != nil {
		return err
	}
	if err := compare(tier.Rows, raw, o.days*24); err != nil {
		return err
	}

	countsSQL, err := render("counts_red.sql", map[string]any{"DB": o.database, "From": from.Unix(), "To": to.Unix()})
	if err != nil {
		return err
	}
	ways := []way{
		{name: "(a) rollup.Querier.Query: time zone, system.parts, then the red_1h SELECT", run: func() error {
			_, err := q.Query(ctx, qr)
			return err
		}},
		{name: "(a') the plan's SQL alone (Querier.Rows)", run: func() error {
			_, err := q.Rows(ctx, plan)
			return err
		}},
		{name: "(b) raw spans: count, countIf, quantile(0.95)", raw: true, run: func() error {
			_, err := rawRows(ctx, conn, rawSQL, o.service)
			return err
		}},
		{name: "(c) red_1h requests and errors only, no distribution", run: func() error {
			return drain(ctx, conn, countsSQL, o.service)
		}},
	}
	if o.variants {
		vs, err := variantWays(ctx, conn, q, plan, o.database, raw)
		if err != nil {
			return err
		}
		ways = append(ways, vs...)
	}
	times, err := timeWays(ways, o.reps)
	if err != nil {
		return err
	}
	var mr time.Duration
	for i, w := range ways {
		if w.raw {
			mr = median(times[i])
		}
	}
	fmt.Printf("\n7 days of RED for %s, per hour (%d rows); median of %d interleaved runs, each way once per round, the order rotating:\n", o.service, len(raw), o.reps)
	fmt.Printf("| way | median | min | max | raw / this |\n|---|---|---|---|---|\n")
	for i, w := range ways {
		m := median(times[i])
		fmt.Printf("| %s | %s | %s | %s | %.1fx |\n", w.name, ms3(m), ms3(slices.Min(times[i])), ms3(slices.Max(times[i])), float64(mr)/float64(m))
	}
	ratio := float64(mr) / float64(median(times[0]))
	fmt.Printf("\nraw / tier (Querier.Query): %.2fx; target >= 50x: %s\n", ratio, verdict(ratio >= 50))
	return nil
}

// way is one way of answering the query, timed.
type way struct {
	name string
	raw  bool // the baseline the others are divided into
	run  func() error
}

// timeWays runs every way once as a warm-up, then reps rounds of all of them; the order
// rotates each round so no way always follows the same neighbour.
func timeWays(ways []way, reps int) ([][]time.Duration, error) {
	out := make([][]time.Duration, len(ways))
	for r := 0; r <= reps; r++ {
		for k := range ways {
			i := (k + r) % len(ways)
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

// variantWays builds the variant tables of variant_tables.sql and returns the Querier's plan
// SQL run against each, after checking its counts and p95 against the raw spans.
func variantWays(ctx context.Context, conn driver.Conn, q *rollup.Querier, plan rollup.QueryPlan, db string, raw []rawRow) ([]way, error) {
	text, err := render("variant_tables.sql", map[string]any{"DB": db})
	if err != nil {
		return nil, err
	}
	for _, stmt := range strings.Split(text, ";;") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			if err := conn.Exec(ctx, stmt); err != nil {
				return nil, fmt.Errorf("variant tables: %w", err)
			}
		}
	}
	if err := printSizes(ctx, conn, db); err != nil {
		return nil, err
	}
	var out []way
	for _, v := range []struct {
		table string
		scale int
	}{{"red_1h_g256", model.LatencyScale}, {"red_1h_s4", 4}, {"red_1h_s4g256", 4}} {
		p := plan
		p.SQL = strings.ReplaceAll(plan.SQL, db+"."+rollup.TableRED1h+"\n", db+"."+v.table+"\n")
		if p.SQL == plan.SQL {
			return nil, fmt.Errorf("could not point the plan at %s:\n%s", v.table, plan.SQL)
		}
		rows, err := q.Rows(ctx, p)
		if err != nil {
			return nil, err
		}
		var worst float64
		for i, r := range raw {
			if rows[i].Requests != r.requests || rows[i].Errors != r.errors {
				return nil, fmt.Errorf("%s: hour %s counts differ from raw spans", v.table, r.hour.Format(time.RFC3339))
			}
			worst = max(worst, math.Abs(quantileAt(rows[i].Latency, 0.95, v.scale)/r.p95-1))
		}
		fmt.Printf("check %s: same requests and errors as raw spans in every hour; p95 max |diff| %.2f%%\n", v.table, 100*worst)
		out = append(out, way{name: "(d) the plan's SQL against " + v.table, run: func() error {
			_, err := q.Rows(ctx, p)
			return err
		}})
	}
	return out, nil
}

// quantileAt is Distribution.Quantile for a distribution at another scale.
func quantileAt(d model.Distribution, q float64, scale int) float64 {
	v := d.Quantile(q)
	if scale == model.LatencyScale || v == 0 || math.IsNaN(v) {
		return v
	}
	// Quantile returns 2^((i+0.5)/2^LatencyScale) for the bucket index i it found.
	i := math.Round(math.Log2(v)*math.Ldexp(1, model.LatencyScale) - 0.5)
	return math.Exp2((i + 0.5) / math.Ldexp(1, scale))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// load inserts the spans, one INSERT per day, fills red_1m per day and rolls up the coarse
// tiers.
func load(ctx context.Context, conn driver.Conn, o options, from, to time.Time, log *slog.Logger) error {
	// The trace index view would make every INSERT group 7M trace IDs; this benchmark reads
	// spans and the RED tiers only.
	if err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+o.database+".trace_index_mv"); err != nil {
		return fmt.Errorf("drop trace_index_mv: %w", err)
	}
	period := uint64(to.Sub(from).Nanoseconds())
	step := period / o.spans
	if step == 0 {
		return fmt.Errorf("%d spans do not fit in %s at one per nanosecond", o.spans, to.Sub(from))
	}
	start := time.Now()
	days := uint64(o.days)
	for d := range days {
		lo, hi := d*o.spans/days, (d+1)*o.spans/days
		stmt, err := render("load_spans.sql", map[string]any{
			"DB": o.database, "Services": o.services, "FromNs": uint64(from.UnixNano()), "StepNs": step,
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
	fmt.Printf("loaded %d spans in %s\n", o.spans, time.Since(start).Round(time.Second))

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
	job := &rollup.Job{Conn: conn, Database: o.database, Logger: log}
	rep, err := job.Run(ctx, from, time.Now())
	if err != nil {
		return fmt.Errorf("rollup: %w", err)
	}
	fmt.Printf("rollup.Job rebuilt %d partitions (%d rows) in %s\n", len(rep.Partitions), rep.Rows(), time.Since(start).Round(time.Second))
	return nil
}

func render(name string, data any) (string, error) {
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return b.String(), nil
}

// rawRow is an hour of the raw-span query.
type rawRow struct {
	hour             time.Time
	requests, errors uint64
	p95              float64
}

func rawRows(ctx context.Context, conn driver.Conn, query, service string) ([]rawRow, error) {
	rows, err := conn.Query(ctx, query, service)
	if err != nil {
		return nil, fmt.Errorf("raw query: %w", err)
	}
	defer rows.Close()
	var out []rawRow
	for rows.Next() {
		var r rawRow
		if err := rows.Scan(&r.hour, &r.requests, &r.errors, &r.p95); err != nil {
			return nil, fmt.Errorf("raw query: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// compare checks that the tier and the raw spans give the same requests and errors in every
// hour, and reports how far the tier's bucketed p95 is from quantile(0.95) of the raw spans.
func compare(tier []rollup.Row, raw []rawRow, hours int) error {
	if len(tier) != len(raw) || len(raw) != hours {
		return fmt.Errorf("hours: tier %d, raw %d, want %d", len(tier), len(raw), hours)
	}
	var reqs, errs uint64
	var worst, sum float64
	for i, r := range raw {
		t := tier[i]
		if !t.Bucket.Equal(r.hour) || t.Requests != r.requests || t.Errors != r.errors {
			return fmt.Errorf("hour %s: tier %s requests %d errors %d, raw requests %d errors %d",
				r.hour.Format(time.RFC3339), t.Bucket.Format(time.RFC3339), t.Requests, t.Errors, r.requests, r.errors)
		}
		d := math.Abs(t.Latency.Quantile(0.95)/r.p95 - 1)
		worst, sum = max(worst, d), sum+d
		reqs, errs = reqs+r.requests, errs+r.errors
	}
	fmt.Printf("check: the tier and raw spans agree on requests (%d) and errors (%d) in all %d hours; "+
		"p95 from the tier's buckets vs quantile(0.95) of raw spans: mean |diff| %.2f%%, max %.2f%%\n",
		reqs, errs, hours, 100*sum/float64(hours), 100*worst)
	return nil
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
		fmt.Printf("  %-8s %11d rows %9.1f MiB %3d parts\n", table, n, float64(b)/(1<<20), parts)
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

func ms3(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}
