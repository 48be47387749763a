package chblock

import (
	"context"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

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
			na, err := a.AppendRequest(req, nil, int64(seed))
			require.NoError(t, err)
			_, err = mb.Read(req)
			require.NoError(t, err)
			require.True(t, mb.Whole)
			require.Equal(t, na, b.AppendBatch(&mb, nil, int64(seed)))
		}
		wa, wb := map[string][]byte{}, map[string][]byte{}
		appendSet(t, wa, a, round)
		appendSet(t, wb, b, round)
		require.Equal(t, wa, wb, "round %d", round)
		a.Reset()
		b.Reset()
	}
}
