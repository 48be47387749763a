package chcluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOrphanParts_InsertOfUnknownStatus stops ZooKeeper under a stream of INSERTs into a
// replicated table, as TestCluster_OutagesLoseNothing does under weir: an INSERT whose
// commit loses ZooKeeper gets "Unknown status" (319) and leaves its part on the server, in no
// ZooKeeper list. OrphanParts finds those parts, at most one for each such answer, on the
// server that took the INSERTs and on no other.
func TestOrphanParts_InsertOfUnknownStatus(t *testing.T) {
	db := NewExclusive(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	require.NoError(t, db.Conn.Exec(ctx, "CREATE TABLE "+db.Name+".t ON CLUSTER "+db.Cluster.Name+
		" (x UInt64) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/"+db.Name+"/t', '{replica}') ORDER BY x"))
	target, other := db.Nodes[0], db.Nodes[1]
	require.Equal(t, target.Shard, other.Shard)

	var (
		stop          atomic.Bool
		unknown, good atomic.Int64
		wg            sync.WaitGroup
	)
	for w := range 8 {
		conn, err := Open(target.Addr)
		require.NoError(t, err)
		wg.Go(func() {
			defer conn.Close()
			for i := 0; !stop.Load(); i++ {
				err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s.t SELECT number + %d FROM numbers(1000)", db.Name, (w<<32)+i*1000))
				var ex *clickhouse.Exception
				switch {
				case err == nil:
					good.Add(1)
				case errors.As(err, &ex) && ex.Code == 319:
					unknown.Add(1)
				}
			}
		})
	}
	// A commit takes milliseconds: a stop of ZooKeeper while INSERTs flow catches one in
	// the middle within a few tries.
	var orphans []string
	round := 0
	for ; round < 20 && len(orphans) == 0; round++ {
		// INSERTs flow again (the table has its new ZooKeeper session).
		from := good.Load()
		require.Eventually(t, func() bool { return good.Load() >= from+20 }, time.Minute, 50*time.Millisecond)
		db.StopNodes(t, "zk")
		time.Sleep(time.Second)
		db.StartNode(t, "zk")
		var err error
		orphans, err = db.OrphanParts(ctx, target.Name, "t")
		require.NoError(t, err)
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d INSERTs in, %d of unknown status; after %d stops of ZooKeeper, orphan parts on %s: %v",
		good.Load(), unknown.Load(), round, target.Name, orphans)
	require.NotEmpty(t, orphans, "no INSERT was cut off by ZooKeeper's stop in %d tries", round)
	assert.LessOrEqual(t, int64(len(orphans)), unknown.Load(), "an orphan part for each INSERT of unknown status at most")

	// The orphans' rows are on the target only: the other replica fetched what ZooKeeper lists.
	none, err := db.OrphanParts(ctx, other.Name, "t")
	require.NoError(t, err)
	assert.Empty(t, none)
	// Right after ZooKeeper came back the table may still be on its expired session.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.NoError(c, db.Cluster.Conn(t, other.Name).Exec(ctx, "SYSTEM SYNC REPLICA "+db.Name+".t"))
	}, time.Minute, time.Second)
	count := func(node, where string) uint64 {
		var n uint64
		require.NoError(t, db.Cluster.Conn(t, node).QueryRow(ctx, "SELECT count() FROM "+db.Name+".t WHERE "+where).Scan(&n))
		return n
	}
	inOrphans := count(target.Name, "_part IN ('"+strings.Join(orphans, "', '")+"')")
	assert.Equal(t, uint64(1000*len(orphans)), inOrphans, "an orphan is one INSERT's rows")
	assert.Equal(t, count(target.Name, "1")-inOrphans, count(other.Name, "1"), "the replicas agree but for the orphans")
}
