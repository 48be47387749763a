package demo

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"
)

// costmapYAML maps the bill to services: compute by its service tag, the postgres cluster
// split among its callers by calls.
const costmapYAML = `# weir demo: how the demo bill maps to services (see analyzer/costmap).
cost: EffectiveCost
rules:
  - tag: {keys: [service]}
shared:
  - name: shop-postgres
    node: ` + sharedDBNode + `
    resource: ':cluster:shop-postgres$'
    split_by: calls
`

var billHeader = []string{
	"BillingAccountId", "BillingAccountName", "BillingPeriodStart", "BillingPeriodEnd",
	"ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "ChargeDescription",
	"BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "BillingCurrency",
	"ProviderName", "PublisherName", "InvoiceIssuerName", "ServiceName", "ServiceCategory",
	"ResourceId", "ResourceName", "ResourceType", "RegionId", "SubAccountId", "SubAccountName",
	"ConsumedQuantity", "ConsumedUnit", "PricingQuantity", "PricingUnit", "Tags",
}

// weeklyCompute is a service's compute bill in week w (0: before, 1: the report week) at
// Scale 1.
func weeklyCompute(service string, w int) float64 {
	c := computeWeekly[service]
	if service == "inventory" && w == 1 {
		c *= inventoryRise
	}
	return c
}

// writeBill writes the FOCUS 1.0 bill of the two weeks: daily rows per service, the shared
// cluster and the support plan.
// Amounts scale with the traffic, so that costs per request do not depend on Scale.
func writeBill(path string, prev, week time.Time, scale float64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	bw := bufio.NewWriter(f)
	w := csv.NewWriter(bw)
	_ = w.Write(billHeader)
	services := sortedKeys(computeWeekly)
	money := func(v float64) string { return strconv.FormatFloat(v, 'f', 10, 64) }
	for wk, start := range []time.Time{prev, week} {
		for d := range 7 {
			day := start.AddDate(0, 0, d)
			period := time.Date(day.Year(), day.Month(), 1, 0, 0, 0, 0, time.UTC)
			row := func(cost float64, cloudService, category, resourceID, resourceName, resourceType, tags, desc string) {
				c := money(cost)
				_ = w.Write([]string{
					billingAccount, "Demo Shop", period.Format(time.DateTime), period.AddDate(0, 1, 0).Format(time.DateTime),
					day.Format(time.DateTime), day.AddDate(0, 0, 1).Format(time.DateTime), "Usage", desc,
					c, c, c, c, currency,
					"AWS", "AWS", "AWS", cloudService, category,
					resourceID, resourceName, resourceType, "eu-west-1", "123456789012", "shop-prod",
					"24", "Hours", "24", "Hours", tags,
				})
			}
			for _, s := range services {
				row(scale*weeklyCompute(s, wk)/7, "Amazon Elastic Container Service", "Compute",
					"arn:aws:ecs:eu-west-1:123456789012:service/shop/"+s, s, "Service",
					`{"service":"`+s+`","team":"shop"}`, "Fargate vCPU and memory")
			}
			row(scale*sharedDBWeekly/7, "Amazon Relational Database Service", "Databases", sharedDBResource, "shop-postgres",
				"Cluster", `{"team":"platform"}`, "Aurora PostgreSQL instance hours and I/O")
			row(scale*supportWeekly/7, "AWS Support (Business)", "Management and Governance", "", "", "", "NULL", "Business support plan")
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("demo: write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("demo: write %s: %w", path, err)
	}
	return f.Close()
}

// truth computes the report week's hotspots and numbers from the model, with the report's
// documented formulas (analyzer/report, analyzer/hotspot) and default thresholds.
func truth(t [2]*tally, week time.Time, scale float64) Truth {
	db := scale * sharedDBWeekly
	// Sums run over sorted keys, so that truth.json is the same to the last digit every run.
	edges := func(t *tally) [][2]string {
		keys := make([][2]string, 0, len(t.calls))
		for k := range t.calls {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i][0] != keys[j][0] {
				return keys[i][0] < keys[j][0]
			}
			return keys[i][1] < keys[j][1]
		})
		return keys
	}
	dbCalls := func(t *tally) float64 {
		var n float64
		for _, k := range edges(t) {
			if k[1] == sharedDBNode {
				n += t.calls[k]
			}
		}
		return n
	}
	spend := [2]map[string]float64{{}, {}}
	for w := range 2 {
		for _, s := range sortedKeys(computeWeekly) {
			spend[w][s] = scale * weeklyCompute(s, w)
		}
		all := dbCalls(t[w])
		for _, k := range edges(t[w]) {
			if k[1] == sharedDBNode {
				spend[w][k[0]] += db * t[w].calls[k] / all
			}
		}
	}
	cur := t[1]
	perCall := func(s string) float64 {
		if s == sharedDBNode {
			return db / dbCalls(cur)
		}
		if cur.requests[s] == 0 {
			return 0
		}
		return spend[1][s] / cur.requests[s]
	}
	// recommendations' calls go to catalog, inventory and search: price by calls.
	var recCalls, recCost float64
	for _, k := range edges(cur) {
		if k[0] == "recommendations" && k[1] != sharedDBNode {
			recCalls += cur.calls[k]
			recCost += cur.calls[k] * perCall(k[1])
		}
	}
	inv := spend[1]["inventory"] - cur.requests["inventory"]*spend[0]["inventory"]/t[0].requests["inventory"]
	telemetry := cur.spanBytes["search"] / 1e9 * 0.30
	y, wk := week.ISOWeek()
	tr := Truth{
		Week:      fmt.Sprintf("%04d-W%02d", y, wk),
		Generated: time.Now().UTC().Truncate(time.Second),
		Hotspots: []TruthHotspot{
			{"n_plus_one_query", "cart", "GET /cart", cur.nPlusOne * perCall(sharedDBNode),
				"half of GET /cart read 12 items one by one: 11 avoidable SELECTs each, priced at the postgres cluster's cost per call"},
			{"chatty_edge", "recommendations", "GET /home-feed", cur.chatty * recCost / recCalls,
				"24 calls per GET /home-feed, 10 beyond the chatty threshold, priced at the callees' cost per call"},
			{"retry_storm", "checkout", "POST /charge", cur.retries * perCall("payments"),
				"payments fails 30% of attempts; checkout resends up to 3 times; priced at payments' cost per request"},
			{"idle_spend", zombieService, "no traffic", spend[1][zombieService], "legacy-reports is billed and sends nothing"},
			{"cost_per_request_rising", "inventory", "cost per 1k requests", inv,
				"inventory's compute bill doubled on flat traffic: the spend above last week's cost per request"},
			{"telemetry_overspend", "search", "telemetry volume", telemetry - 0.10*spend[1]["search"],
				"search logs two 32 KiB payloads per GET /search: telemetry at 0.30 per GB above 10% of its spend"},
		},
	}
	sort.Slice(tr.Hotspots, func(i, j int) bool { return tr.Hotspots[i].Impact > tr.Hotspots[j].Impact })
	for _, s := range sortedKeys(spend[1]) {
		tr.Services = append(tr.Services, TruthService{Service: s, Spend: spend[1][s], Requests: cur.requests[s]})
		tr.Totals.Requests += cur.requests[s]
	}
	for _, s := range sortedKeys(spend[1]) {
		tr.Totals.Spend += spend[1][s]
	}
	tr.Totals.Spend += scale * supportWeekly
	tr.Totals.Traces = t[0].traces + t[1].traces
	tr.Notes = []string{
		"Impacts use the default thresholds and the report's pricing: avoidable calls × the callees' cost per call; spend rules as documented in analyzer/hotspot.",
		"Every trace is head-sampled (ot=th:fe, 1/128; ot=th:ffc, 1/1024 for GET /search), so counts are weighted.",
	}
	return tr
}
