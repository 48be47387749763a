package dashboards

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// edgePerMinute sums the seeded edge rows of client -> server per minute.
func edgePerMinute(client, server string) (calls, failed int, durations []int, zeros int) {
	for _, s := range edgeSeeds {
		if s.client != client || s.server != server {
			continue
		}
		calls += len(s.durationsMs) + s.zeros
		if s.failed != 0 {
			failed += len(s.durationsMs) + s.zeros
		}
		durations = append(durations, s.durationsMs...)
		zeros += s.zeros
	}
	return calls, failed, durations, zeros
}

func testServiceMap(t *testing.T, s *suite) {
	const file = "service-map.json"
	for _, sc := range []struct {
		name      string
		from, to  time.Time
		interval  time.Duration
		overrides map[string]varValue
		edges     []string // client -> server
		nodes     []string
	}{
		{"three days at 1d, all services", tierEnvs[0].from, tierEnvs[0].to, tierEnvs[0].interval, nil,
			[]string{"cart -> redis", "frontend -> cart", "user -> frontend"}, []string{"cart", "frontend", "redis", "user"}},
		{"off-hour range at 1h, all services", tierEnvs[1].from, tierEnvs[1].to, tierEnvs[1].interval, nil,
			[]string{"cart -> redis", "frontend -> cart", "user -> frontend"}, []string{"cart", "frontend", "redis", "user"}},
		{"six hours at 2m, cart", tierEnvs[2].from, tierEnvs[2].to, tierEnvs[2].interval, map[string]varValue{varService: values("cart")},
			[]string{"cart -> redis", "frontend -> cart"}, []string{"cart", "frontend", "redis"}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			env, opts := s.envFor(t, file, sc.from, sc.to, sc.interval, sc.overrides)
			assert.Equal(t, []string{"cart", "frontend"}, opts[varService])
			minutes := float64(seededMinutes(sc.from, sc.to))
			rangeSec := sc.to.Sub(sc.from).Seconds()

			edges := s.panel(t, env, file, "Service map", "edges")
			edges.hasColumns(t, "id String", "source String", "target String", "mainstat Float64", "secondarystat Float64",
				"detail__p50_ms Float64", "detail__p95_ms Float64", "detail__p99_ms Float64")
			require.Equal(t, sc.edges, edges.column(t, "id"))
			for i := range edges.rows {
				client, server := edges.str(t, i, "source"), edges.str(t, i, "target")
				assert.Equal(t, client+" -> "+server, edges.str(t, i, "id"))
				calls, failed, durs, zeros := edgePerMinute(client, server)
				assert.InDelta(t, float64(calls)*minutes/rangeSec, edges.num(t, i, "mainstat"), 1e-9, "calls/s %s", edges.str(t, i, "id"))
				assert.InDelta(t, float64(failed)/float64(calls), edges.num(t, i, "secondarystat"), 1e-9, "failed share %s", edges.str(t, i, "id"))
				for _, q := range []struct {
					col string
					q   float64
				}{{"detail__p50_ms", 0.50}, {"detail__p95_ms", 0.95}, {"detail__p99_ms", 0.99}} {
					within(t, trueQuantile(durs, zeros, q.q)/1e6, edges.num(t, i, q.col), "%s %s", edges.str(t, i, "id"), q.col)
				}
			}

			nodes := s.panel(t, env, file, "Service map", "nodes")
			nodes.hasColumns(t, "id String", "title String", "mainstat Float64", "secondarystat Float64")
			require.Equal(t, sc.nodes, nodes.column(t, "id"))
			for i := range nodes.rows {
				node := nodes.str(t, i, "id")
				assert.Equal(t, node, nodes.str(t, i, "title"))
				var served, failed int
				for _, e := range sc.edges {
					for _, s := range edgeSeeds {
						if s.client+" -> "+s.server == e && s.server == node {
							served += len(s.durationsMs) + s.zeros
							if s.failed != 0 {
								failed += len(s.durationsMs) + s.zeros
							}
						}
					}
				}
				assert.InDelta(t, float64(served)*minutes/rangeSec, nodes.num(t, i, "mainstat"), 1e-9, "served/s %s", node)
				wantShare := 0.0
				if served > 0 {
					wantShare = float64(failed) / float64(served)
				}
				assert.InDelta(t, wantShare, nodes.num(t, i, "secondarystat"), 1e-9, "failed share %s", node)
			}
		})
	}
}
