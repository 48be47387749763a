package report

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weirhq/weir/analyzer/costmap"
	"github.com/weirhq/weir/analyzer/hotspot"
	"github.com/weirhq/weir/rollup"
)

// spendInput is what the spend rules read: the per-service table r.Services with each
// service's active spans and telemetry volume, the allocation workloads of the week, and
// the metric series counts of both weeks.
func spendInput(r *Report, in *inputs, active map[string]uint64) hotspot.SpendInput {
	tel := in.telemetry
	si := hotspot.SpendInput{TotalSpend: r.Totals.Spend, Workloads: workloads(in.spend.Workloads)}
	for _, s := range r.Services {
		sw := hotspot.ServiceWeek{
			Service: s.Service, Spend: s.Spend, PreviousSpend: s.PreviousSpend,
			Requests: s.Requests, PreviousRequests: s.PreviousRequests, Errors: s.Errors,
			ActiveSpans: active[s.Service],
		}
		if v := tel[s.Service]; v != nil {
			sw.TelemetryBytes = v.WeightedSpanBytes + v.PointBytes
			sw.StoredTelemetryBytes = v.StoredSpanBytes + v.PointBytes
			sw.MetricBytes = v.PointBytes
		}
		si.Services = append(si.Services, sw)
	}
	before := map[[2]string]uint64{}
	for _, c := range in.prevSeries {
		before[[2]string{c.Service, c.Metric}] = c.Series
	}
	for _, c := range in.series {
		g := hotspot.SeriesGrowth{Service: c.Service, Metric: c.Metric,
			Series: c.Series, PreviousSeries: before[[2]string{c.Service, c.Metric}]}
		if v := tel[c.Service]; v != nil {
			g.PointBytes = v.Metrics[c.Metric].Bytes
		}
		si.Series = append(si.Series, g)
	}
	return si
}

// Unattributed names the pseudo-services that carry spend no rule gave a service.
const (
	ServiceUnmapped = "(unmapped)"
	ServiceIdle     = "(idle)"
)

// Analysis is the report as rollup.WriteAnalysis stores it: each service's spend, requests
// and errors per day (with the unmapped and idle spend as two more services), and the
// hotspots.
func (r *Report) Analysis() ([]rollup.ServiceCostDay, []rollup.HotspotRow, error) {
	var days []rollup.ServiceCostDay
	for _, s := range r.Daily {
		for _, d := range s.Days {
			date, err := time.Parse(time.DateOnly, d.Date)
			if err != nil {
				return nil, nil, fmt.Errorf("report: day %q: %w", d.Date, err)
			}
			days = append(days, rollup.ServiceCostDay{Date: date, Service: s.Service, Currency: r.Currency,
				Spend: d.Spend, Requests: d.Requests, Errors: d.Errors})
		}
	}
	for d := range 7 {
		date := r.From.AddDate(0, 0, d)
		if u := r.unattributed[d][0]; u != 0 {
			days = append(days, rollup.ServiceCostDay{Date: date, Service: ServiceUnmapped, Currency: r.Currency, Spend: u})
		}
		if i := r.unattributed[d][1]; i != 0 {
			days = append(days, rollup.ServiceCostDay{Date: date, Service: ServiceIdle, Currency: r.Currency, Spend: i})
		}
	}
	var hs []rollup.HotspotRow
	for _, h := range r.Hotspots {
		ev, err := json.Marshal(h.Evidence)
		if err != nil {
			return nil, nil, fmt.Errorf("report: evidence of hotspot %d: %w", h.Rank, err)
		}
		hs = append(hs, rollup.HotspotRow{Rank: uint32(h.Rank), Rule: string(h.Rule), Service: h.Service,
			Operation: h.Operation, Severity: string(h.Severity), Currency: r.Currency,
			ImpactPerWeek: h.ImpactPerWeek, AvoidableCallsPerWeek: h.AvoidableCallsPerWeek, CostPerCall: h.CostPerCall,
			Evidence: string(ev), ExampleTraceIDs: h.ExampleTraceIDs, Recommendation: h.Recommendation})
	}
	return days, hs, nil
}

// Store writes the report into database with rollup.WriteAnalysis, replacing its week.
func (r *Report) Store(ctx context.Context, conn driver.Conn, database string) error {
	days, hs, err := r.Analysis()
	if err != nil {
		return err
	}
	if err := rollup.WriteAnalysis(ctx, conn, database, r.From, r.GeneratedAt, days, hs); err != nil {
		return fmt.Errorf("report: store %s: %w", r.Week, err)
	}
	return nil
}

// workloads sums the allocation rows of each controller (rows differ by labels, which a
// rollout or a version label changes within a week) so that one workload is judged once, on
// its week's usage and requests.
func workloads(ws []costmap.Workload) []hotspot.Workload {
	type key struct{ service, cluster, namespace, controller string }
	type sum struct {
		cpuCost, ramCost               float64
		cpuUse, cpuReq, ramUse, ramReq float64
	}
	sums := map[key]*sum{}
	var order []key
	for _, w := range ws {
		k := key{w.Service, w.Cluster, w.Namespace, w.Controller}
		s := sums[k]
		if s == nil {
			s = &sum{}
			sums[k] = s
			order = append(order, k)
		}
		s.cpuCost += w.CPUCost
		s.ramCost += w.RAMCost
		s.cpuUse += w.CPUUsageMinutes
		s.cpuReq += w.CPURequestMinutes
		s.ramUse += w.RAMUsageMinutes
		s.ramReq += w.RAMRequestMinutes
	}
	out := make([]hotspot.Workload, 0, len(order))
	for _, k := range order {
		s := sums[k]
		w := hotspot.Workload{Service: k.service, Cluster: k.cluster, Namespace: k.namespace, Controller: k.controller,
			CPUCost: s.cpuCost, RAMCost: s.ramCost}
		if s.cpuReq > 0 {
			w.CPUEfficiency = s.cpuUse / s.cpuReq
		}
		if s.ramReq > 0 {
			w.RAMEfficiency = s.ramUse / s.ramReq
		}
		out = append(out, w)
	}
	return out
}
