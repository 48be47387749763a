package ingest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/weirhq/weir/internal/chcluster"
	"github.com/weirhq/weir/internal/chinsert"
	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/red"
	"github.com/weirhq/weir/rollup"
)

// TestSender_ClusterLostAnswersStoredOnce: on a cluster, INSERTs whose answers are lost go
// in again and again (the sender cannot tell), and each shard's replicated tables keep one
// copy: the sender sends such a batch again exactly as it was, so each shard's share of it
// is the same block, which replicated deduplication drops. Every span is stored once and
// red_1m counts each once, on both shards and both replicas.
func TestSender_ClusterLostAnswersStoredOnce(t *testing.T) {
	db := chcluster.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, err := rollup.MigrateCluster(ctx, db.Conn, rollup.Cluster{Name: db.Cluster.Name, Dial: chcluster.Dial}, db.Name, 0)
	require.NoError(t, err)

	proxy := chtest.NewProxy(t, strings.TrimPrefix(db.Nodes[0].HTTP, "http://"))
	proxy.LoseAnswers()
	s := openStore(t, t.TempDir())
	defer s.Close()
	snd, err := NewSender(s, newClient(t, proxy.Addr, 10*time.Second), SenderConfig{Database: db.Name,
		RetryInitial: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond, MaxBatchWait: 50 * time.Millisecond,
		Replicated: true, Settings: []chinsert.Setting{{Key: "insert_distributed_sync", Value: "1"}},
		Check: map[string]bool{"spans": true, "red_1m": true, "edges_1m": true}}, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	snd.Start()
	e := startEngine(t, s, EngineConfig{RED: red.DefaultConfig(), Epoch: 30 * time.Millisecond})
	reqs, total := requests(t, 9, 40, 128)
	for _, r := range reqs[:20] {
		require.NoError(t, e.Traces(context.Background(), r))
	}
	// The rows go in while their answers are lost; the sender keeps sending them, and new
	// blocks queue behind them meanwhile: they must not join the batch sent again.
	spans := db.Name + ".spans"
	require.Eventually(t, func() bool {
		return db.QueryUint64(t, "", "SELECT count() FROM "+spans) > 0
	}, time.Minute, 50*time.Millisecond, "inserted through the proxy")
	for _, r := range reqs[20:] {
		require.NoError(t, e.Traces(context.Background(), r))
		time.Sleep(25 * time.Millisecond) // over a second: several more attempts
	}
	require.NoError(t, e.Shutdown(context.Background()))
	proxy.Up()
	drain(t, snd, time.Minute)

	db.SyncReplicas(t, "spans_local", "red_1m_local")
	assert.Equal(t, uint64(total), db.QueryUint64(t, "", "SELECT count() FROM "+spans), "spans stored once")
	assert.Equal(t, uint64(total), db.QueryUint64(t, "", "SELECT uniqExact(TraceId, SpanId) FROM "+spans))
	assert.Equal(t, uint64(total), db.QueryUint64(t, "", "SELECT sum(Requests) FROM "+db.Name+".red_1m"), "red_1m counts each once")
	for _, n := range db.Nodes {
		// Each replica on its own: the other replica of its shard holds the same rows.
		assert.Equal(t, db.QueryUint64(t, n.Name, "SELECT count() FROM "+db.Name+".spans_local"),
			db.QueryUint64(t, db.Nodes[replicaOf(db, n)].Name, "SELECT count() FROM "+db.Name+".spans_local"), "replicas of shard %d", n.Shard)
	}
}

// replicaOf is the index in db.Nodes of the other replica of n's shard.
func replicaOf(db *chcluster.DB, n chcluster.Node) int {
	for i, m := range db.Nodes {
		if m.Shard == n.Shard && m.Name != n.Name {
			return i
		}
	}
	return 0
}
