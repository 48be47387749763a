package chblock

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// servicesOf is row r's distinct services, sorted.
func servicesOf(b *TraceIndexBlock, r int) []string {
	var out []string
	for n := b.svcHead[r]; n >= 0; n = b.svc[n].next {
		nd := b.svc[n]
		out = append(out, string(b.names[nd.off:nd.off+nd.n]))
	}
	slices.Sort(out)
	return out
}

// One trace with a span for each of many services (a request of n resources, each its own
// service.name) is linear: the row's services were a list that each span walked whole, 3.4 s
// for 40,000 spans.
func TestTraceIndexBlock_ManyServicesInOneTrace(t *testing.T) {
	const n = 40_000 // 80,000 spans: 6 s before, on 2 cores
	b := NewTraceIndexBlock(time.UTC)
	names := make([][]byte, n)
	for i := range names {
		names[i] = fmt.Appendf(nil, "service-%d", i)
	}
	ns := uint64(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).UnixNano())
	id := [16]byte{1}
	t0 := time.Now()
	for i := range names {
		b.AddBytes(id, ns+uint64(i), ns+uint64(i)+1, names[i])
	}
	for i := range names { // each again: already there
		b.Add(id, ns, ns, string(names[i]))
	}
	took := time.Since(t0)
	t.Logf("%d spans: %v", 2*n, took)
	assert.Less(t, took, 2*time.Second, "%d spans of distinct services in one trace", 2*n)
	require.Equal(t, 1, b.Rows())
	assert.Equal(t, uint64(2*n), b.spans[0])
	got := servicesOf(b, 0)
	require.Len(t, got, n)
	want := make([]string, n)
	for i := range names {
		want[i] = string(names[i])
	}
	slices.Sort(want)
	assert.Equal(t, want, got)
}

// A row's distinct services against a set per row, on random spans: rows of few services
// (the linear scan) and of many (the index, built when a row outgrows the scan), names
// through Add and AddBytes, across Reset.
func TestTraceIndexBlock_ServicesAsASet(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	b := NewTraceIndexBlock(time.UTC)
	ns := uint64(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).UnixNano())
	for round := range 3 {
		want := map[[16]byte]map[string]bool{}
		for range 30_000 {
			id := [16]byte{byte(r.IntN(40))}
			// Trace i draws from i*3 services: a few rows stay short, most outgrow the scan.
			svc := fmt.Sprintf("s%d", r.IntN(int(id[0])*3+1))
			if r.IntN(50) == 0 {
				svc = "" // an empty name is a name too
			}
			if r.IntN(2) == 0 {
				b.Add(id, ns, ns, svc)
			} else {
				b.AddBytes(id, ns, ns, []byte(svc))
			}
			if want[id] == nil {
				want[id] = map[string]bool{}
			}
			want[id][svc] = true
		}
		require.Equal(t, len(want), b.Rows(), "round %d", round)
		for row := range b.Rows() {
			id := [16]byte(b.ids[row*16 : row*16+16])
			var w []string
			for s := range want[id] {
				w = append(w, s)
			}
			slices.Sort(w)
			require.Equal(t, w, servicesOf(b, row), "round %d, trace %x", round, id[0])
			require.Equal(t, int32(len(w)), b.svcN[row])
		}
		b.Reset()
	}
}

// Two names of one row whose hashes collide are both kept: the index probes past a slot
// that holds another name. The collision is made by hand: no real one is at hand.
func TestTraceIndexBlock_ServiceHashCollision(t *testing.T) {
	b := NewTraceIndexBlock(time.UTC)
	id := [16]byte{7}
	for i := range svcScanMax + 1 {
		b.Add(id, 1, 2, fmt.Sprint("s", i))
	}
	require.NotNil(t, b.svcAt, "the row is indexed")
	// "x" hashes where "s0" is: take its slot as if it did.
	h := b.hashString("x")
	s0 := b.svcAt[svcKey{row: 0, h: b.hashString("s0")}]
	require.Equal(t, "s0", string(b.names[b.svc[s0].off:][:b.svc[s0].n]))
	b.svcAt[svcKey{row: 0, h: h}] = s0
	b.Add(id, 1, 2, "x")
	b.AddBytes(id, 1, 2, []byte("x"))
	b.Add(id, 1, 2, "s0")
	got := servicesOf(b, 0)
	assert.Len(t, got, svcScanMax+2)
	assert.Contains(t, got, "x")
	assert.Equal(t, int32(svcScanMax+2), b.svcN[0])
}

// Adding a span of a trace and service already in the block allocates nothing.
func TestTraceIndexBlock_AddDoesNotAllocate(t *testing.T) {
	b := NewTraceIndexBlock(time.UTC)
	ns := uint64(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).UnixNano())
	few, many := [16]byte{1}, [16]byte{2}
	svc := []byte("service-3")
	for i := range 100 {
		b.AddBytes(many, ns, ns, fmt.Appendf(nil, "service-%d", i))
	}
	for i := range 4 {
		b.AddBytes(few, ns, ns, fmt.Appendf(nil, "service-%d", i))
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		b.AddBytes(few, ns, ns, svc)
		b.Add(few, ns, ns, "service-3")
		b.AddBytes(many, ns, ns, svc)
		b.Add(many, ns, ns, "service-3")
	}))
}

// A trace_index row's Day is the day of its spans' Timestamp, the spans partition they land
// in, also past 2106, where the spans table's DateTime (32-bit seconds) wraps.
func TestTraceIndexBlock_DayIsTheTimestampDay(t *testing.T) {
	loc := time.FixedZone("UTC-5", -5*3600)
	for _, at := range []time.Time{
		time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC),
		time.Date(2106, 2, 7, 6, 28, 15, 0, time.UTC),  // the last second of uint32
		time.Date(2106, 2, 7, 12, 28, 16, 0, time.UTC), // wraps to 1970-01-01 06:00 UTC
		time.Date(2107, 3, 1, 12, 0, 0, 0, time.UTC),
		time.Date(2200, 7, 1, 3, 0, 0, 0, time.UTC),
	} {
		b := NewSpanBlock(false, loc)
		req := spanRequest(t, at, "op")
		fillWire(t, b, req, nil)
		require.Equal(t, 1, b.Rows())
		require.Equal(t, 1, b.Index.Rows())
		ts := time.Unix(int64(b.timestamp.Data[0]), 0).In(loc)
		y, m, d := ts.Date()
		want := uint16(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
		assert.Equal(t, want, b.Index.days[0], "span at %v: Timestamp %v", at, ts)
	}
}

// go test -run '^$' -bench TraceIndexBlock ./internal/chblock: spans of 2,048 traces of 8
// spans over 1 to 6 services each (the common case: few services a trace), trace by trace,
// and with 40 services a trace, spans interleaved across traces.
func BenchmarkTraceIndexBlock_Add(b *testing.B) {
	for _, services := range []int{6, 40} {
		b.Run(fmt.Sprintf("services=%d", services), func(b *testing.B) {
			names := make([][]byte, services)
			for i := range names {
				names[i] = fmt.Appendf(nil, "service-%d", i)
			}
			type span struct {
				id  [16]byte
				svc []byte
			}
			var spans []span
			for tr := range 2048 {
				id := [16]byte{byte(tr), byte(tr >> 8), 1}
				for k := range 8 {
					svc := names[(tr+k)%(1+tr%services)]
					if services > 6 {
						svc = names[(tr*8+k)%services]
					}
					spans = append(spans, span{id, svc})
				}
			}
			if services > 6 { // interleaved: every lookup goes through the map of rows
				r := rand.New(rand.NewPCG(1, 1))
				r.Shuffle(len(spans), func(i, j int) { spans[i], spans[j] = spans[j], spans[i] })
			}
			ns := uint64(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).UnixNano())
			blk := NewTraceIndexBlock(time.UTC)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				blk.Reset()
				for i := range spans {
					blk.AddBytes(spans[i].id, ns, ns+1, spans[i].svc)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(spans)), "ns/span")
		})
	}
}
