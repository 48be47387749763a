package chblock

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/ClickHouse/ch-go/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/otlpgen"
	"github.com/weirhq/weir/internal/otlpwire"
)

// metricTablesAndSeries are the tables a MetricSet writes.
var metricTablesAndSeries = []string{"metrics_gauge", "metrics_sum", "metrics_histogram",
	"metrics_exponential_histogram", "metrics_summary", "series_1m"}

// dumpTable reads every row of table, every column but InsertId as text, one line per row
// (newlines escaped), sorted: a table's content as a multiset.
func dumpTable(t *testing.T, db *chtest.DB, table string) string {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Conn.Query(ctx, "SELECT name FROM system.columns WHERE database = ? AND table = ? AND name != 'InsertId' ORDER BY name", db.Name, table)
	require.NoError(t, err)
	var cols []string
	for rows.Next() {
		var c string
		require.NoError(t, rows.Scan(&c))
		cols = append(cols, "toString(`"+c+"`)")
	}
	rows.Close()
	rows, err = db.Conn.Query(ctx, "SELECT concat("+strings.Join(cols, ", '\\t', ")+") FROM "+db.Table(table))
	require.NoError(t, err)
	var lines []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		lines = append(lines, strings.ReplaceAll(s, "\n", "\\n"))
	}
	rows.Close()
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// appendSet encodes every block of s and appends it to its table's body: several Native
// blocks in one body go in as one INSERT, as the sender sends them.
func appendSet(t *testing.T, bodies map[string][]byte, s *MetricSet, id uint64) {
	t.Helper()
	var err error
	for _, b := range s.Blocks[1:] {
		if b.Rows() > 0 {
			bodies[b.Table()], err = b.Encode(bodies[b.Table()], id)
			require.NoError(t, err)
		}
	}
	if s.Series.Rows() > 0 {
		bodies["series_1m"], err = s.Series.Encode(bodies["series_1m"], id)
		require.NoError(t, err)
	}
}

// TestMetricSet_RowsUnchanged: random OTLP metrics (the five types, exemplars, empty and
// 200-attribute sets, NaN and infinities, histograms without buckets), one request a batch,
// read as they come or whole first (alternately), give exactly the rows the pdata exporter wrote before this path replaced it
// (testdata/metrics/*.golden, written by that exporter from the same seeds).
func TestMetricSet_RowsUnchanged(t *testing.T) {
	db := migrated(t)
	s := NewMetricSet(false)
	bodies := map[string][]byte{}
	var mb otlpwire.MetricsBatch
	for seed := uint64(0); seed < 40; seed++ {
		g := otlpgen.New(seed)
		g.Big = 200
		req, err := pmetricotlp.NewExportRequestFromMetrics(g.Metrics(3, 3, 6)).MarshalProto()
		require.NoError(t, err)
		s.Reset()
		if seed%2 == 0 {
			_, err = s.AppendRequest(req, nil, 0)
			require.NoError(t, err)
		} else { // a request read whole first, as weir's receiver has it read
			_, err = mb.Read(req)
			require.NoError(t, err)
			require.True(t, mb.Whole)
			s.AppendBatch(&mb, nil, 0)
		}
		appendSet(t, bodies, s, seed+1)
	}
	for table, body := range bodies {
		post(t, "INSERT INTO "+db.Table(table)+" FORMAT Native", body)
	}
	for _, table := range metricTablesAndSeries {
		want, err := os.ReadFile("testdata/metrics/" + table + ".golden")
		require.NoError(t, err)
		got := dumpTable(t, db, table)
		if got != string(want) {
			gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
			for i := range min(len(gl), len(wl)) {
				if gl[i] != wl[i] {
					t.Fatalf("%s: %d rows, want %d; first difference at row %d:\ngot  %.600s\nwant %.600s", table, len(gl), len(wl), i, gl[i], wl[i])
				}
			}
			t.Fatalf("%s: %d rows, want %d", table, len(gl), len(wl))
		}
	}
}

// appendBoth appends req to a as it comes (AppendRequest, through sa) and to b read whole
// into mb first (AppendBatch, through sb), and requires the same count of points stored.
func appendBoth(t *testing.T, a, b *MetricSet, mb *otlpwire.MetricsBatch, req []byte, sa, sb PointStage, at int64) {
	t.Helper()
	na, err := a.AppendRequest(req, sa, at)
	require.NoError(t, err)
	_, err = mb.Read(req)
	require.NoError(t, err)
	require.True(t, mb.Whole)
	require.Equal(t, na, b.AppendBatch(mb, sb, at))
}

// TestMetricSet_BatchSameAsRequest: a request read whole gives the blocks, byte for byte,
// that reading it as it comes gives, for random requests of every kind, over several requests
// (series_1m rows merge across them).
func TestMetricSet_BatchSameAsRequest(t *testing.T) {
	a, b := NewMetricSet(true), NewMetricSet(true)
	var mb otlpwire.MetricsBatch
	for round := uint64(0); round < 10; round++ {
		for seed := round * 8; seed < round*8+8; seed++ {
			g := otlpgen.New(seed % 20) // some series again, in another request
			g.Big = 100
			req, err := pmetricotlp.NewExportRequestFromMetrics(g.Metrics(3, 3, 6)).MarshalProto()
			require.NoError(t, err)
			appendBoth(t, a, b, &mb, req, nil, nil, int64(seed))
		}
		wa, wb := map[string][]byte{}, map[string][]byte{}
		appendSet(t, wa, a, round)
		appendSet(t, wb, b, round)
		require.Equal(t, wa, wb, "round %d", round)
		a.Reset()
		b.Reset()
	}
}

// warmStage drops and moves points by their series, and checks that AppendBatch warms every
// point it stores, with its series hash, before Point is called for it.
type warmStage struct {
	t      *testing.T
	warmed []uint64 // noted since the last Touch
	ready  []uint64 // touched, not yet given to Point
	seed   uint64
}

func (w *warmStage) Metric(_ *MetricContext, seed uint64) { w.seed = seed }

func (w *warmStage) Point(_ *MetricContext, _ *otlpwire.Point, series *uint64, _ *int32, _ int64) bool {
	if w.ready != nil { // AppendBatch: every point warmed, in order
		require.NotEmpty(w.t, w.ready, "a point not warmed")
		require.Equal(w.t, w.ready[0], *series)
		w.ready = w.ready[1:]
	}
	if *series%5 == 0 {
		return false
	}
	*series ^= w.seed
	return true
}

func (w *warmStage) Warm(_ *otlpwire.Point, series uint64) { w.warmed = append(w.warmed, series) }

func (w *warmStage) Touch() {
	require.Empty(w.t, w.ready, "touched again before the points warmed were stored")
	w.ready = append(w.ready[:0], w.warmed...)
	w.warmed = w.warmed[:0]
}

// TestMetricSet_BatchWarmedSameAsRequest: AppendBatch, warming a stage and series_1m
// WarmPoints points at a time, stores what AppendRequest does through the same stage, on
// requests with scopes of many more points than that (and a few with fewer), some with a
// metric of 300 points (split between chunks), an empty metric and metrics without points.
func TestMetricSet_BatchWarmedSameAsRequest(t *testing.T) {
	a, b := NewMetricSet(true), NewMetricSet(true)
	var mb otlpwire.MetricsBatch
	sa, sb := &warmStage{t: t}, &warmStage{t: t, ready: []uint64{}}
	most := 0 // points in the largest scope
	for seed := uint64(0); seed < 12; seed++ {
		g := otlpgen.New(seed)
		md := g.Metrics(2, 3, 1+int(seed%4)*40)
		if seed%3 == 0 && md.ResourceMetrics().Len() > 0 && md.ResourceMetrics().At(0).ScopeMetrics().Len() > 0 {
			ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
			ms.AppendEmpty().SetName("empty")
			none := ms.AppendEmpty()
			none.SetName("no.points")
			none.SetEmptyGauge()
			big := ms.AppendEmpty()
			big.SetName("big")
			dps := big.SetEmptyGauge().DataPoints()
			for i := range 300 {
				dp := dps.AppendEmpty()
				dp.SetTimestamp(pcommon.Timestamp(1_765_000_000_000_000_000 + i))
				dp.SetIntValue(int64(i))
				dp.Attributes().PutInt("i", int64(i%150)) // series repeat within the metric
			}
			ms.AppendEmpty().SetName("empty.after")
			after := ms.AppendEmpty()
			after.SetName("no.points.after")
			after.SetEmptySum()
		}
		req, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
		require.NoError(t, err)
		appendBoth(t, a, b, &mb, req, sa, sb, int64(seed))
		require.Empty(t, sb.ready, "points warmed and not stored")
		for _, sc := range mb.Scopes {
			n := 0
			for _, m := range mb.Metrics[sc.First:sc.End] {
				n += m.End - m.First
			}
			most = max(most, n)
		}
	}
	require.Greater(t, most, 2*WarmPoints, "no scope spans several warmings")
	wa, wb := map[string][]byte{}, map[string][]byte{}
	appendSet(t, wa, a, 1)
	appendSet(t, wb, b, 1)
	require.Equal(t, wa, wb)
}

// TestMetricBlock_ContextRunsSameAsRowByRow: a block that fills a metric's context columns
// once per run of its points (contextRun) encodes the bytes of one that appends them point
// by point, for random requests of every kind (empty and 200-attribute resources and
// scopes, metrics of up to 300 points, split between warmings) several to a block.
func TestMetricBlock_ContextRunsSameAsRowByRow(t *testing.T) {
	runs, rowByRow := NewMetricSet(false), NewMetricSet(false)
	var mb otlpwire.MetricsBatch
	points := 0
	for round := uint64(0); round < 6; round++ {
		for seed := round * 5; seed < round*5+5; seed++ {
			g := otlpgen.New(seed)
			g.Big = 200
			md := g.Metrics(3, 3, 2+int(seed%3)*50)
			if seed%2 == 0 && md.ResourceMetrics().Len() > 0 && md.ResourceMetrics().At(0).ScopeMetrics().Len() > 0 {
				dps := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty()
				dps.SetName("big")
				gauge := dps.SetEmptyGauge().DataPoints()
				for i := range 300 {
					dp := gauge.AppendEmpty()
					dp.SetIntValue(int64(i))
					dp.Attributes().PutInt("i", int64(i))
				}
			}
			req, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
			require.NoError(t, err)
			_, err = mb.Read(req)
			require.NoError(t, err)
			points += runs.AppendBatch(&mb, nil, 0)
			// The same points, each with a context no run can match (its numbers 0).
			for ri := range mb.Resources {
				res := &mb.Resources[ri]
				svc, ok := otlpwire.ServiceName(res.Resource.Attrs)
				if !ok {
					svc = unknownService
				}
				for si := res.First; si < res.End; si++ {
					sc := &mb.Scopes[si]
					for mi := sc.First; mi < sc.End; mi++ {
						m := &mb.Metrics[mi]
						if m.Type == otlpwire.MetricEmpty {
							continue
						}
						c := MetricContext{Resource: &res.Resource, Service: svc, Scope: &sc.Scope, Metric: &m.Metric}
						for pi := m.First; pi < m.End; pi++ {
							rowByRow.Blocks[m.Type].Append(&c, &mb.Points[pi], runs.hashes[pi], m.Temporality)
						}
					}
				}
			}
		}
		for typ, b := range runs.Blocks[1:] {
			want, err := rowByRow.Blocks[typ+1].Encode(nil, round)
			require.NoError(t, err)
			got, err := b.Encode(nil, round)
			require.NoError(t, err)
			require.Equal(t, rowByRow.Blocks[typ+1].Bytes(), b.Bytes(), "%s: Bytes", b.Table())
			require.True(t, bytes.Equal(want, got), "%s, round %d: Native bytes differ", b.Table(), round)
		}
		runs.Reset()
		rowByRow.Reset()
	}
	require.Greater(t, points, 3000)
}

// A block encoded in the middle of a run encodes what a block without runs does, and the run
// goes on after it. The engine encodes only at a seal, between requests, where no run is
// split; Encode may still come at any time.
func TestMetricBlock_EncodeMidRun(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		runs, rowByRow := NewMetricSet(false), NewMetricSet(false)
		g := otlpgen.New(seed)
		g.Big = 50
		req, err := pmetricotlp.NewExportRequestFromMetrics(g.Metrics(2, 2, 20)).MarshalProto()
		require.NoError(t, err)
		var mb otlpwire.MetricsBatch
		_, err = mb.Read(req)
		require.NoError(t, err)
		seq, points := uint64(100), 0
		for ri := range mb.Resources {
			res := &mb.Resources[ri]
			svc, ok := otlpwire.ServiceName(res.Resource.Attrs)
			if !ok {
				svc = unknownService
			}
			seq++
			rs := seq
			for si := res.First; si < res.End; si++ {
				sc := &mb.Scopes[si]
				seq++
				ss := seq
				for mi := sc.First; mi < sc.End; mi++ {
					m := &mb.Metrics[mi]
					if m.Type == otlpwire.MetricEmpty {
						continue
					}
					seq++
					c := MetricContext{Resource: &res.Resource, Service: svc, Scope: &sc.Scope, Metric: &m.Metric,
						ResourceSeq: rs, ScopeSeq: ss, MetricSeq: seq}
					plain := MetricContext{Resource: &res.Resource, Service: svc, Scope: &sc.Scope, Metric: &m.Metric}
					for pi := m.First; pi < m.End; pi++ {
						runs.Blocks[m.Type].Append(&c, &mb.Points[pi], 1, m.Temporality)
						rowByRow.Blocks[m.Type].Append(&plain, &mb.Points[pi], 1, m.Temporality)
						if points++; points%7 != 0 {
							continue
						}
						for typ := 1; typ < len(MetricTables); typ++ {
							want, err := rowByRow.Blocks[typ].Encode(nil, 1)
							require.NoError(t, err)
							got, err := runs.Blocks[typ].Encode(nil, 1)
							require.NoError(t, err)
							require.True(t, bytes.Equal(want, got), "seed %d, point %d, %s", seed, points, MetricTables[typ])
						}
					}
				}
			}
		}
		for typ := 1; typ < len(MetricTables); typ++ {
			want, err := rowByRow.Blocks[typ].Encode(nil, 1)
			require.NoError(t, err)
			got, err := runs.Blocks[typ].Encode(nil, 1)
			require.NoError(t, err)
			require.True(t, bytes.Equal(want, got), "seed %d, %s", seed, MetricTables[typ])
			require.Equal(t, rowByRow.Blocks[typ].Bytes(), runs.Blocks[typ].Bytes())
		}
	}
}

// A block leaves out the columns that hold only defaults (no exemplar, metadata or scope
// attribute in any row, no dropped counts, no schema URLs), keeps those where one row has a
// value, and ClickHouse stores the same rows from it as from the block with every column.
func TestEncode_LeavesOutDefaults(t *testing.T) {
	db, full := migrated(t), migrated(t)
	// weirload's shape: points of the five types with two attributes, service.name alone on
	// the resource, a scope with a name only.
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "load")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("weirload")
	for i := range 500 {
		m := sm.Metrics().AppendEmpty()
		m.SetName(fmt.Sprintf("weirload.%d", i%20))
		p := m.SetEmptyGauge().DataPoints().AppendEmpty()
		p.SetTimestamp(pcommon.Timestamp(1_765_000_000_000_000_000 + i))
		p.SetDoubleValue(float64(i))
		p.Attributes().PutStr("series", fmt.Sprint(i))
		p.Attributes().PutStr("worker", "w0")
		if i == 499 {
			e := p.Exemplars().AppendEmpty()
			e.SetDoubleValue(1)
			e.SetTraceID([16]byte{1})
		}
	}
	encode := func(points int, lc bool) (leaner, all []byte) {
		s := NewMetricSet(lc)
		req, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
		require.NoError(t, err)
		var mb otlpwire.MetricsBatch
		_, err = mb.Read(req)
		require.NoError(t, err)
		mb.Points = mb.Points[:points]
		mb.Metrics = mb.Metrics[:points]
		mb.Metrics[points-1].End = points
		mb.Scopes[0].End, mb.Resources[0].End = points, 1
		s.AppendBatch(&mb, nil, 0)
		b := s.Blocks[otlpwire.MetricGauge]
		leaner, err = b.Encode(nil, 1)
		require.NoError(t, err)
		in := make([]proto.InputColumn, len(b.cols))
		for i, c := range b.cols {
			in[i] = proto.InputColumn{Name: c.name, Data: c.col}
		}
		buf := proto.Buffer{}
		require.NoError(t, (proto.Block{Columns: len(in), Rows: b.rows}).EncodeRawBlock(&buf, 0, in))
		return leaner, buf.Buf
	}

	var leaner, all []byte
	for _, lc := range []bool{true, false} { // the tables' strings LowCardinality or not
		leaner, all = encode(499, lc) // no exemplar
		for _, name := range []string{"Exemplars.TimeUnixNano", "Exemplars.FilteredAttributeKeys", "MetricMetadataKeys",
			"ScopeAttributeKeys", "ResourceDroppedAttributesCount", "ScopeSchemaUrl", "MetricUnit", "Flags"} {
			assert.False(t, hasColumn(leaner, name), "lc %v: %s", lc, name)
			assert.True(t, hasColumn(all, name), name)
		}
		for _, name := range []string{"AttributeKeys", "ResourceAttributeKeys", "ScopeName", "MetricName", "DoubleValue"} {
			assert.True(t, hasColumn(leaner, name), "lc %v: %s", lc, name)
		}
	}
	lz := func(b []byte) int {
		w := compress.NewWriter(compress.LevelZero, compress.LZ4)
		require.NoError(t, w.Compress(b))
		return len(w.Data)
	}
	t.Logf("a gauge block of 499 points: %d bytes (%d LZ4) with every column, %d (%d LZ4) without those holding only defaults",
		len(all), lz(all), len(leaner), lz(leaner))
	assert.Less(t, len(leaner), len(all)*3/4)

	withEx, _ := encode(500, false) // one exemplar: its columns are kept
	assert.True(t, hasColumn(withEx, "Exemplars.TimeUnixNano"))
	assert.True(t, hasColumn(withEx, "Exemplars.FilteredAttributeKeys"))

	for _, tc := range []struct {
		db   *chtest.DB
		body []byte
	}{{db, append(leaner, withEx...)}, {full, append(all, withEx...)}} {
		post(t, "INSERT INTO "+tc.db.Table("metrics_gauge")+" FORMAT Native", tc.body)
	}
	require.Equal(t, dumpTable(t, full, "metrics_gauge"), dumpTable(t, db, "metrics_gauge"))

	// Spans without events or links leave out both Nested groups whole.
	b := NewSpanBlock(false, time.UTC)
	req, err := ptraceotlp.NewExportRequestFromTraces(otlpgen.New(1).Telemetrygen(50)).MarshalProto()
	require.NoError(t, err)
	fillWire(t, b, req, nil)
	spans, err := b.Encode(nil, 1)
	require.NoError(t, err)
	for _, name := range []string{"Events.TimeUnixNano", "Events.Name", "Events.AttributeKeys", "Events.DroppedAttributesCount",
		"Links.TraceId", "Links.Flags", "Links.AttributeKeys"} {
		assert.False(t, hasColumn(spans, name), name)
	}
	assert.True(t, hasColumn(spans, "SpanAttributeKeys"))

	// Leaving a column out stores its type's default only because weir's tables declare no
	// other: InsertId's DEFAULT 0 is its type's, and it is never left out (a UInt64).
	rows, err := db.Conn.Query(context.Background(), "SELECT table, name, default_expression FROM system.columns WHERE database = ? AND default_kind != ''", db.Name)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var table, name, expr string
		require.NoError(t, rows.Scan(&table, &name, &expr))
		assert.True(t, name == "InsertId" && (expr == "0" || expr == "CAST(0, 'UInt64')"), "%s.%s has DEFAULT %s: a block that leaves it out would store that, not the type's default", table, name, expr)
	}
}

// hasColumn says whether a Native block (protocol version 0) names a column: the name as it
// is written there, after its length.
func hasColumn(block []byte, name string) bool {
	return bytes.Contains(block, append([]byte{byte(len(name))}, name...))
}
