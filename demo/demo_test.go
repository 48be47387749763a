package demo

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weirhq/weir/analyzer/focus"
	"github.com/weirhq/weir/internal/testnet"
)

var testWeek = time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)

func TestHourlyCounts(t *testing.T) {
	for _, n := range []int{0, 1, 7, 250, 1000, 20000, 12345} {
		c := hourlyCounts(n)
		sum := 0
		for _, v := range c {
			sum += v
		}
		assert.Equal(t, n, sum, "n=%d", n)
	}
	c := hourlyCounts(20000)
	assert.Greater(t, c[19], 3*c[3], "evenings are busier than nights")
	assert.Equal(t, c[19], c[19+24], "every day alike")
}

// generateBoth generates the two weeks at scale, calling check on every span.
func generateBoth(t *testing.T, scale float64, seed uint64, check func(ptrace.Span)) [2]*tally {
	t.Helper()
	tallies := [2]*tally{newTally(), newTally()}
	for w, start := range []time.Time{testWeek.AddDate(0, 0, -7), testWeek} {
		generate(scale, seed, tallies[w], w, start, func(td ptrace.Traces, n int) bool {
			got := 0
			rss := td.ResourceSpans()
			for i := 0; i < rss.Len(); i++ {
				spans := rss.At(i).ScopeSpans().At(0).Spans()
				for j := 0; j < spans.Len(); j++ {
					got++
					if check != nil {
						check(spans.At(j))
					}
				}
			}
			assert.Equal(t, n, got)
			return true
		}, nil)
	}
	return tallies
}

func TestGenerate_TracesPassTheirHeadSamplingThreshold(t *testing.T) {
	weights := map[string]int{}
	generateBoth(t, 0.02, 1, func(s ptrace.Span) {
		w3c, err := sampling.NewW3CTraceState(s.TraceState().AsRaw())
		require.NoError(t, err)
		th, ok := w3c.OTelValue().TValueThreshold()
		require.True(t, ok, "tracestate %q has a threshold", s.TraceState().AsRaw())
		// Consistent sampling: the trace's randomness is at or above its threshold, so
		// weir's own 10% baseline keeps it too, and its weight is exact.
		require.True(t, th.ShouldSample(sampling.TraceIDToRandomness(s.TraceID())))
		base, err := sampling.ProbabilityToThreshold(0.1)
		require.NoError(t, err)
		require.True(t, base.ShouldSample(sampling.TraceIDToRandomness(s.TraceID())))
		weights[s.TraceState().AsRaw()]++
		assert.Equal(t, s.StartTimestamp().AsTime().Before(testWeek.AddDate(0, 0, 7)), true)
	})
	assert.Len(t, weights, 2)
	for ts := range weights {
		w3c, _ := sampling.NewW3CTraceState(ts)
		adj := w3c.OTelValue().AdjustedCount()
		assert.Contains(t, []float64{weightDefault, weightSearch}, adj, ts)
	}
}

func TestGenerate_TallyMatchesTheModel(t *testing.T) {
	const scale = 0.1
	ts := generateBoth(t, scale, 3, nil)
	cur, prev := ts[1], ts[0]
	traces := func(route string) float64 {
		for _, r := range routes {
			if r.name == route {
				return float64(int(float64(r.perWeek)*scale)) * r.weight
			}
		}
		t.Fatalf("no route %s", route)
		return 0
	}
	var all float64
	for _, r := range routes {
		all += traces(r.name)
	}
	assert.Equal(t, all, cur.requests["gateway"], "one gateway request per trace")
	assert.Equal(t, all, cur.requests["auth"])
	assert.Equal(t, traces("GET /home")*float64(chattyCalls-(chattyThreshold-1)), cur.chatty)
	assert.Equal(t, traces("GET /home")*chattyCalls, cur.calls[[2]string{"recommendations", "catalog"}]+
		cur.calls[[2]string{"recommendations", "inventory"}]+cur.calls[[2]string{"recommendations", "search"}])
	// About half the cart requests are N+1, each 11 avoidable SELECTs.
	assert.InEpsilon(t, traces("GET /cart")*nPlusOneShare*(nPlusOneItems-1), cur.nPlusOne, 0.1)
	// Retries: each attempt fails 30%, up to 3 resends: 0.3 + 0.09 + 0.027 per checkout.
	assert.InEpsilon(t, traces("POST /checkout")*(0.3+0.09+0.027), cur.retries, 0.15)
	assert.Equal(t, cur.retries, cur.requests["payments"]-traces("POST /checkout"), "every resend is a payments request")
	// Flat traffic week over week, except where the dice differ (N+1, retries).
	assert.Equal(t, prev.requests["inventory"], cur.requests["inventory"])
	// Only the report week carries search's debug payloads.
	assert.Greater(t, cur.spanBytes["search"], 10*prev.spanBytes["search"])

	// The same seed makes the same traffic.
	again := generateBoth(t, scale, 3, nil)
	assert.Equal(t, cur.requests, again[1].requests)
	assert.Equal(t, cur.nPlusOne, again[1].nPlusOne)
	assert.Equal(t, cur.spans, again[1].spans)
}

func TestTruth_ImpactsFollowTheModel(t *testing.T) {
	ts := generateBoth(t, 0.1, 5, nil)
	tr := truth(ts, testWeek, 0.1)
	assert.Equal(t, "2026-W47", tr.Week)
	byRule := map[string]TruthHotspot{}
	for _, h := range tr.Hotspots {
		byRule[h.Rule] = h
		assert.Positive(t, h.Impact, h.Rule)
	}
	require.Len(t, byRule, 6)
	assert.InDelta(t, 0.1*computeWeekly[zombieService], byRule["idle_spend"].Impact, 1e-9)
	// Inventory's compute doubled; its share of the database moved only with the dice.
	assert.InEpsilon(t, 0.1*computeWeekly["inventory"], byRule["cost_per_request_rising"].Impact, 0.02)
	// The bill adds up: services, the shared cluster and the support plan.
	var services float64
	for _, s := range tr.Services {
		services += s.Spend
	}
	assert.InDelta(t, tr.Totals.Spend, services+0.1*supportWeekly, 1e-9)
}

func TestWriteBill_ReadsAsFOCUS(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bill.csv")
	require.NoError(t, writeBill(path, testWeek.AddDate(0, 0, -7), testWeek, 0.5))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := focus.NewReader(f)
	require.NoError(t, err)
	var rows int
	var cost float64
	tagged := map[string]bool{}
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		rows++
		cost += row.EffectiveCost
		for i, k := range row.TagKeys {
			if k == "service" {
				tagged[row.TagValues[i]] = true
			}
		}
	}
	// 14 days × (11 services + the cluster + support).
	assert.Equal(t, 14*(len(computeWeekly)+2), rows)
	var weekly float64
	for s := range computeWeekly {
		weekly += weeklyCompute(s, 0) + weeklyCompute(s, 1)
	}
	assert.InDelta(t, 0.5*(weekly+2*sharedDBWeekly+2*supportWeekly), cost, 1e-6)
	assert.Len(t, tagged, len(computeWeekly))
}

func TestRun_FailsFastWithoutWeir(t *testing.T) {
	addr := testnet.FreeAddr(t) // nothing listens there
	start := time.Now()
	_, err := Run(t.Context(), Config{OTLPEndpoint: addr, Database: "weir", Dir: t.TempDir(), Week: testWeek, Scale: 0.1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no weir listening for OTLP/gRPC on "+addr)
	assert.Less(t, time.Since(start), 10*time.Second)
}
