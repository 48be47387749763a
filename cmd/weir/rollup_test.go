package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chcluster"
	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/rollup"
)

func runRollup(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runCommand(t, rollupCommand(), args...)
}

func TestRollupCommand(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	_, err := rollup.Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)

	// Three rows of one series in an hour that closed at least two hours ago (two of them in
	// the same minute), and one row 40 days old.
	hour := time.Now().Add(-3 * time.Hour).Truncate(time.Hour)
	old := time.Now().Add(-40 * 24 * time.Hour)
	batch, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+db.Table(rollup.TableRED1m)+
		" (Timestamp, ServiceName, SpanName, SpanKind, StatusCode, Requests, DurationSumNano, ZeroCount, BucketIndexes, BucketCounts)")
	require.NoError(t, err)
	for _, r := range []struct {
		ts       time.Time
		status   uint8
		requests uint64
		idx      []int32
		counts   []uint64
	}{
		{hour.Add(time.Minute), 0, 3, []int32{1500, 1510}, []uint64{2, 1}},
		{hour.Add(time.Minute + 20*time.Second), 2, 2, []int32{1510}, []uint64{2}},
		{hour.Add(59 * time.Minute), 0, 4, []int32{1490, 1500}, []uint64{1, 3}},
		{old, 0, 1, []int32{1500}, []uint64{1}},
	} {
		require.NoError(t, batch.Append(r.ts, "checkout", "POST /checkout", uint8(2), r.status, r.requests,
			float64(r.requests)*1e7, uint64(0), r.idx, r.counts))
	}
	require.NoError(t, batch.Send())

	out, _, err := runRollup(t, "--endpoint", chtest.Endpoint(), "--database", db.Name, "--from", "-24h")
	require.NoError(t, err)
	assert.Contains(t, out, "rollup "+db.Name+": ")
	assert.Contains(t, out, "red_1h    "+hour.UTC().Format("20060102")+" from red_1m")
	assert.NotContains(t, out, "retention")
	h := "toDateTime(" + strconv.FormatInt(hour.Unix(), 10) + ")"
	assert.Equal(t, uint64(1), db.QueryUint64(t, "SELECT count() FROM "+db.Table(rollup.TableRED1h)+" WHERE Timestamp = "+h+" AND StatusCode = 0"))
	assert.Equal(t, uint64(7), db.QueryUint64(t, "SELECT sum(Requests) FROM "+db.Table(rollup.TableRED1h)+" WHERE Timestamp = "+h+" AND StatusCode = 0"))
	assert.Equal(t, "([1490,1500,1510],[1,5,1])", db.QueryString(t,
		"SELECT toString(sumMap(BucketIndexes, BucketCounts)) FROM "+db.Table(rollup.TableRED1h)+" WHERE Timestamp = "+h+" AND StatusCode = 0"))
	assert.Equal(t, uint64(1), db.QueryUint64(t, "SELECT sum(Requests) FROM "+db.Table(rollup.TableRED1h)+" WHERE Timestamp < now() - 86400*2"),
		"the 40-day-old row is outside --from, but its hour had never been rolled up")
	assert.Contains(t, out, "red_service_1h "+hour.UTC().Format("20060102")+" from red_1h")
	assert.Equal(t, uint64(9), db.QueryUint64(t, "SELECT sum(Requests) FROM "+db.Table(rollup.TableREDService1h)+" WHERE Timestamp = "+h))
	assert.Equal(t, uint64(2), db.QueryUint64(t, "SELECT sum(Errors) FROM "+db.Table(rollup.TableREDService1h)+" WHERE Timestamp = "+h))
	before := db.QueryUint64(t, "SELECT sum(Requests) FROM "+db.Table(rollup.TableRED1h))

	// Again, with retention: the hourly tier is unchanged and the old day is dropped from the
	// one-minute tier, which keeps 30 days; the hourly tier keeps it.
	out, _, err = runRollup(t, "--endpoint", chtest.Endpoint(), "--database", db.Name, "--from", "-1d", "--retention")
	require.NoError(t, err)
	assert.Contains(t, out, "retention "+db.Name+": 1 partitions dropped")
	assert.Contains(t, out, "red_1m")
	assert.Equal(t, before, db.QueryUint64(t, "SELECT sum(Requests) FROM "+db.Table(rollup.TableRED1h)))
	assert.Equal(t, uint64(3), db.QueryUint64(t, "SELECT count() FROM "+db.Table(rollup.TableRED1m)))
}

// TestRollupCommand_Cluster rolls up and applies retention on the test cluster: every shard
// gets its own hourly rows, and the old day is dropped on both shards.
func TestRollupCommand_Cluster(t *testing.T) {
	t.Parallel()
	db := chcluster.New(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	_, err := rollup.MigrateCluster(ctx, db.Conn, rollup.Cluster{Name: db.Cluster.Name, Dial: chcluster.Dial}, db.Name, 0)
	require.NoError(t, err)
	hour := time.Now().Add(-3 * time.Hour).Truncate(time.Hour)
	old := time.Now().Add(-40 * 24 * time.Hour)
	batch, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+db.Name+"."+rollup.TableRED1m+" (Timestamp, ServiceName, SpanName, Requests)")
	require.NoError(t, err)
	services := []string{"checkout", "cart", "frontend", "payment", "shipping", "search", "ads", "auth"}
	for _, svc := range services {
		require.NoError(t, batch.Append(hour.Add(time.Minute), svc, "op", uint64(2)))
		require.NoError(t, batch.Append(old, svc, "op", uint64(1)))
	}
	require.NoError(t, batch.Send())

	out, _, err := runRollup(t, "--endpoint", "tcp://"+strings.Join(db.Endpoints(), ","), "--database", db.Name,
		"--cluster", db.Cluster.Name, "--from", "-24h", "--retention")
	require.NoError(t, err)
	day := hour.UTC().Format("20060102")
	assert.Contains(t, out, "red_1h    "+day+" from red_1m")
	assert.Contains(t, out, "on shard 1\n")
	assert.Contains(t, out, "on shard 2\n")
	assert.Contains(t, out, "retention "+db.Name+": 2 partitions dropped", "the old day on each shard")
	// The 40-day-old minutes are outside --from, but their hour had never been rolled up, so
	// the job catches up with it before retention drops it from the minute tier.
	assert.Equal(t, uint64(3*len(services)), db.QueryUint64(t, "", "SELECT sum(Requests) FROM "+db.Name+"."+rollup.TableRED1h))
	assert.Equal(t, uint64(len(services)), db.QueryUint64(t, "", "SELECT count() FROM "+db.Name+"."+rollup.TableRED1m))
}

func TestRollupCommand_BadFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "yesterday"}, "--from"},
		{[]string{"--to", "2024-13-01"}, "--to"},
		{[]string{"--from", "-1h", "--to", "-2h"}, "is not before --to"},
		{[]string{"--grace", "-1m"}, "must not be negative"},
		{[]string{"--database", "weir; DROP"}, "database name"},
	} {
		_, _, err := runRollup(t, append([]string{"--endpoint", unreachable}, tc.args...)...)
		assert.ErrorContains(t, err, tc.want, tc.args)
	}
	// A server that is not there is reported, not hung on.
	_, _, err := runRollup(t, "--endpoint", unreachable)
	assert.ErrorContains(t, err, "connect")
}

func TestRollupParseWhen(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	f := func(s string, want time.Time) {
		t.Helper()
		got, err := parseWhen(s, now)
		require.NoError(t, err, s)
		assert.True(t, want.Equal(got), "%s: got %s, want %s", s, got, want)
	}
	f("now", now)
	f("", now)
	f("-48h", now.Add(-48*time.Hour))
	f("-90m", now.Add(-90*time.Minute))
	f("-7d", now.Add(-7*24*time.Hour))
	f("1.5d", now.Add(36*time.Hour))
	f("2024-03-01T00:00:00Z", time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC))
	f("2024-03-01T01:00:00+01:00", time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC))
	for _, bad := range []string{"yesterday", "-7x", "d", "2024-03-01"} {
		_, err := parseWhen(bad, now)
		assert.Error(t, err, bad)
	}
}
