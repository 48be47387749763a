package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/analyzer/costmap"
	"github.com/weirhq/weir/analyzer/hotspot"
	"github.com/weirhq/weir/analyzer/report"
	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/collectortest"
	"github.com/weirhq/weir/demo"
	"github.com/weirhq/weir/internal/testnet"
)

// TestDemo_ReportFindsTheInjectedHotspots is the analyzer's acceptance test: the demo shop's
// two weeks go through the shipped config over real OTLP, and the weekly report must flag
// every injected hotspot, nothing else at warning or above, each impact within 10 % of the
// ground truth. Not parallel: it sets environment variables.
func TestDemo_ReportFindsTheInjectedHotspots(t *testing.T) {
	db := chtest.New(t)
	httpAddr := testnet.FreeAddr(t)
	cfg, env := shippedConfig(t, db, map[string]string{
		"WEIR_OTLP_HTTP_ENDPOINT":    httpAddr,
		"WEIR_SELF_METRICS_ENDPOINT": selfMetricsRelay(t, httpAddr),
	})
	grpcAddr := env["WEIR_OTLP_GRPC_ENDPOINT"]
	factories, err := components()
	require.NoError(t, err)
	collectortest.Start(t, factories, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	weekName := report.LastCompleteWeek(time.Now())
	week, err := report.ParseWeek(weekName)
	require.NoError(t, err)
	var progress strings.Builder
	res, err := demo.Run(ctx, demo.Config{OTLPEndpoint: grpcAddr, Conn: db.Conn, Database: db.Name,
		Dir: t.TempDir(), Week: week, Scale: 0.25, Seed: 7, Progress: &progress, Wait: 2 * time.Minute})
	require.NoError(t, err, progress.String())
	assert.Contains(t, progress.String(), "traces sent", "progress is shown")

	opts := report.DefaultOptions()
	opts.Costmap, err = costmap.LoadFile(res.CostmapFile)
	require.NoError(t, err)
	started := time.Now()
	rep, err := report.Build(ctx, db.Conn, db.Name, weekName, opts)
	require.NoError(t, err)
	t.Logf("report built in %s", time.Since(started))

	// The totals match the model.
	assert.InDelta(t, res.Truth.Totals.Spend, rep.Totals.Spend, 1e-6*res.Truth.Totals.Spend)
	assert.InDelta(t, res.Truth.Totals.Requests, float64(rep.Totals.Requests), 1e-6*res.Truth.Totals.Requests)

	found := map[string]report.Hotspot{}
	var table strings.Builder
	for _, h := range rep.Hotspots {
		fmt.Fprintf(&table, "%2d %-26s %-16s %-22s %-8s %10.2f %s\n", h.Rank, h.Rule, h.Service, h.Operation, h.Severity, h.ImpactPerWeek, h.Evidence.SeeAlso)
		if h.Severity.Rank() >= hotspot.SeverityWarning.Rank() {
			found[string(h.Rule)+" "+h.Service] = h
		}
	}
	t.Logf("report hotspots:\n%s", table.String())
	for _, s := range rep.Services {
		t.Logf("service %-16s spend %8.2f (prev %8.2f) requests %9d (prev %9d)", s.Service, s.Spend, s.PreviousSpend, s.Requests, s.PreviousRequests)
	}
	for _, want := range res.Truth.Hotspots {
		t.Logf("truth: %-26s %-16s %10.2f", want.Rule, want.Service, want.Impact)
		key := want.Rule + " " + want.Service
		got, ok := found[key]
		if !assert.True(t, ok, "injected hotspot %s not flagged at warning or above", key) {
			continue
		}
		assert.Equal(t, want.Operation, got.Operation, key)
		assert.InEpsilon(t, want.Impact, got.ImpactPerWeek, 0.10, "%s: impact %.2f, truth %.2f", key, got.ImpactPerWeek, want.Impact)
		delete(found, key)
	}
	for key, h := range found {
		assert.Fail(t, "not injected but flagged", "%s at %s (impact %.2f)", key, h.Severity, h.ImpactPerWeek)
	}
}
