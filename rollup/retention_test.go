package rollup

import (
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
)

// partitionsOf lists "table/partition_id" of db's active parts, sorted.
func partitionsOf(t *testing.T, db *chtest.DB) []string {
	t.Helper()
	rows, err := db.Conn.Query(testContext(t),
		"SELECT DISTINCT table, partition_id FROM system.parts WHERE database = ? AND active", db.Name)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var table, id string
		require.NoError(t, rows.Scan(&table, &id))
		out = append(out, table+"/"+id)
	}
	require.NoError(t, rows.Err())
	sort.Strings(out)
	return out
}

func droppedIDs(d []DroppedPartition) []string {
	var out []string
	for _, p := range d {
		out = append(out, p.Table+"/"+p.PartitionID)
	}
	sort.Strings(out)
	return out
}

// insertAt writes one row at ts into a RED or edges tier.
func insertAt(t *testing.T, db *chtest.DB, table string, ts ...time.Time) {
	t.Helper()
	fam, series := redFamily, redSeries[0]
	if table == TableEdges1m || table == TableEdges1h || table == TableEdges1d {
		fam, series = edgeFamily, edgeSeries[0]
	}
	var rows []tierRow
	for _, x := range ts {
		rows = append(rows, tierRow{ts: x, series: series, count: 1, durSum: 1000, idx: []int32{637}, counts: []uint64{1}})
	}
	insertRows(t, db, table, fam, rows)
}

func TestApplyRetention_DropsExactlyTheExpiredPartitions(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	ctx := testContext(t)
	_, err := Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)
	now := time.Date(2024, 3, 31, 12, 0, 0, 0, time.UTC)
	policy := DefaultRetention()

	var want, wantDropped []string
	for _, table := range []string{TableRED1m, TableEdges1m, TableRED1h, TableEdges1h} {
		cutoff := now.Add(-policy[table]) // 30 days: March 1 12:00; 400 days: 2023-03-27 12:00
		expired := cutoff.Truncate(24 * time.Hour).Add(-time.Second)
		// The cutoff's own day ends after the cutoff: it stays, though this row is expired.
		straddling := cutoff.Truncate(24 * time.Hour)
		insertAt(t, db, table, expired.Add(-47*time.Hour), expired, straddling, cutoff.Add(time.Hour), now)
		for _, ts := range []time.Time{expired.Add(-47 * time.Hour), expired} {
			wantDropped = append(wantDropped, table+"/"+ts.Format("20060102"))
		}
		for _, ts := range []time.Time{straddling, now} {
			want = append(want, table+"/"+ts.Format("20060102"))
		}
	}
	for _, table := range []string{TableRED1d, TableEdges1d} {
		cutoff := now.Add(-policy[table]) // 1826 days: 2019-04-01 12:00 (two leap days between)
		require.Equal(t, time.Date(2019, 4, 1, 12, 0, 0, 0, time.UTC), cutoff)
		insertAt(t, db, table, time.Date(2019, 2, 28, 0, 0, 0, 0, time.UTC), time.Date(2019, 3, 31, 0, 0, 0, 0, time.UTC),
			time.Date(2019, 4, 1, 0, 0, 0, 0, time.UTC), now)
		wantDropped = append(wantDropped, table+"/201902", table+"/201903")
		want = append(want, table+"/201904", table+"/202403")
	}
	// spans and their trace_index rows: 15 days, cutoff March 16 12:00.
	spans := []testSpan{
		{start: time.Date(2024, 3, 15, 23, 59, 0, 0, time.UTC), service: "a", name: "x", traceID: [16]byte{1}, spanID: [8]byte{1}, weight: 1},
		{start: time.Date(2024, 3, 16, 0, 0, 0, 0, time.UTC), service: "a", name: "x", traceID: [16]byte{2}, spanID: [8]byte{1}, weight: 1},
	}
	insertSpans(t, db, spans...)
	indexSpans(t, db, spans...)
	wantDropped = append(wantDropped, TableSpans+"/20240315", TableTraceIndex+"/20240315")
	want = append(want, TableSpans+"/20240316", TableTraceIndex+"/20240316")
	// metrics: 15 days, cutoff March 16 12:00.
	db.Exec(t, "INSERT INTO "+db.Table(TableMetricsGauge)+" (Timestamp, ServiceName, MetricName) "+
		"SELECT toDateTime('2024-03-15 12:00:00') + number * 43200, 'a', 'm' FROM system.numbers LIMIT 3")
	wantDropped = append(wantDropped, TableMetricsGauge+"/20240315")
	want = append(want, TableMetricsGauge+"/20240316", TableMetricsGauge+"/20240316")
	// schema_migrations is not partitioned and not in the policy.
	want = append(want, TableSchemaMigrations+"/all")
	sort.Strings(wantDropped)
	want = dedupe(want)

	require.Equal(t, dedupe(append(append([]string(nil), want...), wantDropped...)), partitionsOf(t, db), "seeded partitions")
	var rowsBefore uint64
	for _, table := range []string{TableRED1m, TableRED1h, TableRED1d, TableSpans} {
		rowsBefore += db.QueryUint64(t, "SELECT count() FROM "+db.Table(table))
	}

	dropped, err := ApplyRetention(ctx, db.Conn, db.Name, policy, now)
	require.NoError(t, err)
	assert.Equal(t, wantDropped, droppedIDs(dropped))
	assert.Equal(t, want, partitionsOf(t, db), "what is left")
	for _, p := range dropped {
		assert.NotZero(t, p.Rows, p.Table+"/"+p.PartitionID)
		assert.False(t, p.To.After(now.Add(-policy[p.Table])), "%s/%s ends by its cutoff", p.Table, p.PartitionID)
		if p.Table == TableSpans {
			assert.Equal(t, "2024-03-15", p.Partition)
			assert.Equal(t, time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC), p.From.UTC())
			assert.Equal(t, time.Date(2024, 3, 16, 0, 0, 0, 0, time.UTC), p.To.UTC())
		}
	}

	// Applying it again finds nothing more.
	again, err := ApplyRetention(ctx, db.Conn, db.Name, policy, now)
	require.NoError(t, err)
	assert.Empty(t, again)
	assert.Equal(t, want, partitionsOf(t, db))
}

func dedupe(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func TestApplyRetention_Boundaries(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	ctx := testContext(t)
	_, err := Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)
	d := func(m time.Month, day, h int) time.Time { return time.Date(2024, m, day, h, 0, 0, 0, time.UTC) }
	insertAt(t, db, TableRED1m, d(2, 29, 23), d(3, 1, 0), d(3, 1, 23))
	insertAt(t, db, TableRED1d, d(1, 31, 0), d(2, 1, 0))

	// A partition ending a nanosecond after the cutoff stays; one ending exactly at it goes.
	dropped, err := ApplyRetention(ctx, db.Conn, db.Name, Retention{TableRED1m: 24 * time.Hour}, d(3, 2, 0).Add(-time.Nanosecond))
	require.NoError(t, err)
	assert.Empty(t, dropped)
	dropped, err = ApplyRetention(ctx, db.Conn, db.Name, Retention{TableRED1m: 24 * time.Hour}, d(3, 2, 0))
	require.NoError(t, err)
	assert.Equal(t, []string{"red_1m/20240229"}, droppedIDs(dropped))

	// Tables without a policy, or with 0, are kept forever; months work the same way.
	dropped, err = ApplyRetention(ctx, db.Conn, db.Name, Retention{TableRED1m: 0, TableRED1d: 29 * 24 * time.Hour}, d(3, 1, 0))
	require.NoError(t, err)
	assert.Equal(t, []string{"red_1d/202401"}, droppedIDs(dropped))
	assert.Equal(t, []string{"red_1d/202402", "red_1m/20240301", "schema_migrations/all"}, partitionsOf(t, db))

	_, err = ApplyRetention(ctx, db.Conn, db.Name, Retention{"red_1m; DROP TABLE x": time.Hour}, d(3, 1, 0))
	assert.ErrorContains(t, err, "not a plain identifier")
	_, err = ApplyRetention(ctx, db.Conn, "bad name", DefaultRetention(), d(3, 1, 0))
	assert.ErrorContains(t, err, "database name")
}

func TestDefaultRetention(t *testing.T) {
	t.Parallel()
	r := DefaultRetention()
	days := func(table string) float64 { return r[table].Hours() / 24 }
	assert.Equal(t, 15.0, days(TableSpans))
	assert.Equal(t, 15.0, days(TableTraceIndex))
	for _, table := range []string{TableMetricsGauge, TableMetricsSum, TableMetricsHistogram, TableMetricsExponentialHistogram, TableMetricsSummary} {
		assert.Equal(t, 15.0, days(table), table)
	}
	assert.Equal(t, 30.0, days(TableRED1m))
	assert.Equal(t, 30.0, days(TableEdges1m))
	assert.Equal(t, 400.0, days(TableRED1h))
	assert.Equal(t, 400.0, days(TableEdges1h))
	assert.Equal(t, 1826.0, days(TableRED1d))
	assert.Equal(t, 1826.0, days(TableEdges1d))
	assert.NotContains(t, r, TableSchemaMigrations)
}
