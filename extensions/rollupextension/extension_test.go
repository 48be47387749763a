package rollupextension

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/weirhq/weir/internal/chcluster"
	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/rollup"
)

// start runs the extension against db with short intervals and returns its log.
func start(t *testing.T, db *chtest.DB) *observer.ObservedLogs {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.ClickHouse.Endpoint = chtest.Endpoint()
	cfg.ClickHouse.Database = db.Name
	cfg.Interval, cfg.RetentionInterval = 100*time.Millisecond, 100*time.Millisecond
	return startWith(t, cfg)
}

// startWith runs the extension with cfg and returns its log.
func startWith(t *testing.T, cfg *Config) *observer.ObservedLogs {
	t.Helper()
	require.NoError(t, cfg.Validate())
	core, logs := observer.New(zap.DebugLevel)
	set := extensiontest.NewNopSettings(NewFactory().Type())
	set.Logger = zap.New(core)
	ext, err := NewFactory().Create(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { assert.NoError(t, ext.Shutdown(context.Background())) })
	return logs
}

// The schedule rolls closed hours of red_1m up into red_1h and drops partitions past their
// retention, without anyone calling it.
func TestScheduler_RollsUpAndDrops(t *testing.T) {
	db := chtest.New(t)
	ctx := context.Background()
	_, err := rollup.Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)

	hour := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour)
	for i, n := range []int{3, 4} {
		db.Exec(t, fmt.Sprintf("INSERT INTO %s (Timestamp, ServiceName, SpanName, SpanKind, StatusCode, Requests, BucketIndexes, BucketCounts) "+
			"SELECT toDateTime(%d), 'cart', 'GET /cart', 2, 0, %d, [100], [%d]", db.Table(rollup.TableRED1m), hour.Unix()+int64(60*i), n, n))
	}
	old := time.Now().UTC().Add(-20 * 24 * time.Hour)
	db.Exec(t, fmt.Sprintf("INSERT INTO %s (Timestamp, ServiceName, SpanName, TraceId, SpanId) SELECT toDateTime(%d), 'cart', 'x', '0123456789abcdef', '01234567'",
		db.Table(rollup.TableSpans), old.Unix()))

	logs := start(t, db)
	require.Eventually(t, func() bool {
		return db.QueryUint64(t, "SELECT toUInt64(sum(Requests)) FROM "+db.Table(rollup.TableRED1h)) == 7 &&
			db.QueryUint64(t, "SELECT count() FROM "+db.Table(rollup.TableSpans)) == 0
	}, 60*time.Second, 50*time.Millisecond, "the hour rolled up and the 20-day-old span dropped; log: %v", logs.All())
	assert.Equal(t, uint64(1), db.QueryUint64(t, "SELECT count() FROM "+db.Table(rollup.TableRED1h)+" WHERE Timestamp = toDateTime("+fmt.Sprint(hour.Unix())+")"))
	// The drop is visible before the run that made it logs it.
	assert.Eventually(t, func() bool { return len(logs.FilterMessage("retention dropped a partition").All()) > 0 },
		10*time.Second, 10*time.Millisecond)
}

// On a cluster the schedule rolls up and drops on every shard.
func TestScheduler_OnCluster(t *testing.T) {
	db := chcluster.New(t)
	ctx := context.Background()
	_, err := rollup.MigrateCluster(ctx, db.Conn, rollup.Cluster{Name: db.Cluster.Name, Dial: chcluster.Dial}, db.Name, 0)
	require.NoError(t, err)
	hour := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour)
	old := time.Now().UTC().Add(-20 * 24 * time.Hour)
	red, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+db.Name+"."+rollup.TableRED1m+" (Timestamp, ServiceName, SpanName, Requests)")
	require.NoError(t, err)
	spans, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+db.Name+"."+rollup.TableSpans+" (Timestamp, ServiceName, SpanName, TraceId, SpanId)")
	require.NoError(t, err)
	services := []string{"checkout", "cart", "frontend", "payment", "shipping", "search", "ads", "auth"}
	for i, svc := range services {
		require.NoError(t, red.Append(hour.Add(time.Minute), svc, "op", uint64(i+1)))
		require.NoError(t, spans.Append(old, svc, "op", fmt.Sprintf("%016d", i), "01234567"))
	}
	require.NoError(t, red.Send())
	require.NoError(t, spans.Send())

	cfg := createDefaultConfig().(*Config)
	cfg.ClickHouse.Endpoint = "tcp://" + strings.Join(db.Endpoints(), ",")
	cfg.ClickHouse.Database, cfg.ClickHouse.Cluster = db.Name, db.Cluster.Name
	cfg.Interval, cfg.RetentionInterval = 100*time.Millisecond, 100*time.Millisecond
	logs := startWith(t, cfg)
	q := func(query string) uint64 { return db.QueryUint64(t, "", query) }
	require.Eventually(t, func() bool {
		return q("SELECT toUInt64(sum(Requests)) FROM "+db.Name+"."+rollup.TableRED1h) == uint64(len(services)*(len(services)+1)/2) &&
			q("SELECT count() FROM "+db.Name+"."+rollup.TableSpans) == 0
	}, 60*time.Second, 100*time.Millisecond, "the hour rolled up and the old spans dropped on both shards; log: %v", logs.All())
	assert.Eventually(t, func() bool {
		shards := map[int64]bool{}
		for _, e := range logs.FilterMessage("retention dropped a partition").All() {
			shards[e.ContextMap()["shard"].(int64)] = true
		}
		return shards[1] && shards[2] && len(shards) == 2
	}, 10*time.Second, 10*time.Millisecond, "a partition dropped on each shard; log: %v", logs.All())
}

// Against a database the exporter has not created yet, runs wait instead of failing.
func TestScheduler_WaitsForTheSchema(t *testing.T) {
	db := chtest.New(t)
	logs := start(t, db)
	require.Eventually(t, func() bool {
		return logs.FilterMessage("rollup skipped; retried at the next interval").Len() > 0 &&
			logs.FilterMessage("retention skipped; retried at the next interval").Len() > 0
	}, 30*time.Second, 20*time.Millisecond)
	assert.Zero(t, logs.FilterMessage("rollup failed; retried at the next interval").Len())
}
