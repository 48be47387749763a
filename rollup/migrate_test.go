package rollup

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
)

// objectsV2 is every table and view schema version 2 has, sorted.
var objectsV2 = []string{
	TableMetricsExponentialHistogram,
	TableMetricsGauge,
	TableMetricsHistogram,
	TableMetricsSum,
	TableMetricsSummary,
	TableSchemaMigrations,
	TableSpans,
	TableTraceIndex,
	"trace_index_mv",
}

// allObjects is every table and view the latest schema creates, sorted.
var allObjects = []string{
	TableAllocation,
	TableEdges1d, TableEdges1h, TableEdges1m,
	TableHotspots,
	TableMetricsExponentialHistogram,
	TableMetricsGauge,
	TableMetricsHistogram,
	TableMetricsSum,
	TableMetricsSummary,
	TableRED1d, TableRED1h, TableRED1m,
	TableREDService1d, TableREDService1h,
	TableSchemaMigrations,
	TableSeries1d, TableSeries1h, TableSeries1m,
	TableServiceCost1d,
	TableSpans,
	TableSpend,
	TableTraceIndex,
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// tableNames lists the tables and views in db's database, sorted.
func tableNames(t *testing.T, db *chtest.DB) []string {
	t.Helper()
	rows, err := db.Conn.Query(testContext(t),
		"SELECT name FROM system.tables WHERE database = ? ORDER BY name", db.Name)
	require.NoError(t, err)
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(t, rows.Err())
	sort.Strings(names)
	return names
}

// showCreate returns SHOW CREATE TABLE of every table and view in db's database.
func showCreate(t *testing.T, db *chtest.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range tableNames(t, db) {
		var ddl string
		require.NoError(t, db.Conn.QueryRow(testContext(t), "SHOW CREATE TABLE "+db.Table(name)).Scan(&ddl), name)
		out[name] = ddl
	}
	return out
}

func serverVersion(t *testing.T, db *chtest.DB) Version {
	t.Helper()
	var s string
	require.NoError(t, db.Conn.QueryRow(testContext(t), "SELECT version()").Scan(&s))
	v, err := ParseVersion(s)
	require.NoError(t, err)
	return v
}

// testSpan is the handful of span columns the tests set; the rest take their defaults.
type testSpan struct {
	start    time.Time
	duration time.Duration
	service  string
	name     string
	traceID  [16]byte
	spanID   [8]byte
	weight   float64
}

// insertSpans writes spans as one block. 18.16 needs the column list spelled out.
func insertSpans(t *testing.T, db *chtest.DB, spans ...testSpan) {
	t.Helper()
	ctx := testContext(t)
	batch, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+db.Table(TableSpans)+
		" (Timestamp, StartTimeUnixNano, DurationNano, ServiceName, SpanName, TraceId, SpanId, SampleWeight)")
	require.NoError(t, err)
	for _, s := range spans {
		require.NoError(t, batch.Append(
			s.start.Truncate(time.Second), uint64(s.start.UnixNano()), int64(s.duration),
			s.service, s.name, string(s.traceID[:]), string(s.spanID[:]), s.weight))
	}
	require.NoError(t, batch.Send())
}

// indexSpans writes the trace_index rows of spans as the clickhouse exporter does: one
// block, aggregated per trace and day in Go, through TraceIndexWriter.
func indexSpans(t *testing.T, db *chtest.DB, spans ...testSpan) {
	t.Helper()
	sv, err := db.Conn.ServerVersion()
	require.NoError(t, err)
	b := NewTraceIndexBlock(sv.Timezone)
	for _, s := range spans {
		b.Add(s.traceID, uint64(s.start.UnixNano()), uint64(s.start.UnixNano())+uint64(s.duration), s.service)
	}
	w, err := NewTraceIndexWriter(db.Conn, db.Name)
	require.NoError(t, err)
	require.NoError(t, w.Write(testContext(t), b))
}

// traceIndexRow is trace_index merged for one trace.
type traceIndexRow struct {
	start, end uint64
	count      uint64
	services   []string
}

// readTraceIndex merges trace_index for id; ok is false when the trace is not indexed.
func readTraceIndex(t *testing.T, db *chtest.DB, id [16]byte) (row traceIndexRow, ok bool) {
	t.Helper()
	rows, err := db.Conn.Query(testContext(t), fmt.Sprintf(
		"SELECT minMerge(StartUnixNano), maxMerge(EndUnixNano), countMerge(SpanCount), groupUniqArrayMerge(Services) "+
			"FROM %s WHERE TraceId = unhex('%s') GROUP BY TraceId", db.Table(TableTraceIndex), hex.EncodeToString(id[:])))
	require.NoError(t, err)
	defer rows.Close()
	if rows.Next() {
		require.NoError(t, rows.Scan(&row.start, &row.end, &row.count, &row.services))
		ok = true
		sort.Strings(row.services)
	}
	require.False(t, rows.Next(), "one row per trace after GROUP BY")
	require.NoError(t, rows.Err())
	return row, ok
}

func schemaMigrationRows(t *testing.T, db *chtest.DB) uint64 {
	t.Helper()
	return db.QueryUint64(t, "SELECT count() FROM "+db.Table(TableSchemaMigrations))
}

func TestMigrate_Fresh(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	ctx := testContext(t)
	res, err := Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)
	assert.Equal(t, 0, res.From)
	assert.Equal(t, LatestVersion(), res.To)
	assert.Equal(t, serverVersion(t, db), res.Server)
	assert.NotEmpty(t, res.Ran)
	assert.Equal(t, allObjects, tableNames(t, db))

	// One bookkeeping row per migration, in order, with the names of the history.
	rows, err := db.Conn.Query(ctx, "SELECT Version, Name FROM "+db.Table(TableSchemaMigrations)+" ORDER BY Version")
	require.NoError(t, err)
	defer rows.Close()
	var got []string
	for rows.Next() {
		var v uint32
		var name string
		require.NoError(t, rows.Scan(&v, &name))
		got = append(got, strconv.Itoa(int(v))+" "+name)
	}
	require.NoError(t, rows.Err())
	var want []string
	for _, m := range Migrations() {
		want = append(want, strconv.Itoa(m.Version)+" "+m.Name)
	}
	assert.Equal(t, want, got)

	v, err := CurrentVersion(ctx, db.Conn, db.Name)
	require.NoError(t, err)
	assert.Equal(t, LatestVersion(), v)
}

func TestCurrentVersion_EmptyDatabase(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	v, err := CurrentVersion(testContext(t), db.Conn, db.Name)
	require.NoError(t, err)
	assert.Equal(t, 0, v)

	_, err = CurrentVersion(testContext(t), db.Conn, "bad-name")
	assert.ErrorContains(t, err, "database name")
}

func TestMigrate_RejectsTargetOutsideHistory(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	ctx := testContext(t)
	_, err := Migrate(ctx, db.Conn, db.Name, LatestVersion()+1)
	assert.ErrorIs(t, err, ErrSchemaTooNew)
	_, err = Migrate(ctx, db.Conn, db.Name, -1)
	assert.ErrorContains(t, err, "versions start at 1")
	assert.Empty(t, tableNames(t, db), "nothing is created")
}

func TestMigrate_TwiceIsNoOp(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	ctx := testContext(t)
	_, err := Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)
	before := showCreate(t, db)
	require.Len(t, before, len(allObjects))
	rowsBefore := schemaMigrationRows(t, db)

	res, err := Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)
	assert.Empty(t, res.Ran)
	assert.Equal(t, LatestVersion(), res.From)
	assert.Equal(t, res.From, res.To)
	assert.Equal(t, before, showCreate(t, db))
	assert.Equal(t, rowsBefore, schemaMigrationRows(t, db))

	// Asking for an older version than the database has is a no-op too, not a downgrade.
	res, err = Migrate(ctx, db.Conn, db.Name, 1)
	require.NoError(t, err)
	assert.Empty(t, res.Ran)
	assert.Equal(t, LatestVersion(), res.To)
	assert.Equal(t, before, showCreate(t, db))
}

func TestMigrate_FromPreviousVersion(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	ctx := testContext(t)

	res, err := Migrate(ctx, db.Conn, db.Name, 1)
	require.NoError(t, err)
	require.Equal(t, 0, res.From)
	require.Equal(t, 1, res.To)

	base := time.Date(2024, 3, 5, 12, 0, 0, 123456789, time.UTC)
	oldTrace := [16]byte{0xaa, 1}
	insertSpans(t, db, testSpan{start: base, duration: time.Millisecond, service: "old", name: "GET /",
		traceID: oldTrace, spanID: [8]byte{1}, weight: 1})
	assert.NotContains(t, tableNames(t, db), TableTraceIndex)
	assert.NotContains(t, tableNames(t, db), "trace_index_mv")

	res, err = Migrate(ctx, db.Conn, db.Name, 2)
	require.NoError(t, err)
	assert.Equal(t, 1, res.From)
	assert.Equal(t, 2, res.To)
	var ran []string
	for _, st := range res.Ran {
		ran = append(ran, st.Name)
	}
	assert.Equal(t, []string{"trace_index", "trace_index_mv"}, ran, "only migration 2 runs")
	assert.Equal(t, objectsV2, tableNames(t, db))
	assert.Equal(t, uint64(1), db.QueryUint64(t, "SELECT count() FROM "+db.Table(TableSpans)+
		" WHERE TraceId = unhex('"+hex.EncodeToString(oldTrace[:])+"')"), "the old span survives")
	// The view sees inserts from its creation on; older spans are not indexed (see SCHEMA.md).
	_, ok := readTraceIndex(t, db, oldTrace)
	assert.False(t, ok)

	// A trace inserted after the migration is indexed: two spans, two services, and a
	// child that ends after its parent.
	newTrace := [16]byte{0xbb, 2}
	parent := testSpan{start: base, duration: 50 * time.Millisecond, service: "frontend", name: "GET /cart",
		traceID: newTrace, spanID: [8]byte{2}, weight: 1}
	child := testSpan{start: base.Add(10 * time.Millisecond), duration: 70 * time.Millisecond, service: "cart",
		name: "SELECT", traceID: newTrace, spanID: [8]byte{3}, weight: 4}
	insertSpans(t, db, parent, child)
	got, ok := readTraceIndex(t, db, newTrace)
	require.True(t, ok, "new trace is in trace_index")
	assert.Equal(t, uint64(parent.start.UnixNano()), got.start)
	assert.Equal(t, uint64(child.start.UnixNano())+uint64(child.duration), got.end)
	assert.Equal(t, uint64(2), got.count)
	assert.Equal(t, []string{"cart", "frontend"}, got.services)

	// A later block for the same trace merges into the same entry.
	late := testSpan{start: base.Add(time.Second), duration: time.Millisecond, service: "cart", name: "COMMIT",
		traceID: newTrace, spanID: [8]byte{4}, weight: 1}
	insertSpans(t, db, late)
	got, ok = readTraceIndex(t, db, newTrace)
	require.True(t, ok)
	assert.Equal(t, uint64(parent.start.UnixNano()), got.start)
	assert.Equal(t, uint64(late.start.UnixNano())+uint64(late.duration), got.end)
	assert.Equal(t, uint64(3), got.count)
	assert.Equal(t, []string{"cart", "frontend"}, got.services)

	// The backfill SCHEMA.md gives for spans written before migration 2 indexes the old trace.
	db.Exec(t, "INSERT INTO "+db.Table(TableTraceIndex)+
		" SELECT TraceId, toDate(Timestamp) AS Day, minState(StartTimeUnixNano), "+
		"maxState(toUInt64(StartTimeUnixNano + DurationNano)), groupUniqArrayState(toString(ServiceName)), countState() "+
		"FROM "+db.Table(TableSpans)+" WHERE TraceId = unhex('"+hex.EncodeToString(oldTrace[:])+"') GROUP BY TraceId, Day")
	got, ok = readTraceIndex(t, db, oldTrace)
	require.True(t, ok)
	assert.Equal(t, traceIndexRow{start: uint64(base.UnixNano()), end: uint64(base.UnixNano()) + uint64(time.Millisecond),
		count: 1, services: []string{"old"}}, got)
}

// TestMigrate_DropsTraceIndexView upgrades a database from version 6, where the view of
// migration 2 still indexes every span insert, to the latest: the view goes, the index
// keeps what the view stored, and from then on only TraceIndexWriter adds to it.
func TestMigrate_DropsTraceIndexView(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	ctx := testContext(t)
	_, err := Migrate(ctx, db.Conn, db.Name, 6)
	require.NoError(t, err)
	require.Contains(t, tableNames(t, db), "trace_index_mv")

	base := time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	id := [16]byte{0xab, 7}
	before := testSpan{start: base, duration: 10 * time.Millisecond, service: "frontend", name: "GET /",
		traceID: id, spanID: [8]byte{1}, weight: 1}
	insertSpans(t, db, before)
	got, ok := readTraceIndex(t, db, id)
	require.True(t, ok, "the view indexed the span written at version 6")
	require.Equal(t, uint64(1), got.count)

	res, err := Migrate(ctx, db.Conn, db.Name, 7)
	require.NoError(t, err)
	assert.Equal(t, 6, res.From)
	assert.Equal(t, 7, res.To)
	var ran []string
	for _, st := range res.Ran {
		ran = append(ran, st.Name)
	}
	assert.Equal(t, []string{"trace_index_mv_drop"}, ran)
	objectsV7 := slices.DeleteFunc(slices.Clone(allObjects), func(name string) bool {
		return name == TableREDService1h || name == TableREDService1d // migration 9
	})
	assert.Equal(t, objectsV7, tableNames(t, db))

	// A span inserted into spans alone is no longer indexed: nothing counts it behind the
	// exporter's back, so the exporter's own index row is the only one.
	after := testSpan{start: base.Add(time.Second), duration: 20 * time.Millisecond, service: "cart", name: "GetCart",
		traceID: id, spanID: [8]byte{2}, weight: 1}
	insertSpans(t, db, after)
	got, ok = readTraceIndex(t, db, id)
	require.True(t, ok)
	assert.Equal(t, uint64(1), got.count, "the view is gone")

	// The exporter's row merges with what the view stored before the upgrade.
	indexSpans(t, db, after)
	got, ok = readTraceIndex(t, db, id)
	require.True(t, ok)
	assert.Equal(t, traceIndexRow{
		start:    uint64(before.start.UnixNano()),
		end:      uint64(after.start.UnixNano()) + uint64(after.duration),
		count:    2,
		services: []string{"cart", "frontend"},
	}, got)
}

// TestTraceIndex_ReadTraceByID runs the two-step trace lookup SCHEMA.md documents.
func TestTraceIndex_ReadTraceByID(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	ctx := testContext(t)
	_, err := Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)

	// The trace crosses midnight in the server's time zone (which toDate uses), so it has an
	// index entry in two Day partitions.
	midnight := db.QueryUint64(t, "SELECT toUnixTimestamp(toDateTime('2024-03-06 00:00:00'))")
	base := time.Unix(int64(midnight), 0).Add(-100 * time.Millisecond)
	id := [16]byte{0xcc, 3}
	other := [16]byte{0xdd, 4}
	spans := []testSpan{
		{start: base, duration: 300 * time.Millisecond, service: "a", name: "root", traceID: id, spanID: [8]byte{1}, weight: 1},
		{start: base.Add(200 * time.Millisecond), duration: 10 * time.Millisecond, service: "b", name: "child", traceID: id, spanID: [8]byte{2}, weight: 1},
		{start: base, duration: time.Second, service: "a", name: "root", traceID: other, spanID: [8]byte{3}, weight: 1},
	}
	insertSpans(t, db, spans...)
	indexSpans(t, db, spans...)
	assert.Equal(t, uint64(2), db.QueryUint64(t, "SELECT count() FROM "+db.Table(TableTraceIndex)+
		" WHERE TraceId = unhex('"+hex.EncodeToString(id[:])+"')"), "one index row per trace and day before merges")

	got, ok := readTraceIndex(t, db, id)
	require.True(t, ok)
	assert.Equal(t, uint64(2), got.count)
	assert.Equal(t, []string{"a", "b"}, got.services)

	q := fmt.Sprintf(`SELECT SpanName FROM %[1]s.spans
WHERE TraceId = unhex('%[2]s')
  AND ServiceName IN (%[3]s)
  AND Timestamp BETWEEN toDateTime(intDiv(%[4]d, 1000000000)) AND toDateTime(intDiv(%[5]d, 1000000000))
ORDER BY StartTimeUnixNano`, db.Name, hex.EncodeToString(id[:]), "'a', 'b'", got.start, got.end)
	rows, err := db.Conn.Query(ctx, q)
	require.NoError(t, err)
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{"root", "child"}, names)
}

func TestMigrate_SchemaTooNew(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	ctx := testContext(t)
	_, err := Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)

	future := LatestVersion() + 1
	batch, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+db.Table(TableSchemaMigrations)+" (Version, Name, AppliedAt, Binary)")
	require.NoError(t, err)
	require.NoError(t, batch.Append(uint32(future), "from the future", time.Now().Truncate(time.Second), "weir-next"))
	require.NoError(t, batch.Send())
	before := showCreate(t, db)

	res, err := Migrate(ctx, db.Conn, db.Name, 0)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrSchemaTooNew), "%v", err)
	assert.Contains(t, err.Error(), db.Name)
	assert.Contains(t, err.Error(), "version "+strconv.Itoa(future))
	assert.Contains(t, err.Error(), "up to "+strconv.Itoa(LatestVersion()))
	assert.Empty(t, res.Ran)
	assert.Equal(t, future, res.From)
	assert.Equal(t, before, showCreate(t, db), "nothing is touched")

	v, err := CurrentVersion(ctx, db.Conn, db.Name)
	require.NoError(t, err)
	assert.Equal(t, future, v)
}

func TestMigrate_Concurrent(t *testing.T) {
	t.Parallel()
	// Several rounds, each on a fresh database, to give the race a chance to show.
	for round := range 3 {
		t.Run("round"+strconv.Itoa(round), func(t *testing.T) {
			db := chtest.New(t)
			ctx := testContext(t)
			const n = 2
			var wg sync.WaitGroup
			errs := make([]error, n)
			results := make([]Applied, n)
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i], errs[i] = Migrate(ctx, db.Conn, db.Name, 0)
				}()
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				require.NoError(t, err, "migrator %d", i)
				assert.Equal(t, LatestVersion(), results[i].To, "migrator %d", i)
			}
			v, err := CurrentVersion(ctx, db.Conn, db.Name)
			require.NoError(t, err)
			assert.Equal(t, LatestVersion(), v)
			assert.Equal(t, allObjects, tableNames(t, db))
			// Every version is recorded. Racing migrators each append their own row (there is
			// no cross-process lock and 18.16 MergeTree does not deduplicate inserts), which is
			// harmless: the schema version is max(Version). At most one row per migrator.
			assert.Equal(t, uint64(len(Migrations())), db.QueryUint64(t,
				"SELECT uniqExact(Version) FROM "+db.Table(TableSchemaMigrations)), "every version recorded")
			assert.LessOrEqual(t, schemaMigrationRows(t, db), uint64(n*len(Migrations())))

			// The schema works: a span reaches spans, and its index row reaches trace_index.
			// No migrator left the view of migration 2 behind (each drops it after creating
			// it), so the span is indexed once, not also by a view.
			id := [16]byte{0xee, byte(round)}
			sp := testSpan{start: time.Now(), duration: time.Millisecond, service: "s", name: "n",
				traceID: id, spanID: [8]byte{1}, weight: 1}
			insertSpans(t, db, sp)
			indexSpans(t, db, sp)
			got, ok := readTraceIndex(t, db, id)
			require.True(t, ok)
			assert.Equal(t, uint64(1), got.count, "indexed once")
		})
	}
}

// TestPlan_ProfilesDifferOnlyByFeatures checks that newer servers get the 18.16 DDL plus
// exactly what FeaturesFor switches on: undoing LowCardinality, CODEC and the skip index
// in their DDL gives back the 18.16 text, statement by statement.
func TestPlan_ProfilesDifferOnlyByFeatures(t *testing.T) {
	plan := func(version string) ([]Statement, string) {
		t.Helper()
		v, err := ParseVersion(version)
		require.NoError(t, err)
		stmts, err := Plan(Options{Database: "weir", Features: FeaturesFor(v)}, 0, LatestVersion())
		require.NoError(t, err)
		var all strings.Builder
		for _, st := range stmts {
			all.WriteString(st.SQL + "\n")
		}
		return stmts, all.String()
	}
	core, coreSQL := plan("18.16.1")
	for _, s := range []string{"LowCardinality", "CODEC", "INDEX", "bloom_filter"} {
		assert.NotContains(t, coreSQL, s, "18.16 DDL is the portable core")
	}

	codecRe := regexp.MustCompile(` CODEC\((?:[^()]|\([^()]*\))*\)`)
	indexRe := regexp.MustCompile(`,\n\s*INDEX [^\n]*`)
	for _, tc := range []struct {
		version string
		want    Features
	}{
		{"19.3.4", Features{LowCardinality: true}},
		{"20.1.2.4", Features{LowCardinality: true, Codecs: true, SkipIndexes: true}},
		{"24.8.4.13", Features{LowCardinality: true, Codecs: true, SkipIndexes: true}},
	} {
		t.Run(tc.version, func(t *testing.T) {
			stmts, sql := plan(tc.version)
			check := func(on bool, substr string) {
				t.Helper()
				if on {
					assert.Contains(t, sql, substr)
				} else {
					assert.NotContains(t, sql, substr)
				}
			}
			check(tc.want.LowCardinality, "LowCardinality(String)")
			check(tc.want.Codecs, " CODEC(")
			check(tc.want.Codecs, "Timestamp                   DateTime CODEC(DoubleDelta, ZSTD(1))")
			check(tc.want.SkipIndexes, "INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1")
			for _, line := range strings.Split(sql, "\n") {
				if strings.Contains(line, "Values") {
					assert.NotContains(t, line, "LowCardinality", "attribute values are not dictionary-friendly")
				}
			}

			require.Len(t, stmts, len(core))
			for i, st := range stmts {
				undone := strings.ReplaceAll(st.SQL, "LowCardinality(String)", "String")
				undone = codecRe.ReplaceAllString(undone, "")
				undone = indexRe.ReplaceAllString(undone, "")
				assert.Equal(t, core[i].Name, st.Name)
				assert.Equal(t, core[i].SQL, undone, "statement %s", st.Name)
			}
		})
	}
}
