// Package demo is `weir demo`: a shop of a dozen services with two weeks of traffic, sent
// to weir over real OTLP with backdated timestamps, a matching FOCUS bill, and the ground
// truth of the hotspots injected into both, so that the weekly report can be checked
// against it.
//
// # The shop
//
// Five routes enter through gateway, which asks auth (and its redis) first:
//
//	GET /products   gateway → catalog → postgresql, redis
//	GET /search     gateway → search → elasticsearch
//	GET /cart       gateway → cart → postgresql
//	POST /checkout  gateway → checkout → inventory (→ postgresql), payments (→ stripe),
//	                kafka → notifications
//	GET /home       gateway → recommendations → catalog, inventory, search (24 calls)
//
// Every trace was head-sampled by the SDK at 1/128 (1/1024 for /search) and says so in its
// tracestate (ot=th:fe, ot=th:ffc), so each stands for 128 (1,024) requests: a week of a
// few million requests in 35,000 traces (at Scale 1). weir keeps them all (their randomness
// passes its own baseline too) with those weights.
//
// # Injected hotspots (in the report week; the week before is the same shop without them,
// except the N+1, the fan-out and the retries, which are old habits)
//
//   - N+1 query: half of cart's GET /cart requests read their items one by one
//     (12 sequential SELECTs) instead of one SELECT … IN;
//   - chatty fan-out: recommendations' GET /home-feed makes 24 calls to 8 routes;
//   - retry storm: payments fails 30 % of attempts and checkout retries up to 3 times at
//     once (http.request.resend_count);
//   - zombie: legacy-reports costs 90 a week and sends nothing;
//   - cost per request doubled: inventory's compute bill doubles on flat traffic;
//   - telemetry-heavy: search attaches a 32 KiB debug payload to two spans of every
//     GET /search this week.
//
// The bill: each service's compute (tag service=<name>), a shared postgres cluster split by
// calls (costmap shared resource, node postgresql), and a support plan nobody maps.
package demo

import "time"

// Head-sampling weights (powers of two, so that th and the weights are exact).
const (
	weightDefault = 128
	weightSearch  = 1024
)

type route struct {
	name    string
	service string // the backend gateway calls
	perWeek int    // traces sent per week at Scale 1
	weight  float64
	th      string
}

var routes = []route{
	{"GET /products", "catalog", 20000, weightDefault, "fe"},
	{"GET /search", "search", 1000, weightSearch, "ffc"},
	{"GET /cart", "cart", 8000, weightDefault, "fe"},
	{"POST /checkout", "checkout", 3000, weightDefault, "fe"},
	{"GET /home", "recommendations", 3000, weightDefault, "fe"},
}

// computeWeekly is each service's own compute bill per week (the week before the report).
var computeWeekly = map[string]float64{
	"gateway": 200, "auth": 150, "catalog": 300, "search": 50, "cart": 60, "checkout": 40,
	"payments": 45, "inventory": 120, "recommendations": 60, "notifications": 20, "legacy-reports": 90,
}

const (
	sharedDBWeekly    = 150.0 // the postgres cluster, split among its callers by calls
	supportWeekly     = 30.0  // a support plan: no tags, unmapped
	inventoryRise     = 2.0   // inventory's compute multiplier in the report week
	sharedDBNode      = "postgresql"
	sharedDBResource  = "arn:aws:rds:eu-west-1:123456789012:cluster:shop-postgres"
	zombieService     = "legacy-reports"
	debugPayloadBytes = 32 << 10
	nPlusOneItems     = 12
	nPlusOneShare     = 0.5
	chattyCalls       = 24 // 8 routes × 3
	paymentFailure    = 0.30
	maxRetries        = 3
	billingAccount    = "demo-shop"
	currency          = "USD"
)

// homeCalls are recommendations' calls per GET /home-feed: 8 routes, 3 calls each.
var homeCalls = []struct{ service, route string }{
	{"catalog", "GET /products/{id}"}, {"catalog", "GET /products/{id}/reviews"},
	{"catalog", "GET /products/{id}/images"}, {"catalog", "GET /products/{id}/related"},
	{"inventory", "GET /stock/{id}"}, {"inventory", "GET /stock/{id}/eta"},
	{"search", "GET /search/similar"}, {"search", "GET /search/trending"},
}

// hourShare is the share of a day's traffic in each UTC hour: a daily cycle peaking in the
// evening. It sums to 1.
var hourShare = func() [24]float64 {
	raw := [24]float64{2, 1.5, 1, 1, 1, 1.5, 2.5, 4, 5, 5.5, 5.5, 6, 6.5, 6, 5.5, 5.5, 6, 6.5, 7, 7.5, 7, 5.5, 4, 3}
	var sum float64
	for _, v := range raw {
		sum += v
	}
	for i := range raw {
		raw[i] /= sum
	}
	return raw
}()

// hourlyCounts spreads n traces a week over its 168 hours by hourShare (7 equal days),
// rounding so that the week adds up to n.
func hourlyCounts(n int) [168]int {
	var out [168]int
	var carry float64
	for h := range 168 {
		exact := float64(n)/7*hourShare[h%24] + carry
		out[h] = int(exact)
		carry = exact - float64(out[h])
	}
	if carry > 0.5 {
		out[167]++
	}
	return out
}

// Truth is the ground truth of a demo run: what the report of Week should find.
type Truth struct {
	Week      string         `json:"week"`
	Hotspots  []TruthHotspot `json:"hotspots"`
	Services  []TruthService `json:"services"`
	Totals    TruthTotals    `json:"totals"`
	Generated time.Time      `json:"generated_at"`
	Notes     []string       `json:"notes"`
}

// TruthHotspot is one injected hotspot and its weekly cost impact, computed from the
// model with the report's documented formulas.
type TruthHotspot struct {
	Rule      string  `json:"rule"`
	Service   string  `json:"service"`
	Operation string  `json:"operation"`
	Impact    float64 `json:"impact_per_week"`
	How       string  `json:"how"`
}

// TruthService is one service's spend and requests in the report week.
type TruthService struct {
	Service  string  `json:"service"`
	Spend    float64 `json:"spend"`
	Requests float64 `json:"requests"`
}

// TruthTotals are the report week's totals.
type TruthTotals struct {
	Spend    float64 `json:"spend"`
	Requests float64 `json:"requests"`
	Traces   int     `json:"traces_sent"`
	Spans    int     `json:"spans_sent"`
}
