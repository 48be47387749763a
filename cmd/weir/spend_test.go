package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/rollup"
)

const (
	spendFixture    = "../../analyzer/focus/testdata/focus-1.0-sample.csv"
	openCostFixture = "../../analyzer/opencost/testdata/allocation_namespace.json"
)

func runSpend(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runCommand(t, spendCommand(), args...)
}

func TestSpendCommand_Import(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	base := []string{"import", "--endpoint", "tcp://" + chtest.Addr(), "--database", db.Name}

	out, errOut, err := runSpend(t, append(base, spendFixture, openCostFixture)...)
	require.NoError(t, err)
	assert.Contains(t, out, "spend import "+db.Name+": 2 files, 1,006 rows, 0 bad rows\n")
	assert.Contains(t, out, "  "+spendFixture+"  FOCUS 1.0  1,000 rows  0 bad  billed 20.52  effective 14.98\n")
	assert.Contains(t, out, "  "+openCostFixture+"  OpenCost  6 rows  0 bad  total cost 12.40\n")
	assert.Contains(t, out, "  2024-09  account 1234567890123  942 rows (was 0)  billed ")
	assert.Contains(t, out, "  2024-10  account 20209880  1 rows (was 0)  billed 0.24  effective 0.00\n")
	assert.Contains(t, out, "  [2024-09-01T00:00:00Z, 2024-09-02T00:00:00Z)  cluster cluster-one  3 rows (was 0)  total 6.25\n")
	// Progress goes to stderr, a line per update when it is not a terminal.
	assert.Contains(t, errOut, spendFixture+" (FOCUS): read 0.8 MB in ")
	assert.Contains(t, errOut, ", 1,000 rows, 0 bad\n")
	assert.Equal(t, uint64(1000), db.QueryUint64(t, "SELECT count() FROM "+db.Table(rollup.TableSpend)))

	// Again: replaced, not doubled.
	out, _, err = runSpend(t, append(base, spendFixture)...)
	require.NoError(t, err)
	assert.Contains(t, out, "  2024-09  account 1234567890123  942 rows (was 942)  billed ")
	assert.Equal(t, uint64(1000), db.QueryUint64(t, "SELECT count() FROM "+db.Table(rollup.TableSpend)))
	assert.Equal(t, uint64(6), db.QueryUint64(t, "SELECT count() FROM "+db.Table(rollup.TableAllocation)))
}

func TestSpendCommand_BadRowsAndUnreadableFiles(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	base := []string{"import", "--endpoint", "tcp://" + chtest.Addr(), "--database", db.Name}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,BilledCost,BillingAccountId\n"+
		"2024-09-01,2024-10-01,2024-09-01,2024-09-02,x,acct\n"+
		"2024-09-01,2024-10-01,2024-09-01,2024-09-02,3,acct\n"+
		"2024-09-01,2024-10-01,2024-09-01\n"), 0o644))

	// Some bad rows: reported, the rest imported, exit status 0.
	out, _, err := runSpend(t, append(base, bad)...)
	require.NoError(t, err)
	assert.Contains(t, out, "1 files, 1 rows, 2 bad rows\n")
	assert.Contains(t, out, "bad rows in "+bad+" (2):\n"+
		"  line 2: BilledCost \"x\" is not a number\n"+
		"  line 4: has 3 columns, the header has 6\n")
	assert.Equal(t, uint64(1), db.QueryUint64(t, "SELECT count() FROM "+db.Table(rollup.TableSpend)))

	// A file that cannot be read: an error (exit status 1), and nothing replaced.
	notFOCUS := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(notFOCUS, []byte("hello\n"), 0o644))
	for _, files := range [][]string{
		{spendFixture, filepath.Join(dir, "missing.csv")},
		{spendFixture, notFOCUS},
	} {
		out, _, err = runSpend(t, append(base, files...)...)
		require.Error(t, err, files)
		assert.ErrorContains(t, err, "nothing replaced")
		assert.Contains(t, out, "NOTHING REPLACED, the tables are as they were")
		assert.Contains(t, out, "FAILED: ")
		assert.Equal(t, uint64(1), db.QueryUint64(t, "SELECT count() FROM "+db.Table(rollup.TableSpend)))
	}
}

func TestSpendCommand_BadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no files", []string{"import"}, "requires at least 1 arg"},
		{"bad database", []string{"import", "--database", "weir-prod", spendFixture}, "database name"},
		{"unreachable", []string{"import", "--endpoint", unreachable, spendFixture}, "scripts/clickhouse.sh start"},
		{"unknown subcommand", []string{"export"}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := runSpend(t, tc.args...)
			require.Error(t, err)
			assert.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestThousands(t *testing.T) {
	f := func(n uint64, want string) {
		t.Helper()
		assert.Equal(t, want, thousands(n))
	}
	f(0, "0")
	f(999, "999")
	f(1000, "1,000")
	f(1234567, "1,234,567")
	assert.Equal(t, "2024-09", period(time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)))
	assert.True(t, strings.HasPrefix(period(time.Date(2024, 9, 15, 0, 0, 0, 0, time.UTC), time.Date(2024, 10, 15, 0, 0, 0, 0, time.UTC)), "[2024-09-15T"))
}
