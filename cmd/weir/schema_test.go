package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/rollup"
)

func runSchema(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runCommand(t, schemaCommand(), args...)
}

// unreachable is an endpoint nothing listens on: offline rendering must not dial it.
const unreachable = "tcp://127.0.0.1:1"

func TestSchemaCommand_Offline(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version string
		header  string
		want    []string
		absent  []string
	}{
		{
			version: "18.16.1",
			header:  "-- weir schema for ClickHouse 18.16.1, database weir_offline: version 0 -> %d (%d statements)",
			want:    []string{"ServiceName                 String,"},
			absent:  []string{"LowCardinality", "CODEC", "bloom_filter"},
		},
		{
			version: "24.8",
			header:  "-- weir schema for ClickHouse 24.8.0, database weir_offline: version 0 -> %d (%d statements)",
			want: []string{"ServiceName                 LowCardinality(String),", "CODEC(DoubleDelta, ZSTD(1))",
				"INDEX idx_trace_id TraceId TYPE bloom_filter"},
		},
	} {
		t.Run(tc.version, func(t *testing.T) {
			t.Parallel()
			out, _, err := runSchema(t, "--server-version", tc.version, "--endpoint", unreachable,
				"--database", "weir_offline")
			require.NoError(t, err)

			v, err := rollup.ParseVersion(tc.version)
			require.NoError(t, err)
			stmts, err := rollup.Plan(rollup.Options{Database: "weir_offline", Features: rollup.FeaturesFor(v)}, 0, rollup.LatestVersion())
			require.NoError(t, err)
			header, _, _ := strings.Cut(out, "\n")
			assert.Equal(t, fmt.Sprintf(tc.header, rollup.LatestVersion(), len(stmts)), header)
			// Every statement is printed under its name, terminated with a semicolon.
			for _, st := range stmts {
				assert.Contains(t, out, "-- "+st.Comment()+"\n"+st.SQL+";\n")
			}
			assert.Contains(t, out, "CREATE TABLE IF NOT EXISTS weir_offline.spans (")
			for _, s := range tc.want {
				assert.Contains(t, out, s)
			}
			for _, s := range tc.absent {
				assert.NotContains(t, out, s)
			}
		})
	}
}

func TestSchemaCommand_BadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"bad version", []string{"--server-version", "eighteen"}, "parse server version"},
		{"version without minor", []string{"--server-version", "18"}, "want major.minor"},
		{"bad database", []string{"--server-version", "18.16", "--database", "weir-prod"}, "database name"},
		{"offline apply", []string{"--server-version", "18.16", "--apply"}, "--server-version renders offline"},
		{"positional argument", []string{"extra"}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := runSchema(t, append(tc.args, "--endpoint", unreachable)...)
			require.Error(t, err)
			assert.ErrorContains(t, err, tc.wantErr)
			assert.NotContains(t, out, "CREATE TABLE")
		})
	}
}

func TestSchemaCommand_Apply(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	base := []string{"--endpoint", "tcp://" + chtest.Addr(), "--database", db.Name}
	var server string
	require.NoError(t, db.Conn.QueryRow(t.Context(), "SELECT version()").Scan(&server))
	sv, err := rollup.ParseVersion(server)
	require.NoError(t, err)
	latest := rollup.LatestVersion()

	// Without --apply it prints what it would run, for the detected server, and runs nothing.
	out, _, err := runSchema(t, base...)
	require.NoError(t, err)
	assert.Contains(t, out, fmt.Sprintf("-- weir schema for ClickHouse %s, database %s: version 0 -> %d", sv, db.Name, latest))
	assert.Contains(t, out, "CREATE TABLE IF NOT EXISTS "+db.Name+".spans (")
	if !rollup.FeaturesFor(sv).LowCardinality {
		assert.NotContains(t, out, "LowCardinality")
	}
	assert.Equal(t, uint64(0), db.QueryUint64(t, "SELECT count() FROM system.tables WHERE database = ?", db.Name))

	out, errOut, err := runSchema(t, append(base, "--apply")...)
	require.NoError(t, err)
	assert.Empty(t, out)
	assert.Contains(t, errOut, fmt.Sprintf("ClickHouse %s: %s at schema version %d (was 0), ", sv, db.Name, latest))
	v, err := rollup.CurrentVersion(t.Context(), db.Conn, db.Name)
	require.NoError(t, err)
	assert.Equal(t, latest, v)
	for _, table := range []string{rollup.TableSpans, rollup.TableTraceIndex, rollup.TableMetricsGauge, rollup.TableSchemaMigrations} {
		assert.Equal(t, uint64(1), db.QueryUint64(t,
			"SELECT count() FROM system.tables WHERE database = ? AND name = ?", db.Name, table), table)
	}
	migrations := db.QueryUint64(t, "SELECT count() FROM "+db.Table(rollup.TableSchemaMigrations))

	// A second run finds nothing to do.
	_, errOut, err = runSchema(t, append(base, "--apply")...)
	require.NoError(t, err)
	assert.Contains(t, errOut, fmt.Sprintf("at schema version %d (was %d), 0 statements run", latest, latest))
	assert.Equal(t, migrations, db.QueryUint64(t, "SELECT count() FROM "+db.Table(rollup.TableSchemaMigrations)))

	// And the plan printed against the migrated database is empty.
	out, _, err = runSchema(t, base...)
	require.NoError(t, err)
	assert.Contains(t, out, fmt.Sprintf("version %d -> %d (0 statements)", latest, latest))
	assert.NotContains(t, out, "CREATE")
}

func TestSchemaCommand_ApplyUnreachable(t *testing.T) {
	t.Parallel()
	_, _, err := runSchema(t, "--endpoint", unreachable, "--database", "weir", "--apply")
	require.Error(t, err)
	assert.ErrorContains(t, err, "scripts/clickhouse.sh start")
}
