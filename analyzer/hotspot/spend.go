package hotspot

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Spend rules: hotspots found in what services cost rather than in their traces. They run
// on per-service numbers the report gathers (ServiceWeek, Workload, SeriesGrowth) and price
// their findings directly (Finding.ImpactPerWeek), in the bill's currency.
const (
	RuleCostOutlier     Rule = "cost_per_request_outlier"
	RuleCostRise        Rule = "cost_per_request_rising"
	RuleSpendGrowth     Rule = "unexplained_spend_growth"
	RuleErrorBurn       Rule = "error_burn"
	RuleIdleSpend       Rule = "idle_spend"
	RuleOverProvisioned Rule = "over_provisioned"
	RuleTelemetrySpend  Rule = "telemetry_overspend"
	RuleSeriesExplosion Rule = "series_explosion"
)

// ServiceWeek is one service's week and the week before, as the spend rules read it.
type ServiceWeek struct {
	Service              string
	Spend, PreviousSpend float64
	// Requests are SERVER and CONSUMER spans (RED tiers, counted before sampling).
	Requests, PreviousRequests uint64
	Errors                     uint64
	// ActiveSpans counts every span of the service this week (any kind, RED tiers): a
	// service with none had no traffic at all.
	ActiveSpans uint64
	// TelemetryBytes is the logical size of the service's telemetry this week (see
	// SpendThresholds.TelemetryWeighted); StoredTelemetryBytes what weir stored of it.
	TelemetryBytes, StoredTelemetryBytes float64
	// MetricBytes is the part of both that is metric points (the rest is spans), so the advice
	// can point at span or at metric attributes.
	MetricBytes float64
}

// Workload is one Kubernetes workload's allocation over the week (OpenCost), mapped to a
// service when a costmap rule claims it.
type Workload struct {
	Service, Cluster, Namespace, Controller string
	CPUCost, RAMCost                        float64
	// CPUEfficiency and RAMEfficiency are usage / request over the week (0..1, or above
	// when usage exceeds requests).
	CPUEfficiency, RAMEfficiency float64
}

// SeriesGrowth is one metric's distinct series this week and the week before.
type SeriesGrowth struct {
	Service, Metric        string
	Series, PreviousSeries uint64
	PointBytes             float64 // logical bytes of the metric's points this week (0 when unknown)
}

// SpendThresholds configure the spend rules; DefaultSpendThresholds documents the defaults.
type SpendThresholds struct {
	// Cost per 1k requests out of line: more than OutlierRatio times the fleet median (the
	// median over services with at least MinRequests requests this week).
	OutlierRatio float64 `yaml:"outlier_ratio"` // 4
	MinRequests  uint64  `yaml:"min_requests"`  // 1000
	// Cost per 1k requests rising: up by RiseMinChange or more week over week while
	// requests moved by at most FlatTraffic either way.
	RiseMinChange float64 `yaml:"rise_min_change"` // 0.25
	FlatTraffic   float64 `yaml:"flat_traffic"`    // 0.10
	// Spend growth traffic does not explain: spend up by GrowthMinChange or more, traffic
	// not flat, and spend growth ahead of traffic growth by GrowthMinGap or more.
	GrowthMinChange float64 `yaml:"growth_min_change"` // 0.20
	GrowthMinGap    float64 `yaml:"growth_min_gap"`    // 0.15
	// Error burn: at least ErrorBurnMinShare of the service's requests failed.
	ErrorBurnMinShare float64 `yaml:"error_burn_min_share"` // 0.05
	// Idle spend: spend and not one span all week.
	// Over-provisioning: CPU or memory efficiency below LowEfficiency; the impact is the
	// cost of the capacity beyond TargetEfficiency.
	LowEfficiency    float64 `yaml:"low_efficiency"`    // 0.4
	TargetEfficiency float64 `yaml:"target_efficiency"` // 0.8
	// Telemetry overspend: telemetry priced at PricePerGB (logical GB) above MaxShare of
	// the service's spend. TelemetryWeighted prices the sampling-weighted volume (what the
	// services sent into the pipeline) instead of what was stored.
	PricePerGB        float64 `yaml:"price_per_gb"`        // 0.30
	TelemetryMaxShare float64 `yaml:"telemetry_max_share"` // 0.10
	TelemetryWeighted bool    `yaml:"telemetry_weighted"`  // true
	// Series explosion: a metric with at least SeriesMin series that grew SeriesGrowth
	// times or more week over week (or appeared with that many).
	SeriesMin    uint64  `yaml:"series_min"`    // 1000
	SeriesGrowth float64 `yaml:"series_growth"` // 3
	// Severity of a spend finding: its impact as a share of the week's total spend.
	WarningShare  float64 `yaml:"warning_share"`
	CriticalShare float64 `yaml:"critical_share"` // 0.005, 0.05
}

// DefaultSpendThresholds are the documented defaults.
func DefaultSpendThresholds() SpendThresholds {
	return SpendThresholds{
		OutlierRatio: 4, MinRequests: 1000,
		RiseMinChange: 0.25, FlatTraffic: 0.10,
		GrowthMinChange: 0.20, GrowthMinGap: 0.15,
		ErrorBurnMinShare: 0.05,
		LowEfficiency:     0.4, TargetEfficiency: 0.8,
		PricePerGB: 0.30, TelemetryMaxShare: 0.10, TelemetryWeighted: true,
		SeriesMin: 1000, SeriesGrowth: 3,
		WarningShare: 0.005, CriticalShare: 0.05,
	}
}

// Validate reports thresholds the rules cannot use.
func (t SpendThresholds) Validate() error {
	switch {
	case anyNaN(t.OutlierRatio, t.RiseMinChange, t.FlatTraffic, t.GrowthMinChange, t.GrowthMinGap, t.ErrorBurnMinShare,
		t.LowEfficiency, t.TargetEfficiency, t.PricePerGB, t.TelemetryMaxShare, t.SeriesGrowth, t.WarningShare, t.CriticalShare):
		return errors.New("hotspot: a spend threshold is NaN")
	case t.OutlierRatio <= 1:
		return fmt.Errorf("hotspot: OutlierRatio %g: want more than 1", t.OutlierRatio)
	case t.RiseMinChange <= 0 || t.GrowthMinChange <= 0 || t.GrowthMinGap <= 0:
		return fmt.Errorf("hotspot: RiseMinChange, GrowthMinChange and GrowthMinGap must be positive")
	case t.FlatTraffic < 0:
		return fmt.Errorf("hotspot: FlatTraffic %g: want 0 or more", t.FlatTraffic)
	case t.ErrorBurnMinShare <= 0 || t.ErrorBurnMinShare > 1:
		return fmt.Errorf("hotspot: ErrorBurnMinShare %g: want a share in (0, 1]", t.ErrorBurnMinShare)
	case t.LowEfficiency <= 0 || t.TargetEfficiency < t.LowEfficiency:
		return fmt.Errorf("hotspot: want 0 < LowEfficiency (%g) <= TargetEfficiency (%g)", t.LowEfficiency, t.TargetEfficiency)
	case t.PricePerGB < 0 || t.TelemetryMaxShare <= 0:
		return fmt.Errorf("hotspot: PricePerGB must be 0 or more and TelemetryMaxShare positive")
	case t.SeriesGrowth <= 1:
		return fmt.Errorf("hotspot: SeriesGrowth %g: want more than 1", t.SeriesGrowth)
	case t.WarningShare <= 0 || t.CriticalShare < t.WarningShare:
		return fmt.Errorf("hotspot: want 0 < WarningShare (%g) <= CriticalShare (%g)", t.WarningShare, t.CriticalShare)
	}
	return nil
}

// SpendInput is what the spend rules read for one week.
type SpendInput struct {
	Services   []ServiceWeek
	Workloads  []Workload
	Series     []SeriesGrowth
	TotalSpend float64 // the week's whole bill (severity is a share of it)
}

// DetectSpend applies the spend rules. Findings carry ImpactPerWeek and are sorted by it,
// descending.
func DetectSpend(in SpendInput, th SpendThresholds) ([]Finding, error) {
	if err := th.Validate(); err != nil {
		return nil, err
	}
	d := &spendDetector{th: th, total: in.TotalSpend, median: fleetMedianPer1k(in.Services, th.MinRequests),
		seriesLastWeek: map[string]bool{}}
	for _, s := range in.Services {
		ev := serviceEvidence(s)
		if d.idleSpend(s, ev) {
			continue // no traffic: the other rules have nothing to judge
		}
		d.costOutlier(s, ev)
		d.costRise(s, ev)
		d.spendGrowth(s, ev)
		d.errorBurn(s, ev)
		d.telemetrySpend(s, ev)
	}
	for _, w := range in.Workloads {
		d.overProvisioned(w)
	}
	for _, g := range in.Series {
		if g.PreviousSeries > 0 {
			d.seriesLastWeek[g.Service] = true
		}
	}
	for _, g := range in.Series {
		d.seriesExplosion(g)
	}
	foldSpendLevel(d.out)
	sort.SliceStable(d.out, func(i, j int) bool { return d.out[i].ImpactPerWeek > d.out[j].ImpactPerWeek })
	return d.out, nil
}

// spendDetector applies the spend rules of one week, one method per rule; each appends
// its findings to out.
type spendDetector struct {
	th             SpendThresholds
	total          float64         // SpendInput.TotalSpend
	median         float64         // the fleet median cost per 1k requests
	seriesLastWeek map[string]bool // services with any metric series the week before
	out            []Finding
}

// severity is an impact's severity: its share of the week's total spend.
func (d *spendDetector) severity(impact float64) Severity {
	if d.total <= 0 {
		return SeverityInfo
	}
	switch share := impact / d.total; {
	case share >= d.th.CriticalShare:
		return SeverityCritical
	case share >= d.th.WarningShare:
		return SeverityWarning
	}
	return SeverityInfo
}

// add appends a finding about a service's week.
func (d *spendDetector) add(rule Rule, s ServiceWeek, op string, impact float64, ev Evidence, rec string) {
	ev.FleetMedianCostPer1k = d.median
	d.out = append(d.out, Finding{Rule: rule, Service: s.Service, Operation: op, Severity: d.severity(impact),
		Evidence: ev, ExampleTraceIDs: []string{}, ImpactPerWeek: impact, Recommendation: rec})
}

// flat reports whether s's traffic moved by at most FlatTraffic either way.
func (d *spendDetector) flat(s ServiceWeek, ev Evidence) bool {
	return s.PreviousRequests > 0 && math.Abs(ev.RequestsChange) <= d.th.FlatTraffic
}

// idleSpend: spend and not one span all week. It reports whether the service is idle.
func (d *spendDetector) idleSpend(s ServiceWeek, ev Evidence) bool {
	if s.Spend <= 0 || s.ActiveSpans != 0 || s.Requests != 0 {
		return false
	}
	d.add(RuleIdleSpend, s, "no traffic", s.Spend, ev, fmt.Sprintf(
		"%s cost %.2f this week and sent not one span: if it is unused, shut it down and release its resources; "+
			"if it works silently, instrument it so its cost can be judged; if its spans carry another "+
			"service.name than its bill's tag, fix the mapping (costmap rules).", s.Service, s.Spend))
	return true
}

// costOutlier: cost per 1k requests more than OutlierRatio times the fleet median.
func (d *spendDetector) costOutlier(s ServiceWeek, ev Evidence) {
	cpk, median := ev.CostPer1k, d.median
	if s.Requests < d.th.MinRequests || median <= 0 || cpk <= d.th.OutlierRatio*median {
		return
	}
	impact := s.Spend - float64(s.Requests)/1000*median
	d.add(RuleCostOutlier, s, "cost per 1k requests", impact, ev, fmt.Sprintf(
		"%s costs %.4f per 1k requests, %.1f× the fleet median (%.4f): profile where its requests spend "+
			"resources and right-size it; at the median it would cost %.2f less a week.",
		s.Service, cpk, cpk/median, median, impact))
}

// costRise: cost per 1k requests up by RiseMinChange or more on flat traffic.
func (d *spendDetector) costRise(s ServiceWeek, ev Evidence) {
	cpk, prevCpk := ev.CostPer1k, ev.PreviousCostPer1k
	if !d.flat(s, ev) || prevCpk <= 0 || s.Requests == 0 || (cpk-prevCpk)/prevCpk < d.th.RiseMinChange {
		return
	}
	impact := s.Spend - float64(s.Requests)/1000*prevCpk
	d.add(RuleCostRise, s, "cost per 1k requests", impact, ev, fmt.Sprintf(
		"%s's cost per 1k requests rose %.0f%% (%.4f → %.4f) while its traffic moved %+.0f%%: "+
			"look for a capacity or pricing change (instance type, replicas, storage, lost discount) made this week.",
		s.Service, 100*(cpk-prevCpk)/prevCpk, prevCpk, cpk, 100*ev.RequestsChange))
}

// spendGrowth: on traffic that is not flat (flat traffic is costRise's), spend up by
// GrowthMinChange or more and ahead of traffic by GrowthMinGap or more.
func (d *spendDetector) spendGrowth(s ServiceWeek, ev Evidence) {
	reqChange, spendChange := ev.RequestsChange, ev.SpendChange
	if d.flat(s, ev) || s.PreviousSpend <= 0 || s.PreviousRequests == 0 || spendChange < d.th.GrowthMinChange ||
		spendChange-reqChange < d.th.GrowthMinGap {
		return
	}
	impact := s.Spend - s.PreviousSpend*float64(s.Requests)/float64(s.PreviousRequests)
	d.add(RuleSpendGrowth, s, "spend against traffic", impact, ev, fmt.Sprintf(
		"%s's spend grew %+.0f%% while its traffic grew %+.0f%%: find what was added beyond the traffic "+
			"(capacity kept after a peak, new resources, a pricing change).",
		s.Service, 100*spendChange, 100*reqChange))
}

// errorBurn: at least ErrorBurnMinShare of the requests failed; the impact is that share
// of the spend.
func (d *spendDetector) errorBurn(s ServiceWeek, ev Evidence) {
	if s.Requests == 0 || ev.FailedRequestShare < d.th.ErrorBurnMinShare || s.Spend <= 0 {
		return
	}
	impact := s.Spend * ev.FailedRequestShare
	d.add(RuleErrorBurn, s, "failed requests", impact, ev, fmt.Sprintf(
		"%.1f%% of %s's requests fail, burning about %.2f of its spend a week on work nobody gets: "+
			"fix the top errors first; fail fast before expensive work.", 100*ev.FailedRequestShare, s.Service, impact))
}

// telemetrySpend: telemetry priced at PricePerGB above TelemetryMaxShare of the spend.
func (d *spendDetector) telemetrySpend(s ServiceWeek, ev Evidence) {
	bytes := s.TelemetryBytes
	if !d.th.TelemetryWeighted {
		bytes = s.StoredTelemetryBytes
	}
	tc := bytes / 1e9 * d.th.PricePerGB
	if s.Spend <= 0 || tc <= d.th.TelemetryMaxShare*s.Spend {
		return
	}
	ev.TelemetryGB = bytes / 1e9
	ev.StoredTelemetryGB = s.StoredTelemetryBytes / 1e9
	ev.TelemetryCost = tc
	ev.TelemetryShareOfSpend = tc / s.Spend
	if s.Requests > 0 {
		ev.TelemetryBytesPerRequest = bytes / float64(s.Requests)
	}
	impact := tc - d.th.TelemetryMaxShare*s.Spend
	advice := "it is mostly spans: drop large span attributes and events (bodies, SQL with values, debug " +
		"payloads) and sample the service's traces harder"
	if s.MetricBytes > bytes/2 {
		advice = "it is mostly metric points: drop high-cardinality metric attributes (IDs, URLs with " +
			"values), fewer buckets, and a longer export interval"
	}
	d.add(RuleTelemetrySpend, s, "telemetry volume", impact, ev, fmt.Sprintf(
		"%s's telemetry (%.1f GB, %.0f bytes per request) costs %.2f a week, %.0f%% of its spend; %s.",
		s.Service, ev.TelemetryGB, ev.TelemetryBytesPerRequest, tc, 100*ev.TelemetryShareOfSpend, advice))
}

// overProvisioned: a workload's CPU or memory efficiency below LowEfficiency; the impact is
// the capacity beyond TargetEfficiency.
func (d *spendDetector) overProvisioned(w Workload) {
	cpuWaste, ramWaste := waste(w.CPUCost, w.CPUEfficiency, d.th), waste(w.RAMCost, w.RAMEfficiency, d.th)
	if cpuWaste+ramWaste <= 0 {
		return
	}
	svc := w.Service
	if svc == "" {
		svc = w.Namespace + "/" + w.Controller
	}
	ev := Evidence{Cluster: w.Cluster, Workload: w.Namespace + "/" + w.Controller,
		CPUEfficiency: w.CPUEfficiency, RAMEfficiency: w.RAMEfficiency, CPUCost: w.CPUCost, RAMCost: w.RAMCost}
	impact := cpuWaste + ramWaste
	d.out = append(d.out, Finding{Rule: RuleOverProvisioned, Service: svc, Operation: w.Namespace + "/" + w.Controller,
		Severity: d.severity(impact), Evidence: ev, ExampleTraceIDs: []string{}, ImpactPerWeek: impact,
		Recommendation: fmt.Sprintf("%s/%s uses %.0f%% of the CPU and %.0f%% of the memory it requests: lower its "+
			"requests (or replicas) towards usage / %.0f%%, or let an autoscaler size it.",
			w.Namespace, w.Controller, 100*w.CPUEfficiency, 100*w.RAMEfficiency, 100*d.th.TargetEfficiency)})
}

// seriesExplosion: a metric with at least SeriesMin series that grew SeriesGrowth times or
// more (or appeared with that many).
func (d *spendDetector) seriesExplosion(g SeriesGrowth) {
	if g.Series < d.th.SeriesMin || float64(g.Series) < d.th.SeriesGrowth*float64(g.PreviousSeries) {
		return
	}
	impact := 0.0
	if g.Series > 0 {
		// The share of this week's points that the growth added, priced like telemetry.
		impact = g.PointBytes / 1e9 * d.th.PricePerGB * (1 - float64(g.PreviousSeries)/float64(g.Series))
	}
	ev := Evidence{Key: g.Metric, Series: g.Series, PreviousSeries: g.PreviousSeries}
	f := Finding{Rule: RuleSeriesExplosion, Service: g.Service, Operation: g.Metric, Severity: d.severity(impact),
		Evidence: ev, ExampleTraceIDs: []string{}, ImpactPerWeek: impact,
		Recommendation: fmt.Sprintf("%s's metric %s went from %d to %d series in a week: an attribute with "+
			"unbounded values (IDs, URLs, timestamps) is probably on it; drop or bucket that attribute.",
			g.Service, g.Metric, g.PreviousSeries, g.Series)}
	// A tenfold growth is worth a warning whatever it costs yet: it keeps growing. A metric
	// that is new this week is not growth, unless its service already sent metrics.
	tenfold := g.PreviousSeries > 0 && float64(g.Series) >= 10*float64(g.PreviousSeries)
	appeared := g.PreviousSeries == 0 && d.seriesLastWeek[g.Service]
	if f.Severity == SeverityInfo && (tenfold || appeared) {
		f.Severity = SeverityWarning
	}
	d.out = append(d.out, f)
}

// foldSpendLevel keeps one finding per service about the level of its spend: the cost
// outlier, cost rising, unexplained growth, idle and over-provisioning rules each price a
// slice of the same spend, so of a service's findings among them the largest stands and the
// others are folded into it (info, SeeAlso), and their impacts are not added twice. Error
// burn and telemetry overspend are other causes and stand on their own.
func foldSpendLevel(fs []Finding) {
	top := map[string]int{}
	level := func(r Rule) bool {
		switch r {
		case RuleCostOutlier, RuleCostRise, RuleSpendGrowth, RuleIdleSpend, RuleOverProvisioned:
			return true
		}
		return false
	}
	for i, f := range fs {
		if !level(f.Rule) {
			continue
		}
		if j, ok := top[f.Service]; !ok || f.ImpactPerWeek > fs[j].ImpactPerWeek ||
			(f.ImpactPerWeek == fs[j].ImpactPerWeek && f.Rule < fs[j].Rule) {
			top[f.Service] = i
		}
	}
	for i := range fs {
		if j, ok := top[fs[i].Service]; ok && i != j && level(fs[i].Rule) {
			fs[i].Severity = SeverityInfo
			fs[i].Evidence.SeeAlso = string(fs[j].Rule) + " " + fs[j].Service + " " + fs[j].Operation
		}
	}
}

// waste is the cost of capacity beyond what TargetEfficiency needs, when efficiency is
// below LowEfficiency (and known: 0 means no usage data).
func waste(cost, eff float64, th SpendThresholds) float64 {
	if cost <= 0 || eff <= 0 || eff >= th.LowEfficiency {
		return 0
	}
	return cost * (1 - eff/th.TargetEfficiency)
}

func serviceEvidence(s ServiceWeek) Evidence {
	ev := Evidence{
		Spend: s.Spend, PreviousSpend: s.PreviousSpend,
		ServiceRequestsPerWeek: float64(s.Requests), PreviousRequestsPerWeek: float64(s.PreviousRequests),
		FailedRequestsPerWeek: float64(s.Errors),
	}
	if s.Requests > 0 {
		ev.CostPer1k = s.Spend / float64(s.Requests) * 1000
		ev.FailedRequestShare = float64(s.Errors) / float64(s.Requests)
	}
	if s.PreviousRequests > 0 {
		ev.PreviousCostPer1k = s.PreviousSpend / float64(s.PreviousRequests) * 1000
		ev.RequestsChange = (float64(s.Requests) - float64(s.PreviousRequests)) / float64(s.PreviousRequests)
	}
	if s.PreviousSpend > 0 {
		ev.SpendChange = (s.Spend - s.PreviousSpend) / s.PreviousSpend
	}
	return ev
}

// fleetMedianPer1k is the median cost per 1k requests over the services with spend and at
// least minRequests requests.
func fleetMedianPer1k(services []ServiceWeek, minRequests uint64) float64 {
	var v []float64
	for _, s := range services {
		if s.Spend > 0 && s.Requests >= minRequests && s.Requests > 0 {
			v = append(v, s.Spend/float64(s.Requests)*1000)
		}
	}
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	if n := len(v); n%2 == 1 {
		return v[n/2]
	} else {
		return (v[n/2-1] + v[n/2]) / 2
	}
}
