package report

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/analyzer/costmap"
	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/rollup"
)

// The scale of the acceptance item "the weekly report over a week of 1h rollups for 1,000
// services runs in under 5 s".
const (
	scaleServices   = 1000
	scaleOperations = 3  // SERVER operations per service
	scaleCallees    = 3  // services each service calls
	scaleDBEvery    = 4  // every 4th service also calls the shared database
	scaleDays       = 14 // 2026-W46 and 2026-W47
	scaleBuildLimit = 5 * time.Second
	scaleDBNode     = "orders-db" // the database's node in the service graph
	scaleDBResource = "db-orders" // its resource in the bill
	scaleDBDaily    = 480.0       // its spend per day
	scaleMiscDaily  = 3.0         // untagged spend per day
)

// scaleSeed is what seedThousand wrote, for the assertions.
type scaleSeed struct {
	db *chtest.DB
	// Of the week 2026-W47: requests and errors of all services, and all spend.
	requests, errors uint64
	spend            float64
	redRows          int
	edgeRows         int
	took             time.Duration
}

func scaleService(i int) string { return fmt.Sprintf("svc-%04d", i) }

// scaleDirect is service i's direct (tagged compute) spend on day d (0 is W46's Monday):
// W47 costs one more a day than W46.
func scaleDirect(i, d int) float64 {
	c := 5 + float64(i%23)
	if d >= 7 {
		c++
	}
	return c
}

// scaleRequests is how many successful requests service i's operation k served in hour h
// (0 is W46's Monday 00:00), and scaleErrors how many failed (operation 0 only).
func scaleRequests(i, k, h int) uint64 { return uint64(20 + (i*7+k*3+h)%40) }
func scaleErrors(i, h int) uint64      { return uint64(1 + (i+h)%3) }

// seedThousand writes, in a fresh migrated database, two weeks (2026-W46 and 2026-W47) of
// 1h rollups for scaleServices services: red_1h (scaleOperations SERVER operations per
// service and hour, plus failed requests of the first one), edges_1h (each service calls
// scaleCallees others, every scaleDBEvery-th one the database node too, with some failed
// calls), the daily tiers derived from them by rollup.Job as production does, and a FOCUS
// bill for the same days: one compute resource per service tagged service=<name>, the shared
// database and one untagged bucket.
func seedThousand(tb testing.TB) *scaleSeed {
	tb.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	db := chtest.New(tb)
	_, err := rollup.Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(tb, err)
	s := &scaleSeed{db: db}
	from := weekFrom.AddDate(0, 0, -7)

	// red_1h and edges_1h in parallel: the server parses one while Go builds the other.
	var wg sync.WaitGroup
	var redErr, edgeErr error
	wg.Add(2)
	go func() { defer wg.Done(); s.redRows, redErr = seedRED(ctx, db, from) }()
	go func() { defer wg.Done(); s.edgeRows, edgeErr = seedEdges(ctx, db, from) }()
	wg.Wait()
	require.NoError(tb, errors.Join(redErr, edgeErr))
	for h := 7 * 24; h < scaleDays*24; h++ {
		for i := range scaleServices {
			for k := range scaleOperations {
				s.requests += scaleRequests(i, k, h)
			}
			s.errors += scaleErrors(i, h)
			s.requests += scaleErrors(i, h)
		}
	}

	// The daily tiers, as the rollup job computes them (red_1m and edges_1m are empty, so the
	// hourly tiers are left as they are).
	job := &rollup.Job{Conn: db.Conn, Database: db.Name, Now: func() time.Time { return weekFrom.AddDate(0, 0, 14) }}
	rep, err := job.Run(ctx, from, weekFrom.AddDate(0, 0, 7))
	require.NoError(tb, err)
	var daily int
	for _, p := range rep.Partitions {
		if p.Table == rollup.TableRED1d || p.Table == rollup.TableEdges1d {
			daily++
		}
	}
	require.Equal(tb, 2, daily, "red_1d and edges_1d rebuilt: %+v", rep.Partitions)

	// The bill.
	w, err := rollup.NewSpendWriter(ctx, db.Conn, db.Name)
	require.NoError(tb, err)
	var b rollup.SpendBlock
	for d := range scaleDays {
		day := from.AddDate(0, 0, d)
		for i := range scaleServices {
			name := scaleService(i)
			r := spendRow(day, "i-"+name, scaleDirect(i, d), "service", name)
			b.Append(&r)
			if d >= 7 {
				s.spend += scaleDirect(i, d)
			}
		}
		shared := spendRow(day, scaleDBResource, scaleDBDaily, "team", "data")
		misc := spendRow(day, "bucket-misc", scaleMiscDaily)
		b.Append(&shared)
		b.Append(&misc)
		if d >= 7 {
			s.spend += scaleDBDaily + scaleMiscDaily
		}
	}
	require.NoError(tb, w.Write(ctx, &b))
	_, err = w.Commit(ctx)
	require.NoError(tb, err)

	s.took = time.Since(start)
	tb.Logf("seeded %d services: %d red_1h rows, %d edges_1h rows, %d spend rows, daily tiers by rollup.Job, in %s",
		scaleServices, s.redRows, s.edgeRows, b.Len(), s.took.Round(time.Millisecond))
	return s
}

// scaleLatency is a latency distribution per row, columnar: two buckets per row, 90 % at
// base and 10 % at 4 × base.
type scaleLatency struct {
	sum     []float64
	zero    []uint64
	indexes [][]int32
	counts  [][]uint64
	flatIdx []int32
	flatCnt []uint64
}

func newScaleLatency(rows int) *scaleLatency {
	return &scaleLatency{
		sum: make([]float64, 0, rows), zero: make([]uint64, 0, rows),
		indexes: make([][]int32, 0, rows), counts: make([][]uint64, 0, rows),
		flatIdx: make([]int32, 0, 2*rows), flatCnt: make([]uint64, 0, 2*rows),
	}
}

func (l *scaleLatency) reset() {
	l.sum, l.zero, l.indexes, l.counts = l.sum[:0], l.zero[:0], l.indexes[:0], l.counts[:0]
	l.flatIdx, l.flatCnt = l.flatIdx[:0], l.flatCnt[:0]
}

func (l *scaleLatency) add(n uint64, base float64) {
	slow := n / 10
	fast := n - slow
	l.sum = append(l.sum, float64(fast)*base+float64(slow)*4*base)
	l.zero = append(l.zero, 0)
	at := len(l.flatIdx)
	l.flatIdx = append(l.flatIdx, model.LatencyBucketIndex(base), model.LatencyBucketIndex(4*base))
	l.flatCnt = append(l.flatCnt, fast, slow)
	cnt := l.flatCnt[at : at+2 : at+2]
	idx := l.flatIdx[at : at+2 : at+2]
	if slow == 0 {
		cnt, idx = cnt[:1], idx[:1]
	}
	l.indexes = append(l.indexes, idx)
	l.counts = append(l.counts, cnt)
}

// sendColumns inserts one block of columns into table.
func sendColumns(ctx context.Context, db *chtest.DB, table, columns string, cols ...any) error {
	batch, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+db.Table(table)+" ("+columns+")")
	if err != nil {
		return fmt.Errorf("%s: %w", table, err)
	}
	for i, c := range cols {
		if err := batch.Column(i).Append(c); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("%s column %d: %w", table, i, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("%s: %w", table, err)
	}
	return nil
}

// seedRED writes red_1h, one block per day (a day is a partition).
func seedRED(ctx context.Context, db *chtest.DB, from time.Time) (int, error) {
	const perDay = 24 * scaleServices * (scaleOperations + 1)
	var (
		ts     = make([]time.Time, 0, perDay)
		svc    = make([]string, 0, perDay)
		op     = make([]string, 0, perDay)
		kind   = make([]uint8, 0, perDay)
		status = make([]uint8, 0, perDay)
		dims   = make([][]string, 0, perDay)
		reqs   = make([]uint64, 0, perDay)
		lat    = newScaleLatency(perDay)
		names  = make([]string, scaleServices)
		ops    = []string{"GET /items", "POST /orders", "GET /health"}
		total  int
	)
	for i := range names {
		names[i] = scaleService(i)
	}
	for d := range scaleDays {
		ts, svc, op, kind, status, dims, reqs = ts[:0], svc[:0], op[:0], kind[:0], status[:0], dims[:0], reqs[:0]
		lat.reset()
		for hh := range 24 {
			h := d*24 + hh
			at := from.Add(time.Duration(h) * time.Hour)
			for i, name := range names {
				base := float64(2+i%97) * 1e6
				row := func(k int, code uint8, n uint64) {
					ts, svc, op = append(ts, at), append(svc, name), append(op, ops[k])
					kind, status = append(kind, 2), append(status, code)
					dims, reqs = append(dims, []string{}), append(reqs, n)
					lat.add(n, base*float64(k+1))
				}
				for k := range scaleOperations {
					row(k, 0, scaleRequests(i, k, h))
				}
				row(0, 2, scaleErrors(i, h))
			}
		}
		if err := sendColumns(ctx, db, rollup.TableRED1h,
			"Timestamp, ServiceName, SpanName, SpanKind, StatusCode, DimKeys, DimValues, Requests, DurationSumNano, ZeroCount, BucketIndexes, BucketCounts",
			ts, svc, op, kind, status, dims, dims, reqs, lat.sum, lat.zero, lat.indexes, lat.counts); err != nil {
			return total, err
		}
		total += len(ts)
	}
	return total, nil
}

// seedEdges writes edges_1h, one block per day: service i calls i+1, i+17 and i+101 (mod
// scaleServices), one call in each of its first edge's hours failing, and every
// scaleDBEvery-th service calls the database node.
func seedEdges(ctx context.Context, db *chtest.DB, from time.Time) (int, error) {
	const perDay = 24 * (scaleServices*(scaleCallees+1) + scaleServices/scaleDBEvery)
	var (
		ts     = make([]time.Time, 0, perDay)
		client = make([]string, 0, perDay)
		server = make([]string, 0, perDay)
		conn   = make([]string, 0, perDay)
		failed = make([]uint8, 0, perDay)
		calls  = make([]uint64, 0, perDay)
		lat    = newScaleLatency(perDay)
		names  = make([]string, scaleServices)
		offset = [scaleCallees]int{1, 17, 101}
		total  int
	)
	for i := range names {
		names[i] = scaleService(i)
	}
	for d := range scaleDays {
		ts, client, server, conn, failed, calls = ts[:0], client[:0], server[:0], conn[:0], failed[:0], calls[:0]
		lat.reset()
		for hh := range 24 {
			h := d*24 + hh
			at := from.Add(time.Duration(h) * time.Hour)
			for i, name := range names {
				edge := func(to, typ string, f uint8, n uint64, base float64) {
					ts, client, server, conn = append(ts, at), append(client, name), append(server, to), append(conn, typ)
					failed, calls = append(failed, f), append(calls, n)
					lat.add(n, base)
				}
				for e, off := range offset {
					callee := (i + off) % scaleServices
					edge(names[callee], "", 0, 5+uint64((i+e+h)%10), float64(2+callee%97)*1e6)
				}
				edge(names[(i+offset[0])%scaleServices], "", 1, 1, 30e6)
				if i%scaleDBEvery == 0 {
					edge(scaleDBNode, "database", 0, 10+uint64((i/scaleDBEvery+h)%20), 3e6)
				}
			}
		}
		if err := sendColumns(ctx, db, rollup.TableEdges1h,
			"Timestamp, Client, Server, ConnectionType, Failed, Calls, DurationSumNano, ZeroCount, BucketIndexes, BucketCounts",
			ts, client, server, conn, failed, calls, lat.sum, lat.zero, lat.indexes, lat.counts); err != nil {
			return total, err
		}
		total += len(ts)
	}
	return total, nil
}

// scaleOptions are the default options plus the shared database, split by the calls to its
// node in the service graph.
func scaleOptions() Options {
	opts := DefaultOptions()
	opts.Costmap.Shared = []costmap.SharedResource{{
		Name: "orders-db", Node: scaleDBNode, Resource: "^" + scaleDBResource + "$", SplitBy: costmap.SplitByCalls,
	}}
	return opts
}

func TestBuild_ThousandServicesUnderFiveSeconds(t *testing.T) {
	s := seedThousand(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	start := time.Now()
	r, err := Build(ctx, s.db.Conn, s.db.Name, week, scaleOptions())
	took := time.Since(start)
	require.NoError(t, err)
	t.Logf("Build over %d services: %s (seeding took %s)", len(r.Services), took.Round(time.Millisecond), s.took.Round(time.Millisecond))

	require.GreaterOrEqual(t, len(r.Services), scaleServices)
	require.Len(t, r.Daily, len(r.Services))
	assert.Equal(t, s.requests, r.Totals.Requests)
	assert.InDelta(t, s.spend, r.Totals.Spend, 1e-6)
	assert.InDelta(t, 7*scaleMiscDaily, r.Totals.Unmapped, 1e-6)
	var errs uint64
	var spend float64
	for _, sr := range r.Services {
		errs += sr.Errors
		spend += sr.Spend
		assert.NotZero(t, sr.P95Ms, sr.Service)
	}
	assert.Equal(t, s.errors, errs)
	// Every cent of the database went to its callers.
	assert.InDelta(t, s.spend-7*scaleMiscDaily, spend, 1e-6)
	first := service(t, r, scaleService(0)) // calls the database
	assert.Greater(t, first.Spend, 7*scaleDirect(0, 7))

	assert.Less(t, took, scaleBuildLimit, "Build over %d services", scaleServices)
}

func BenchmarkBuildThousandServices(b *testing.B) {
	s := seedThousand(b)
	opts := scaleOptions()
	b.Run("week", func(b *testing.B) {
		ctx := context.Background()
		for b.Loop() {
			r, err := Build(ctx, s.db.Conn, s.db.Name, week, opts)
			if err != nil {
				b.Fatal(err)
			}
			if len(r.Services) < scaleServices {
				b.Fatalf("%d services, want %d", len(r.Services), scaleServices)
			}
		}
	})
}
