package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/weirhq/weir/analyzer"
	"github.com/weirhq/weir/rollup"
)

// Config configures Run.
type Config struct {
	// OTLPEndpoint is weir's OTLP/gRPC address (host:port).
	OTLPEndpoint string
	// Conn and Database are where weir writes: Run waits for the data there, rolls the
	// tiers up and imports the bill.
	Conn     driver.Conn
	Database string
	// Dir receives the bill (focus-bill.csv), the costmap rules (costmap.yaml) and the
	// ground truth (truth.json).
	Dir string
	// Week is the Monday (UTC) of the report week; the week before it is sent too.
	Week time.Time
	// Scale multiplies the traffic (1: about 35,000 traces and 600,000 spans a week).
	Scale float64
	// Seed makes a run reproducible.
	Seed uint64
	// Progress receives a line every couple of seconds; nil discards.
	Progress io.Writer
	// Wait bounds how long Run waits for weir to store what it sent (default 3 min).
	Wait time.Duration
}

// Result is what Run did.
type Result struct {
	BillFile, CostmapFile, TruthFile string
	Truth                            Truth
}

// Run sends two weeks of the shop's traffic to weir, waits until weir has stored it, rolls
// the 1h and 1d tiers up over those weeks, imports the matching bill and writes the truth.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Scale <= 0 {
		cfg.Scale = 1
	}
	for _, r := range routes {
		if int(float64(r.perWeek)*cfg.Scale) < 1 {
			return Result{}, fmt.Errorf("demo: scale %g leaves %s without traffic; use at least %g",
				cfg.Scale, r.name, 1/float64(r.perWeek))
		}
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 3 * time.Minute
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	week := cfg.Week.UTC().Truncate(24 * time.Hour)
	if week.Weekday() != time.Monday {
		return Result{}, fmt.Errorf("demo: week %s is not a Monday", week.Format(time.DateOnly))
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("demo: %w", err)
	}
	// Fail fast when nothing listens there, instead of retrying for minutes.
	d := net.Dialer{Timeout: 3 * time.Second}
	probe, err := d.DialContext(ctx, "tcp", cfg.OTLPEndpoint)
	if err != nil {
		return Result{}, fmt.Errorf("demo: no weir listening for OTLP/gRPC on %s (start one: make run, or "+
			"bin/weir --config config/weir.yaml): %w", cfg.OTLPEndpoint, err)
	}
	probe.Close()
	if _, err := rollup.Migrate(ctx, cfg.Conn, cfg.Database, 0); err != nil {
		return Result{}, fmt.Errorf("demo: %w", err)
	}
	prev := week.AddDate(0, 0, -7)
	before, err := rollup.CountRequests(ctx, cfg.Conn, cfg.Database, prev, week.AddDate(0, 0, 7))
	if err != nil {
		return Result{}, err
	}

	cc, err := grpc.NewClient(cfg.OTLPEndpoint, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(8<<20)))
	if err != nil {
		return Result{}, fmt.Errorf("demo: OTLP client for %s: %w", cfg.OTLPEndpoint, err)
	}
	defer cc.Close()
	client := ptraceotlp.NewGRPCClient(cc)

	if before > 0 {
		return Result{}, fmt.Errorf("demo: database %s already holds %d requests in %s to %s; the truth would not "+
			"match the report: run the demo into a fresh database (WEIR_CLICKHOUSE_DATABASE) or drop this one",
			cfg.Database, before, prev.Format(time.DateOnly), week.AddDate(0, 0, 7).Format(time.DateOnly))
	}
	tallies := [2]*tally{newTally(), newTally()}
	var sentSpans atomic.Int64
	for w, start := range []time.Time{prev, week} {
		if err := sendWeek(ctx, cfg, client, tallies[w], w, start, &sentSpans); err != nil {
			return Result{}, err
		}
	}

	// Wait until every request is counted in red_1m (weir flushes its windows every 15 s)
	// and every span is stored (each trace passes weir's sampler: its head-sampling
	// threshold is stricter than weir's baseline), then roll the tiers up over both weeks.
	var want float64
	for _, t := range tallies {
		for _, n := range t.requests {
			want += n
		}
	}
	if err := waitFor(ctx, cfg, "requests counted in red_1m", uint64(math.Round(want)), func() (uint64, error) {
		return rollup.CountRequests(ctx, cfg.Conn, cfg.Database, prev, week.AddDate(0, 0, 7))
	}); err != nil {
		return Result{}, err
	}
	if err := waitFor(ctx, cfg, "spans stored", uint64(sentSpans.Load()), func() (uint64, error) {
		return rollup.CountSpans(ctx, cfg.Conn, cfg.Database, prev, week.AddDate(0, 0, 7))
	}); err != nil {
		return Result{}, err
	}
	fmt.Fprintf(cfg.Progress, "demo: rolling up the 1h and 1d tiers of %s to %s\n", prev.Format(time.DateOnly), week.AddDate(0, 0, 7).Format(time.DateOnly))
	job := &rollup.Job{Conn: cfg.Conn, Database: cfg.Database, Grace: time.Minute}
	if _, err := job.Run(ctx, prev, week.AddDate(0, 0, 7)); err != nil {
		return Result{}, fmt.Errorf("demo: rollup: %w", err)
	}

	res := Result{
		BillFile:    filepath.Join(cfg.Dir, "focus-bill.csv"),
		CostmapFile: filepath.Join(cfg.Dir, "costmap.yaml"),
		TruthFile:   filepath.Join(cfg.Dir, "truth.json"),
	}
	if err := writeBill(res.BillFile, prev, week, cfg.Scale); err != nil {
		return Result{}, err
	}
	if err := os.WriteFile(res.CostmapFile, []byte(costmapYAML), 0o644); err != nil {
		return Result{}, fmt.Errorf("demo: %w", err)
	}
	rep, err := analyzer.Import(ctx, cfg.Conn, cfg.Database, []string{res.BillFile}, analyzer.ImportOptions{})
	if err != nil {
		return Result{}, fmt.Errorf("demo: import the bill: %w", err)
	}
	rows, bad := rep.Rows()
	if bad > 0 {
		return Result{}, fmt.Errorf("demo: the bill had %d bad rows", bad)
	}
	fmt.Fprintf(cfg.Progress, "demo: imported the bill: %d rows\n", rows)

	res.Truth = truth(tallies, week, cfg.Scale)
	res.Truth.Totals.Spans = int(sentSpans.Load())
	data, err := json.MarshalIndent(res.Truth, "", "  ")
	if err != nil {
		return Result{}, fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(res.TruthFile, append(data, '\n'), 0o644); err != nil {
		return Result{}, fmt.Errorf("demo: %w", err)
	}
	return res, nil
}

// generate builds the week w (0: before the report, 1: the report week) starting at start,
// hour by hour, tallying it into t, and hands each batch of about 4,000 spans to emit (which
// may keep it). It stops early when emit returns false. progress is called after each hour
// with the traces generated so far and the week's total.
func generate(scale float64, seed uint64, t *tally, w int, start time.Time, emit func(ptrace.Traces, int) bool,
	progress func(done, total int)) {
	var counts [][168]int
	total := 0
	for _, r := range routes {
		c := hourlyCounts(int(float64(r.perWeek) * scale))
		counts = append(counts, c)
		for _, n := range c {
			total += n
		}
	}
	g := &gen{rng: rand.New(rand.NewPCG(seed, uint64(w)+1)), week: w, t: t, b: newBatch()}
	done := 0
	flush := func() bool {
		if g.b.spans == 0 {
			return true
		}
		t.spans += g.b.spans
		ok := emit(g.b.td, g.b.spans)
		g.b = newBatch()
		return ok
	}
	for h := range 168 {
		hour := start.Add(time.Duration(h) * time.Hour)
		for ri, r := range routes {
			n := counts[ri][h]
			for j := range n {
				at := hour.Add(time.Duration(float64(j) / float64(n) * float64(time.Hour)))
				g.trace(r, at)
				done++
				if g.b.spans >= 4000 && !flush() {
					return
				}
			}
		}
		if progress != nil {
			progress(done, total)
		}
	}
	flush()
}

// sendWeek generates one week and sends it with two senders.
func sendWeek(ctx context.Context, cfg Config, client ptraceotlp.GRPCClient, t *tally, w int, start time.Time, spans *atomic.Int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan ptrace.Traces, 4)
	var wg sync.WaitGroup
	var sendErr error
	var once sync.Once
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for td := range batches {
				if ctx.Err() != nil {
					continue // drain: a failed send stopped the week
				}
				if err := export(ctx, client, td); err != nil {
					once.Do(func() { sendErr = err; cancel() })
				}
			}
		}()
	}

	label := fmt.Sprintf("week of %s", start.Format(time.DateOnly))
	began, last := time.Now(), time.Now()
	var sent, total int
	generate(cfg.Scale, cfg.Seed, t, w, start, func(td ptrace.Traces, n int) bool {
		spans.Add(int64(n))
		select {
		case batches <- td:
			return true
		case <-ctx.Done():
			return false
		}
	}, func(done, all int) {
		sent, total = done, all
		if time.Since(last) >= 2*time.Second {
			last = time.Now()
			fmt.Fprintf(cfg.Progress, "demo: %s: %d/%d traces (%d%%), %.0f spans/s\n", label, done, all, 100*done/max(all, 1),
				float64(spans.Load())/time.Since(began).Seconds())
		}
	})
	close(batches)
	wg.Wait()
	if sendErr != nil {
		return fmt.Errorf("demo: send the %s: %w", label, sendErr)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fmt.Fprintf(cfg.Progress, "demo: %s: %d of %d traces sent in %.1fs\n", label, sent, total, time.Since(began).Seconds())
	return nil
}

// export sends one request, retrying what weir asks to be retried (memory limiter,
// queue full, unavailable) with backoff.
func export(ctx context.Context, client ptraceotlp.GRPCClient, td ptrace.Traces) error {
	req := ptraceotlp.NewExportRequestFromTraces(td)
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		resp, err := client.Export(cctx, req)
		cancel()
		if err == nil {
			if ps := resp.PartialSuccess(); ps.RejectedSpans() > 0 {
				return fmt.Errorf("weir rejected %d spans: %s", ps.RejectedSpans(), ps.ErrorMessage())
			}
			return nil
		}
		// Only what weir refused before counting it is sent again (a timeout is not: weir may
		// have taken it, and the truth would count it twice).
		switch status.Code(err) {
		case codes.Unavailable, codes.ResourceExhausted, codes.Aborted:
			if attempt < 30 {
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
					return ctx.Err()
				}
				backoff = min(2*backoff, 5*time.Second)
				continue
			}
		}
		return fmt.Errorf("OTLP export: %w", err)
	}
}

// waitFor polls get until it reaches want, printing progress.
func waitFor(ctx context.Context, cfg Config, what string, want uint64, get func() (uint64, error)) error {
	deadline := time.Now().Add(cfg.Wait)
	for {
		got, err := get()
		if err != nil {
			return err
		}
		if got >= want {
			fmt.Fprintf(cfg.Progress, "demo: %s: %d of %d\n", what, got, want)
			if got > want {
				// A request weir took and whose answer was lost was sent again.
				fmt.Fprintf(cfg.Progress, "demo: warning: %d more than sent (a retried request counted twice, or an earlier "+
					"run's data replayed from weir's persistent queue); "+
					"the truth may be off by that much\n", got-want)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: waited %s for weir: %s %d of %d (is weir writing to database %s?)",
				cfg.Wait, what, got, want, cfg.Database)
		}
		fmt.Fprintf(cfg.Progress, "demo: waiting for weir: %s %d of %d\n", what, got, want)
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sortedKeys returns m's keys sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
