package rollup

import (
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
)

// indexRow is one row of a TraceIndexBlock, services sorted.
type indexRow struct {
	id         [16]byte
	day        string
	start, end uint64
	spans      uint64
	services   []string
}

func blockRows(b *TraceIndexBlock) []indexRow {
	var out []indexRow
	for r := range b.Len() {
		var svc []string
		for n := b.svcHead[r]; n >= 0; n = b.svc[n].next {
			svc = append(svc, b.svc[n].name)
		}
		sort.Strings(svc)
		out = append(out, indexRow{
			id:    [16]byte(b.ids[r*16 : r*16+16]),
			day:   time.Unix(int64(b.days[r])*24*3600, 0).UTC().Format("2006-01-02"),
			start: b.start[r], end: b.end[r], spans: b.spans[r], services: svc,
		})
	}
	return out
}

func TestTraceIndexBlock_AggregatesPerTraceAndDay(t *testing.T) {
	ns := func(s string) uint64 {
		ts, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return uint64(ts.UnixNano())
	}
	a, c := [16]byte{0xa}, [16]byte{0xc}
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		loc  *time.Location
		want []indexRow
	}{
		{"UTC", nil, []indexRow{
			{a, "2024-03-05", ns("2024-03-05T22:59:59.5Z"), ns("2024-03-05T23:00:02Z"), 3, []string{"cart", "frontend"}},
			{c, "2024-03-05", ns("2024-03-05T23:00:00Z"), ns("2024-03-05T23:00:01Z"), 1, []string{"frontend"}},
			{a, "2024-03-06", ns("2024-03-06T00:00:00Z"), ns("2024-03-06T00:00:01Z"), 1, []string{"cart"}},
		}},
		// An hour ahead of UTC: 23:00Z is already March 6, so trace a's spans split there.
		{"Berlin", berlin, []indexRow{
			{a, "2024-03-05", ns("2024-03-05T22:59:59.5Z"), ns("2024-03-05T23:00:00Z"), 1, []string{"frontend"}},
			{a, "2024-03-06", ns("2024-03-05T23:00:00Z"), ns("2024-03-06T00:00:01Z"), 3, []string{"cart", "frontend"}},
			{c, "2024-03-06", ns("2024-03-05T23:00:00Z"), ns("2024-03-05T23:00:01Z"), 1, []string{"frontend"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewTraceIndexBlock(tc.loc)
			for round := range 2 { // the second round checks that Reset leaves nothing behind
				b.Add(a, ns("2024-03-05T22:59:59.5Z"), ns("2024-03-05T23:00:00Z"), "frontend")
				b.Add(a, ns("2024-03-05T23:00:00Z"), ns("2024-03-05T23:00:02Z"), "cart")
				b.Add(c, ns("2024-03-05T23:00:00Z"), ns("2024-03-05T23:00:01Z"), "frontend")
				b.Add(a, ns("2024-03-05T23:00:01Z"), ns("2024-03-05T23:00:01.5Z"), "frontend")
				b.Add(a, ns("2024-03-06T00:00:00Z"), ns("2024-03-06T00:00:01Z"), "cart")
				assert.Equal(t, tc.want, blockRows(b), "round %d", round)
				assert.Equal(t, 5, b.Spans())
				assert.Equal(t, len(tc.want), b.Len())
				assert.Positive(t, b.Bytes())
				b.Reset()
				assert.Equal(t, 0, b.Len())
				assert.Equal(t, 0, b.Spans())
			}
		})
	}
}

// One trace of many services: each is kept once (a set past svcScanMax, not a scan of the
// whole list per span, which took seconds at this size), across Reset.
func TestTraceIndexBlock_ManyServicesInOneTrace(t *testing.T) {
	b := NewTraceIndexBlock(nil)
	base := uint64(time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC).UnixNano())
	names := make([]string, 40_000)
	for i := range names {
		names[i] = fmt.Sprintf("svc-%d", i)
	}
	for range 2 {
		start := time.Now()
		for i := range 2 * len(names) {
			b.Add([16]byte{1}, base, base+1, names[i%len(names)])
		}
		assert.Less(t, time.Since(start), 2*time.Second)
		rows := blockRows(b)
		require.Len(t, rows, 1)
		want := slices.Clone(names)
		sort.Strings(want)
		assert.Equal(t, want, rows[0].services)
		assert.Equal(t, uint64(2*len(names)), rows[0].spans)
		b.Reset()
	}
}

// The row's Day is the day of the Timestamp the spans table stores (32-bit seconds), also
// for a span after 2106.
func TestTraceIndexBlock_DayOfTheStoredTimestamp(t *testing.T) {
	b := NewTraceIndexBlock(nil)
	start := uint64(5e18) // 2128
	b.Add([16]byte{1}, start, start+1, "s")
	assert.Equal(t, uint16(uint32(start/1e9)/86400), b.days[0])
}

func TestTraceIndexBlock_AddDoesNotAllocate(t *testing.T) {
	b := NewTraceIndexBlock(nil)
	base := uint64(time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC).UnixNano())
	fill := func() {
		b.Reset()
		for i := range 1000 {
			id := [16]byte{byte(i % 97), byte(i % 89)}
			svc := [...]string{"frontend", "cart", "checkout"}[i%3]
			b.Add(id, base+uint64(i), base+uint64(i)+1000, svc)
		}
	}
	fill() // grow the buffers once
	assert.Zero(t, testing.AllocsPerRun(10, fill))
}

// TestTraceIndexWriter_MergesBlocks writes spans of three traces in three blocks, as three
// export calls would, and reads the merged index back.
func TestTraceIndexWriter_MergesBlocks(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	ctx := testContext(t)
	_, err := Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)
	w, err := NewTraceIndexWriter(db.Conn, db.Name)
	require.NoError(t, err)

	base := time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	ids := [3][16]byte{{1}, {2}, {3}}
	b := NewTraceIndexBlock(nil)
	require.NoError(t, w.Write(ctx, b), "an empty block is a no-op")
	for blk := range 3 {
		b.Reset()
		for i := range 10 {
			tr := ids[(blk+i)%3]
			start := base.Add(time.Duration(blk*10+i) * time.Millisecond)
			b.Add(tr, uint64(start.UnixNano()), uint64(start.Add(time.Duration(i+1)*time.Millisecond).UnixNano()),
				[...]string{"a", "b", "c", "d"}[(blk+i)%4])
		}
		require.NoError(t, w.Write(ctx, b))
	}
	assert.Equal(t, uint64(9), db.QueryUint64(t, "SELECT count() FROM "+db.Table(TableTraceIndex)),
		"one row per trace per block before merges")

	// Expected, computed the plain way.
	type agg struct {
		start, end uint64
		count      uint64
		services   map[string]bool
	}
	want := map[[16]byte]*agg{}
	for blk := range 3 {
		for i := range 10 {
			tr := ids[(blk+i)%3]
			start := base.Add(time.Duration(blk*10+i) * time.Millisecond)
			end := start.Add(time.Duration(i+1) * time.Millisecond)
			a := want[tr]
			if a == nil {
				a = &agg{start: ^uint64(0), services: map[string]bool{}}
				want[tr] = a
			}
			a.start = min(a.start, uint64(start.UnixNano()))
			a.end = max(a.end, uint64(end.UnixNano()))
			a.count++
			a.services[[...]string{"a", "b", "c", "d"}[(blk+i)%4]] = true
		}
	}
	for _, id := range ids {
		got, ok := readTraceIndex(t, db, id)
		require.True(t, ok)
		var svc []string
		for s := range want[id].services {
			svc = append(svc, s)
		}
		sort.Strings(svc)
		assert.Equal(t, traceIndexRow{start: want[id].start, end: want[id].end, count: want[id].count, services: svc}, got)
	}

	_, err = NewTraceIndexWriter(db.Conn, "bad-name")
	assert.ErrorContains(t, err, "database name")
}
