package report

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weirhq/weir/analyzer/costmap"
	"github.com/weirhq/weir/analyzer/hotspot"
	"github.com/weirhq/weir/rollup"
)

// inputs is everything the report of one week reads from ClickHouse, as plain values:
// gather reads them (through costmap, hotspot and rollup), compute turns them into the
// Report without a server.
type inputs struct {
	from        time.Time // the week's Monday, 00:00 UTC
	generatedAt time.Time
	// costColumn is the bill's column the spend is summed from (the cost map's cost:).
	costColumn string

	// spend is the week's spend given to services (with its workloads), prevSpend the week
	// before's and daily each day's of the week.
	spend, prevSpend costmap.Result
	daily            [7]costmap.Result

	// red is both weeks' RED tiers per service, span kind and day: every kind, since the
	// request kinds count traffic and any kind makes a service active.
	red []rollup.Row
	// edges are the week's service-graph calls per client, server and connection type and day.
	edges []rollup.Row
	// telemetry is the week's telemetry volume per service; series and prevSeries the metric
	// series counts of the week and the week before (prevSeries is read only when series is
	// not empty).
	telemetry          map[string]*rollup.TelemetryVolume
	series, prevSeries []rollup.MetricSeriesCount

	// findings are the trace-pattern rules' findings of the week.
	findings []hotspot.Finding
}

// gather reads the inputs of the week that starts on Monday from.
func gather(ctx context.Context, conn driver.Conn, database string, from time.Time, opts Options) (*inputs, error) {
	cfg := opts.Costmap
	to, prevFrom := from.AddDate(0, 0, 7), from.AddDate(0, 0, -7)
	in := &inputs{from: from, generatedAt: time.Now().UTC().Truncate(time.Second), costColumn: cfg.Cost}
	if in.costColumn == "" {
		in.costColumn = rollup.CostEffective
	}
	var err error

	if in.spend, err = costmap.Allocate(ctx, conn, database, cfg, from, to); err != nil {
		return nil, fmt.Errorf("report: spend of %s: %w", WeekOf(from), err)
	}
	if in.prevSpend, err = costmap.AllocateTotals(ctx, conn, database, cfg, prevFrom, from); err != nil {
		return nil, fmt.Errorf("report: spend of %s: %w", WeekOf(prevFrom), err)
	}
	for d := range in.daily {
		day := from.AddDate(0, 0, d)
		if in.daily[d], err = costmap.AllocateTotals(ctx, conn, database, cfg, day, day.AddDate(0, 0, 1)); err != nil {
			return nil, fmt.Errorf("report: spend of %s: %w", day.Format(time.DateOnly), err)
		}
	}

	q := &rollup.Querier{Conn: conn, Database: database}
	red, err := q.Query(ctx, rollup.Query{
		Signal: rollup.SignalRED, From: prevFrom, To: to, Step: 24 * time.Hour,
		GroupBy: []string{rollup.GroupService, rollup.GroupSpanKind},
	})
	if err != nil {
		return nil, fmt.Errorf("report: requests: %w", err)
	}
	in.red = red.Rows
	// One read of the week's service graph serves both the error-burn folding and the prices.
	edges, err := q.Query(ctx, rollup.Query{
		Signal: rollup.SignalEdges, From: from, To: to, Step: 24 * time.Hour,
		GroupBy: []string{rollup.GroupClient, rollup.GroupServer, rollup.GroupConnectionType},
	})
	if err != nil {
		return nil, fmt.Errorf("report: edges: %w", err)
	}
	in.edges = edges.Rows

	if in.findings, err = hotspot.Detect(ctx, conn, database, from, to, opts.Patterns); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if in.telemetry, err = rollup.TelemetryByService(ctx, conn, database, from, to); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if in.series, err = rollup.SeriesCounts(ctx, conn, database, from, to); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if len(in.series) > 0 {
		if in.prevSeries, err = rollup.SeriesCounts(ctx, conn, database, prevFrom, from); err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
	}
	return in, nil
}
