package metricstage

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/cumulativetodeltaprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/weirhq/weir/internal/chblock"
	"github.com/weirhq/weir/internal/otlpwire"
	"github.com/weirhq/weir/processors/serieslimitprocessor"
)

// gen makes batches of points of a fixed set of streams over time: cumulative sums that grow
// and sometimes reset or go NaN, histograms whose buckets sometimes change, exponential
// histograms whose scale falls and zero threshold rises, points without a recorded value,
// streams that started before and after weir, and more series per metric than the limit.
type gen struct {
	r       *rand.Rand
	streams []*genStream
}

type genStream struct {
	typ       pmetric.MetricType
	mono      bool
	double    bool
	name, svc string
	id        int
	start     uint64
	i         int64
	f         float64
	counts    []uint64
	bounds    []float64
	scale     int32
	zeroThr   float64
	zero      uint64
	pos       []uint64
	posOff    int32
}

func newGen(seed uint64, started time.Time) *gen {
	g := &gen{r: rand.New(rand.NewPCG(seed, seed+1))}
	before := uint64(started.Add(-time.Hour).UnixNano())
	after := uint64(started.Add(time.Minute).UnixNano())
	for i := 0; i < 60; i++ {
		st := &genStream{name: "m" + strconv.Itoa(i%6), svc: []string{"a", "b"}[i%2], id: g.r.IntN(40),
			start: []uint64{before, after}[g.r.IntN(2)], double: g.r.IntN(2) == 0}
		switch i % 6 {
		case 0, 1:
			st.typ, st.mono = pmetric.MetricTypeSum, i%6 == 0
		case 2:
			st.typ = pmetric.MetricTypeHistogram
			st.bounds = []float64{1, 10, 100}
			st.counts = make([]uint64, 4)
		case 3:
			st.typ, st.scale, st.posOff = pmetric.MetricTypeExponentialHistogram, 3, -2
			st.pos = make([]uint64, 5)
		case 4:
			st.typ = pmetric.MetricTypeGauge
		default:
			st.typ = pmetric.MetricTypeSum // a delta sum: passes
		}
		g.streams = append(g.streams, st)
	}
	return g
}

func (g *gen) batch(at time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	byService := map[string]pmetric.ScopeMetrics{}
	ts := pcommon.Timestamp(at.UnixNano())
	for i, st := range g.streams {
		if g.r.IntN(4) == 0 {
			continue // silent this time
		}
		sm, ok := byService[st.svc]
		if !ok {
			rm := md.ResourceMetrics().AppendEmpty()
			rm.Resource().Attributes().PutStr("service.name", st.svc)
			sm = rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName("lib")
			sm.Scope().SetVersion("1.0")
			byService[st.svc] = sm
		}
		m := sm.Metrics().AppendEmpty()
		m.SetName(st.name)
		m.SetUnit("1")
		attrs := func(a pcommon.Map) { a.PutInt("id", int64(st.id)); a.PutInt("stream", int64(i)) }
		flags := pmetric.DefaultDataPointFlags
		if g.r.IntN(15) == 0 {
			flags = flags.WithNoRecordedValue(true)
		}
		reset := g.r.IntN(12) == 0
		switch st.typ {
		case pmetric.MetricTypeGauge:
			p := m.SetEmptyGauge().DataPoints().AppendEmpty()
			attrs(p.Attributes())
			p.SetTimestamp(ts)
			p.SetDoubleValue(g.r.NormFloat64())
		case pmetric.MetricTypeSum:
			s := m.SetEmptySum()
			s.SetIsMonotonic(st.mono)
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			if i%6 == 5 {
				s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
			}
			p := s.DataPoints().AppendEmpty()
			attrs(p.Attributes())
			p.SetStartTimestamp(pcommon.Timestamp(st.start))
			p.SetTimestamp(ts)
			p.SetFlags(flags)
			if reset {
				st.i, st.f = 0, 0
			}
			st.i += int64(g.r.IntN(100))
			st.f += g.r.Float64() * 100
			if st.double {
				v := st.f
				if g.r.IntN(20) == 0 {
					v = math.NaN()
				}
				p.SetDoubleValue(v)
			} else {
				p.SetIntValue(st.i)
			}
		case pmetric.MetricTypeHistogram:
			h := m.SetEmptyHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			p := h.DataPoints().AppendEmpty()
			attrs(p.Attributes())
			p.SetStartTimestamp(pcommon.Timestamp(st.start))
			p.SetTimestamp(ts)
			p.SetFlags(flags)
			if g.r.IntN(15) == 0 {
				st.bounds = append(st.bounds, st.bounds[len(st.bounds)-1]*10)
				st.counts = append(st.counts, 0)
			}
			if reset {
				clear(st.counts)
			}
			var count uint64
			for j := range st.counts {
				st.counts[j] += uint64(g.r.IntN(5))
				count += st.counts[j]
			}
			p.ExplicitBounds().FromRaw(st.bounds)
			p.BucketCounts().FromRaw(st.counts)
			p.SetCount(count)
			st.f += g.r.Float64() * 10
			if g.r.IntN(10) != 0 {
				p.SetSum(st.f)
			}
			p.SetMin(0.5)
			p.SetMax(500)
		case pmetric.MetricTypeExponentialHistogram:
			h := m.SetEmptyExponentialHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			p := h.DataPoints().AppendEmpty()
			attrs(p.Attributes())
			p.SetStartTimestamp(pcommon.Timestamp(st.start))
			p.SetTimestamp(ts)
			p.SetFlags(flags)
			switch g.r.IntN(12) {
			case 0: // the scale falls: merge pairs of buckets
				if st.scale > -2 {
					st.scale--
					merged := make([]uint64, 0, len(st.pos))
					off := st.posOff >> 1
					for j, c := range st.pos {
						k := int((st.posOff+int32(j))>>1 - off)
						for len(merged) <= k {
							merged = append(merged, 0)
						}
						merged[k] += c
					}
					st.pos, st.posOff = merged, off
				}
			case 1:
				st.zeroThr += 0.001
			}
			if reset {
				clear(st.pos)
				st.zero = 0
			}
			st.zero += uint64(g.r.IntN(3))
			count := st.zero
			for j := range st.pos {
				st.pos[j] += uint64(g.r.IntN(4))
				count += st.pos[j]
			}
			p.SetScale(st.scale)
			p.SetZeroThreshold(st.zeroThr)
			p.SetZeroCount(st.zero)
			p.Positive().SetOffset(st.posOff)
			p.Positive().BucketCounts().FromRaw(st.pos)
			p.SetCount(count)
			st.f += g.r.Float64()
			p.SetSum(st.f)
		}
	}
	return md
}

func newProcessor(t *testing.T, f processor.Factory, cfg any, next consumer.Metrics) processor.Metrics {
	t.Helper()
	p, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), cfg, next)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return p
}

func encodeSet(t *testing.T, s *chblock.MetricSet) [][]byte {
	t.Helper()
	var out [][]byte
	for _, b := range s.Blocks[1:] {
		data, err := b.Encode(nil, 1)
		require.NoError(t, err)
		out = append(out, data)
	}
	data, err := s.Series.Encode(nil, 1)
	require.NoError(t, err)
	return append(out, data)
}

// TestStages_SameAsProcessors: the same batches through cumulative_to_delta and
// weir_series_limit (pdata) and through the stages (wire) give the same rows, byte for byte,
// batch after batch.
func TestStages_SameAsProcessors(t *testing.T) {
	for seed := uint64(0); seed < 5; seed++ {
		ctdF, limF := cumulativetodeltaprocessor.NewFactory(), serieslimitprocessor.NewFactory()
		ctdCfg := ctdF.CreateDefaultConfig().(*cumulativetodeltaprocessor.Config)
		ctdCfg.MaxStaleness = time.Hour
		limCfg := limF.CreateDefaultConfig().(*serieslimitprocessor.Config)
		limCfg.MaxSeriesPerMetric, limCfg.MaxSeriesTotal = 8, 40
		sink := new(consumertest.MetricsSink)
		lim := newProcessor(t, limF, limCfg, sink)
		ctd := newProcessor(t, ctdF, ctdCfg, lim)

		started := time.Now()
		cfg := Config{Delta: true, MaxStaleness: time.Hour, MaxSeriesPerMetric: 8, MaxSeriesTotal: 40, SeriesIdle: 10 * time.Minute}
		stages := New(cfg, started)
		g := newGen(seed, started)
		wire, pd := chblock.NewMetricSet(false), chblock.NewMetricSet(false)
		// The same through AppendBatch (the request read whole first), where the stages warm
		// their tables ahead of the points, with stages of their own.
		batched, batchStages := chblock.NewMetricSet(false), New(cfg, started)
		var mb otlpwire.MetricsBatch
		converted, dropped, overflowed := int64(0), map[string]int64{}, int64(0)
		for b := 0; b < 40; b++ {
			md := g.batch(started.Add(time.Duration(b+7) * time.Second))
			req, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
			require.NoError(t, err)

			sink.Reset()
			require.NoError(t, ctd.ConsumeMetrics(context.Background(), md))
			var out pmetric.Metrics
			if all := sink.AllMetrics(); len(all) > 0 {
				out = all[0]
			} else {
				out = pmetric.NewMetrics()
			}
			outReq, err := pmetricotlp.NewExportRequestFromMetrics(out).MarshalProto()
			require.NoError(t, err)
			pd.Reset()
			_, err = pd.AppendRequest(outReq, nil, 0)
			require.NoError(t, err)

			appendBoth(t, wire, batched, &mb, req, stages, batchStages, time.Now().UnixNano())
			c := stages.Drain()
			converted += c.Converted
			for r, n := range c.Dropped {
				dropped[r] += n
			}
			for _, n := range c.Overflowed {
				overflowed += n
			}
			want, got := encodeSet(t, pd), encodeSet(t, wire)
			for i := range want {
				if !bytes.Equal(want[i], got[i]) {
					t.Fatalf("seed %d batch %d: block %d differs (%d bytes, want %d); rows %d, want %d", seed, b, i,
						len(got[i]), len(want[i]), rowsOf(wire, i), rowsOf(pd, i))
				}
			}
		}
		// The test is only as good as what it went through.
		require.Greater(t, converted, int64(100), "seed %d", seed)
		require.Greater(t, overflowed, int64(10), "seed %d", seed)
		for _, r := range []string{ReasonInitial, ReasonReset, ReasonNoValue} {
			require.Greater(t, dropped[r], int64(0), "seed %d: %s", seed, r)
		}
		t.Logf("seed %d: %d converted, dropped %v, %d overflowed", seed, converted, dropped, overflowed)
	}
}

// TestStages_BatchSameAsRequest_ManyChunks: requests of a dozen of gen's batches each, one
// scope per service of several warmings' points, plus a gauge of 300 points that overflows
// the series limit (split between warmings), through AppendRequest and through AppendBatch,
// each with stages of its own: the same blocks, byte for byte, and the same counts.
func TestStages_BatchSameAsRequest_ManyChunks(t *testing.T) {
	started := time.Now()
	cfg := Config{Delta: true, MaxStaleness: time.Hour, MaxSeriesPerMetric: 8, MaxSeriesTotal: 40, SeriesIdle: 10 * time.Minute}
	for seed := uint64(0); seed < 3; seed++ {
		g := newGen(seed, started)
		reqStages, batchStages := New(cfg, started), New(cfg, started)
		wire, batched := chblock.NewMetricSet(false), chblock.NewMetricSet(false)
		var mb otlpwire.MetricsBatch
		most := 0
		var want, got Counts
		want.Dropped, got.Dropped = map[string]int64{}, map[string]int64{}
		for r := 0; r < 6; r++ {
			md := pmetric.NewMetrics()
			scopes := map[string]pmetric.MetricSlice{}
			for b := 0; b < 12; b++ {
				part := g.batch(started.Add(time.Duration(r*12+b+7) * time.Second))
				for i := 0; i < part.ResourceMetrics().Len(); i++ {
					rm := part.ResourceMetrics().At(i)
					svc, _ := rm.Resource().Attributes().Get("service.name")
					ms, ok := scopes[svc.Str()]
					if !ok {
						out := md.ResourceMetrics().AppendEmpty()
						rm.Resource().CopyTo(out.Resource())
						sm := out.ScopeMetrics().AppendEmpty()
						rm.ScopeMetrics().At(0).Scope().CopyTo(sm.Scope())
						ms = sm.Metrics()
						scopes[svc.Str()] = ms
					}
					rm.ScopeMetrics().At(0).Metrics().MoveAndAppendTo(ms)
				}
				if b == 5 {
					big := scopes["a"].AppendEmpty()
					big.SetName("big")
					dps := big.SetEmptyGauge().DataPoints()
					for i := range 300 {
						dp := dps.AppendEmpty()
						dp.SetTimestamp(pcommon.Timestamp(started.Add(time.Duration(r) * time.Minute).UnixNano()))
						dp.SetDoubleValue(float64(i))
						dp.Attributes().PutInt("i", int64(i))
					}
				}
			}
			req, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
			require.NoError(t, err)
			appendBoth(t, wire, batched, &mb, req, reqStages, batchStages, started.Add(time.Duration(r)*time.Minute).UnixNano())
			for _, sc := range mb.Scopes {
				n := 0
				for _, m := range mb.Metrics[sc.First:sc.End] {
					n += m.End - m.First
				}
				most = max(most, n)
			}
			addCounts(&want, reqStages.Drain())
			addCounts(&got, batchStages.Drain())
		}
		require.Greater(t, most, 2*chblock.WarmPoints, "seed %d: no scope spans several warmings", seed)
		require.Equal(t, want, got, "seed %d: counts", seed)
		require.Greater(t, want.Converted, int64(100), "seed %d", seed)
		require.NotEmpty(t, want.Overflowed, "seed %d", seed)
	}
}

// appendBoth empties wire and batched, then appends req to wire as it comes (AppendRequest,
// through ws) and to batched read whole into mb first (AppendBatch, through bs), and requires
// the same blocks from both.
func appendBoth(t *testing.T, wire, batched *chblock.MetricSet, mb *otlpwire.MetricsBatch, req []byte, ws, bs *Stages, at int64) {
	t.Helper()
	wire.Reset()
	_, err := wire.AppendRequest(req, ws, at)
	require.NoError(t, err)
	_, err = mb.Read(req)
	require.NoError(t, err)
	require.True(t, mb.Whole)
	batched.Reset()
	batched.AppendBatch(mb, bs, at)
	require.Equal(t, encodeSet(t, wire), encodeSet(t, batched), "AppendBatch against AppendRequest")
}

func addCounts(to *Counts, c Counts) {
	to.Converted += c.Converted
	for r, n := range c.Dropped {
		to.Dropped[r] += n
	}
	if len(c.Overflowed) > 0 && to.Overflowed == nil {
		to.Overflowed = map[[2]string]int64{}
	}
	for k, n := range c.Overflowed {
		to.Overflowed[k] += n
	}
}

func rowsOf(s *chblock.MetricSet, i int) int {
	if i < len(s.Blocks)-1 {
		return s.Blocks[i+1].Rows()
	}
	return s.Series.Rows()
}

// TestStages_SnapshotResumes: stages loaded from a snapshot taken halfway go on exactly as the
// stages that were never stopped.
func TestStages_SnapshotResumes(t *testing.T) {
	started := time.Now()
	cfg := Config{Delta: true, MaxStaleness: time.Hour, MaxSeriesPerMetric: 8, MaxSeriesTotal: 40, SeriesIdle: 10 * time.Minute}
	g := newGen(9, started)
	var reqs [][]byte
	for b := 0; b < 30; b++ {
		req, err := pmetricotlp.NewExportRequestFromMetrics(g.batch(started.Add(time.Duration(b+7) * time.Second))).MarshalProto()
		require.NoError(t, err)
		reqs = append(reqs, req)
	}
	at := func(b int) int64 { return started.Add(time.Duration(b) * time.Second).UnixNano() }
	whole, resumed := New(cfg, started), New(cfg, started)
	a, b := chblock.NewMetricSet(false), chblock.NewMetricSet(false)
	for i, req := range reqs {
		if i == 15 {
			snap := resumed.Snapshot(nil)
			resumed = New(cfg, started.Add(time.Hour)) // a later start: the snapshot's is kept
			require.NoError(t, resumed.Load(snap))
			require.Equal(t, whole.Streams(), resumed.Streams())
			require.Equal(t, whole.Series(), resumed.Series())
		}
		a.Reset()
		b.Reset()
		_, err := a.AppendRequest(req, whole, at(i))
		require.NoError(t, err)
		_, err = b.AppendRequest(req, resumed, at(i))
		require.NoError(t, err)
		wa, wb := encodeSet(t, a), encodeSet(t, b)
		for k := range wa {
			require.True(t, bytes.Equal(wa[k], wb[k]), "batch %d block %d", i, k)
		}
	}
	require.Error(t, New(cfg, started).Load([]byte{1, 2, 3}))
}

// TestStages_TouchKeyZero: a stream key of 0 (Home's mark for an empty slot) finds no stream
// to load rather than a nil one.
func TestStages_TouchKeyZero(t *testing.T) {
	s := New(Config{Delta: true}, time.Now())
	s.warmStreams = append(s.warmStreams, 0, 12345)
	s.Touch() // panicked on the empty slot's nil stream
	require.Empty(t, s.warmStreams)
}

// TestStages_TouchReachesEveryLine: the words Touch reads of a stream are no more than a
// cache line apart and the last is the stream's last, so that the loads reach every line
// the stream spans wherever it starts, as Touch's comment says. A field added to stream
// fails this until Touch reads one that keeps it true.
func TestStages_TouchReachesEveryLine(t *testing.T) {
	var st stream
	read := []uintptr{
		unsafe.Offsetof(st.observed),
		unsafe.Offsetof(st.counts), // its pointer word
		unsafe.Offsetof(st.exp) + unsafe.Offsetof(st.exp.pos) + unsafe.Offsetof(st.exp.pos.counts) + 8,  // len
		unsafe.Offsetof(st.exp) + unsafe.Offsetof(st.exp.neg) + unsafe.Offsetof(st.exp.neg.counts) + 16, // cap
	}
	require.Zero(t, read[0])
	for i := 1; i < len(read); i++ {
		require.LessOrEqual(t, read[i]-read[i-1], uintptr(64), "fields %d and %d", i-1, i)
	}
	require.GreaterOrEqual(t, read[len(read)-1]+8, unsafe.Sizeof(st), "the last word read is the stream's last")
}
