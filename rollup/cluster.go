package rollup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Cluster is a ClickHouse cluster that holds weir's tables (SCHEMA.md, "On a cluster"):
// replicated <table>_local tables on every server, Distributed tables in front of them under
// the usual names, small tables every server holds whole. Readers and writers that go
// through the Distributed tables need nothing of this; the migrations, the rollup job and
// retention do, since they work on the servers themselves.
type Cluster struct {
	// Name is the cluster in the servers' remote_servers whose shards hold replicas
	// (internal_replication true). The Distributed tables and ON CLUSTER DDL use it.
	Name string
	// Servers is a cluster of the same servers with each one a shard of its own. ALTERs of
	// the Distributed tables go ON CLUSTER it (18.16 refuses them through Name, code 371).
	// Empty means Name + "_servers".
	Servers string
	// Dial opens a connection to the servers at addrs (native host:port, as system.clusters
	// lists them), trying them in order: one server to wait for its ZooKeeper session, or
	// the replicas of a shard to roll it up on whichever answers.
	Dial func(ctx context.Context, addrs []string) (driver.Conn, error)
	// SessionWait bounds how long a migration waits for every server's ZooKeeper session;
	// 0 means DefaultSessionWait.
	SessionWait time.Duration
}

// DefaultSessionWait is how long MigrateCluster waits for every server of the cluster to
// have its ZooKeeper session. ON CLUSTER DDL that reaches a server without one waits
// distributed_ddl_task_timeout (180 s), and an 18.16 server crashed taking DDL before its
// session was up.
const DefaultSessionWait = 60 * time.Second

func (c Cluster) servers() string {
	if c.Servers != "" {
		return c.Servers
	}
	return c.Name + "_servers"
}

func (c Cluster) sessionWait() time.Duration {
	if c.SessionWait > 0 {
		return c.SessionWait
	}
	return DefaultSessionWait
}

func (c Cluster) validate() error {
	if c.Dial == nil {
		return errors.New("cluster: no Dial function to reach its servers")
	}
	if c.servers() == c.Name {
		return fmt.Errorf("cluster %s: the cluster of every server as its own shard must differ from it", c.Name)
	}
	return Options{Database: "weir", Cluster: c.Name, ServersCluster: c.Servers}.validate()
}

// Shard is one shard of a cluster, as system.clusters lists it.
type Shard struct {
	// Num is the shard's number, from 1, in remote_servers order.
	Num int
	// Weight is its share of the rows a Distributed table spreads (shard_weight).
	Weight int
	// Replicas are the native addresses (host:port) of its servers, in remote_servers order.
	Replicas []string
}

// Topology is a cluster's layout, as its servers' system.clusters say.
type Topology struct {
	Shards []Shard
	// Servers are every server's address, shard by shard.
	Servers []string
}

// ReadTopology reads c's shards from system.clusters on conn's server, and checks that
// c's servers cluster lists the same servers, one per shard.
func ReadTopology(ctx context.Context, conn driver.Conn, c Cluster) (Topology, error) {
	var top Topology
	if err := c.validate(); err != nil {
		return top, err
	}
	rows, err := conn.Query(ctx, `SELECT cluster, shard_num, shard_weight, host_name, port
FROM system.clusters WHERE cluster IN (?, ?) ORDER BY cluster, shard_num, replica_num`, c.Name, c.servers())
	if err != nil {
		return top, fmt.Errorf("cluster %s: read system.clusters: %w", c.Name, err)
	}
	defer rows.Close()
	var servers []string // of the servers cluster
	shardsOfServers := map[uint32]int{}
	for rows.Next() {
		var (
			cluster     string
			num, weight uint32
			host        string
			port        uint16
		)
		if err := rows.Scan(&cluster, &num, &weight, &host, &port); err != nil {
			return top, fmt.Errorf("cluster %s: read system.clusters: %w", c.Name, err)
		}
		addr := hostPort(host, port)
		if cluster == c.servers() {
			servers = append(servers, addr)
			shardsOfServers[num]++
			continue
		}
		if n := len(top.Shards); n == 0 || top.Shards[n-1].Num != int(num) {
			top.Shards = append(top.Shards, Shard{Num: int(num), Weight: int(weight)})
		}
		sh := &top.Shards[len(top.Shards)-1]
		sh.Replicas = append(sh.Replicas, addr)
		top.Servers = append(top.Servers, addr)
	}
	if err := rows.Err(); err != nil {
		return top, fmt.Errorf("cluster %s: read system.clusters: %w", c.Name, err)
	}
	if len(top.Shards) == 0 {
		return top, fmt.Errorf("cluster %s is not in system.clusters: define it in the servers' remote_servers", c.Name)
	}
	for num, n := range shardsOfServers {
		if n != 1 {
			return top, fmt.Errorf("cluster %s: shard %d has %d replicas; it must list every server of %s as a shard of its own",
				c.servers(), num, n, c.Name)
		}
	}
	a, b := slices.Sorted(slices.Values(top.Servers)), slices.Sorted(slices.Values(servers))
	if !slices.Equal(a, b) {
		return top, fmt.Errorf("cluster %s lists servers %s, not those of cluster %s (%s): define it in remote_servers with every server as a shard of its own",
			c.servers(), strings.Join(b, ", "), c.Name, strings.Join(a, ", "))
	}
	return top, nil
}

func hostPort(host string, port uint16) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(int(port))
}

// waitSessions dials every server and waits, up to c's session wait, until each answers a
// ZooKeeper query. It returns the connections, in servers order, for the caller to close.
func waitSessions(ctx context.Context, c Cluster, servers []string) ([]driver.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.sessionWait())
	defer cancel()
	conns := make([]driver.Conn, 0, len(servers))
	fail := func(err error) ([]driver.Conn, error) {
		closeAll(conns)
		return nil, err
	}
	for _, addr := range servers {
		conn, err := c.Dial(ctx, []string{addr})
		if err != nil {
			return fail(fmt.Errorf("cluster %s: connect to %s: %w", c.Name, addr, err))
		}
		conns = append(conns, conn)
		for {
			var n uint64
			err = conn.QueryRow(ctx, "SELECT count() FROM system.zookeeper WHERE path = '/'").Scan(&n)
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fail(fmt.Errorf("cluster %s: server %s has no ZooKeeper session after %s (ON CLUSTER DDL would wait for it): %w",
					c.Name, addr, c.sessionWait(), err))
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return conns, nil
}

func closeAll(conns []driver.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// site is where a rollup or retention pass works: one server, or one shard of a cluster
// through whichever of its replicas answered.
type site struct {
	conn  driver.Conn
	shard int    // 0 on one server
	local string // suffix of the tables holding the rows: "" or LocalSuffix
}

func (s site) table(db, name string) string { return db + "." + name + s.local }

// shardSites opens a connection to each shard of c, trying its replicas in order. close
// closes them all.
func shardSites(ctx context.Context, conn driver.Conn, c Cluster) (sites []site, close func(), err error) {
	top, err := ReadTopology(ctx, conn, c)
	if err != nil {
		return nil, nil, err
	}
	var conns []driver.Conn
	for _, sh := range top.Shards {
		sc, err := c.Dial(ctx, sh.Replicas)
		if err != nil {
			closeAll(conns)
			return nil, nil, fmt.Errorf("cluster %s shard %d (%s): %w", c.Name, sh.Num, strings.Join(sh.Replicas, ", "), err)
		}
		conns = append(conns, sc)
		sites = append(sites, site{conn: sc, shard: sh.Num, local: LocalSuffix})
	}
	return sites, func() { closeAll(conns) }, nil
}
