package report

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/analyzer/costmap"
	"github.com/weirhq/weir/analyzer/hotspot"
	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/internal/model"
	"github.com/weirhq/weir/rollup"
)

// The week of the tests: 2026-W47 is Mon 16 Nov to Sun 22 Nov 2026; W46 the week before.
var (
	week     = "2026-W47"
	weekFrom = time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)
)

// Search's requests per day this week (Monday first); 14,000 in all. Every other series is flat.
var searchDaily = []uint64{1800, 2200, 2000, 2400, 1600, 2000, 2000}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// seeded is a migrated database holding two weeks of two services:
//
//	checkout: 1,000 requests a day (10 failed, all at 100 ms), spend 10 a day last week
//	          and 20 a day this week: cost per 1k requests 10 → 20 (+100 %);
//	search:   2,000 requests a day last week, searchDaily this week (all at 20 ms), spend 5
//	          a day both weeks: cost per 1k 2.5 → 2.5;
//	unmapped: 1 a day of spend without tags.
//
// and one N+1 this week: a checkout request with 8 sequential identical SELECTs.
func seeded(t *testing.T) *chtest.DB {
	t.Helper()
	ctx := testContext(t)
	db := chtest.New(t)
	_, err := rollup.Migrate(ctx, db.Conn, db.Name, 0)
	require.NoError(t, err)

	batch, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+db.Table(rollup.TableRED1h)+
		" (Timestamp, ServiceName, SpanName, SpanKind, StatusCode, DimKeys, DimValues, Requests, DurationSumNano, ZeroCount, BucketIndexes, BucketCounts)")
	require.NoError(t, err)
	red := func(ts time.Time, service string, status uint8, n uint64, latency float64) {
		require.NoError(t, batch.Append(ts, service, "GET /", uint8(2), status, []string{}, []string{}, n,
			float64(n)*latency, uint64(0), []int32{model.LatencyBucketIndex(latency)}, []uint64{n}))
	}
	var spend []rollup.SpendRow
	for d := -7; d < 7; d++ {
		day := weekFrom.AddDate(0, 0, d)
		noon := day.Add(12 * time.Hour)
		red(noon, "checkout", 0, 990, 100e6)
		red(noon, "checkout", 2, 10, 100e6)
		search := uint64(2000)
		checkoutSpend := 10.0
		if d >= 0 {
			search = searchDaily[d]
			checkoutSpend = 20
		}
		red(noon, "search", 0, search, 20e6)
		spend = append(spend,
			spendRow(day, "i-checkout", checkoutSpend, "service", "checkout"),
			spendRow(day, "i-search", 5, "app", "search"),
			spendRow(day, "bucket-misc", 1))
	}
	require.NoError(t, batch.Send())

	w, err := rollup.NewSpendWriter(ctx, db.Conn, db.Name)
	require.NoError(t, err)
	var b rollup.SpendBlock
	for i := range spend {
		b.Append(&spend[i])
	}
	require.NoError(t, w.Write(ctx, &b))
	_, err = w.Commit(ctx)
	require.NoError(t, err)

	insertNPlusOne(t, db, weekFrom.Add(2*24*time.Hour+10*time.Hour))
	return db
}

// spendRow is a daily usage row of the November 2026 bill.
func spendRow(day time.Time, resourceID string, cost float64, tags ...string) rollup.SpendRow {
	r := rollup.SpendRow{
		BillingPeriodStart: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		BillingPeriodEnd:   time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		ChargePeriodStart:  day, ChargePeriodEnd: day.AddDate(0, 0, 1),
		Provider: "AWS", BillingAccountID: "acct", SubAccountID: "sub-1",
		ServiceName: "Amazon EC2", ResourceID: resourceID, ChargeCategory: "Usage",
		BillingCurrency: "USD", BilledCost: cost, EffectiveCost: cost, Source: "test.csv",
	}
	for i := 0; i+1 < len(tags); i += 2 {
		r.TagKeys = append(r.TagKeys, tags[i])
		r.TagValues = append(r.TagValues, tags[i+1])
	}
	return r
}

func raw(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// insertNPlusOne stores one checkout request at start with 8 sequential SELECTs under it.
func insertNPlusOne(t *testing.T, db *chtest.DB, start time.Time) {
	t.Helper()
	ctx := testContext(t)
	batch, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+db.Table(rollup.TableSpans)+
		" (Timestamp, StartTimeUnixNano, DurationNano, ServiceName, SpanName, SpanKind, TraceId, SpanId, ParentSpanId,"+
		" StatusCode, SampleWeight, SpanAttributeKeys, SpanAttributeValues, SpanAttributeTypes)")
	require.NoError(t, err)
	trace := raw(fmt.Sprintf("%032x", 1))
	root := raw(fmt.Sprintf("%016x", 1000))
	add := func(at time.Time, dur time.Duration, name string, kind uint8, id, parent string, keys, vals []string) {
		types := make([]uint8, len(keys))
		for i := range types {
			types[i] = 1
		}
		require.NoError(t, batch.Append(at.Truncate(time.Second), uint64(at.UnixNano()), int64(dur), "checkout", name, kind,
			trace, id, parent, uint8(0), float64(1), keys, vals, types))
	}
	add(start, time.Second, "POST /checkout", 2, root, raw(fmt.Sprintf("%016x", 0)), nil, nil)
	for i := range 8 {
		at := start.Add(time.Duration(i) * 20 * time.Millisecond)
		add(at, 10*time.Millisecond, "SELECT items", 3, raw(fmt.Sprintf("%016x", 1001+i)), root,
			[]string{"db.statement"}, []string{fmt.Sprintf("SELECT * FROM items WHERE id = %d", 100+i)})
	}
	require.NoError(t, batch.Send())
}

func tagRules() costmap.Config {
	return costmap.Config{Rules: []costmap.Rule{{Tag: &costmap.TagRule{}}}}
}

func build(t *testing.T, db *chtest.DB) *Report {
	t.Helper()
	opts := DefaultOptions()
	opts.Costmap = tagRules()
	r, err := Build(testContext(t), db.Conn, db.Name, week, opts)
	require.NoError(t, err)
	return r
}

func service(t *testing.T, r *Report, name string) ServiceRow {
	t.Helper()
	for _, s := range r.Services {
		if s.Service == name {
			return s
		}
	}
	t.Fatalf("no service %q in %+v", name, r.Services)
	return ServiceRow{}
}

func TestParseWeek(t *testing.T) {
	for s, want := range map[string]time.Time{
		"2026-W47": weekFrom,
		"2026-W01": time.Date(2025, 12, 29, 0, 0, 0, 0, time.UTC),
		"2020-W53": time.Date(2020, 12, 28, 0, 0, 0, 0, time.UTC),
		"2021-W01": time.Date(2021, 1, 4, 0, 0, 0, 0, time.UTC),
	} {
		got, err := ParseWeek(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, got, s)
		assert.Equal(t, s, WeekOf(got))
	}
	for _, bad := range []string{"2026-47", "2026-W54", "2026-W00", "2021-W53", "26-W01", "2026-W1", ""} {
		_, err := ParseWeek(bad)
		assert.Error(t, err, bad)
	}
	assert.Equal(t, "2026-W46", LastCompleteWeek(time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC)))
	assert.Equal(t, "2026-W47", LastCompleteWeek(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)))
}

func TestBuild(t *testing.T) {
	db := seeded(t)
	r := build(t, db)

	assert.Equal(t, "2026-W47", r.Week)
	assert.Equal(t, "2026-W46", r.PreviousWeek)
	assert.Equal(t, weekFrom, r.From)
	assert.Equal(t, weekFrom.AddDate(0, 0, 7), r.To)
	assert.Equal(t, "USD", r.Currency)

	tot := r.Totals
	assert.InDelta(t, 182, tot.Spend, 1e-9)         // 7 × (20 + 5 + 1)
	assert.InDelta(t, 112, tot.PreviousSpend, 1e-9) // 7 × (10 + 5 + 1)
	assert.InDelta(t, 7, tot.Unmapped, 1e-9)
	assert.EqualValues(t, 21000, tot.Requests)
	assert.EqualValues(t, 21000, tot.PreviousRequests)
	assert.InDelta(t, 182.0/21000*1e6, tot.SpendPerMillionRequests, 1e-6)
	assert.InDelta(t, 112.0/21000*1e6, tot.PrevSpendPerMillionRequests, 1e-6)
	require.NotNil(t, tot.SpendPerMillionChange)
	assert.InDelta(t, 0.625, *tot.SpendPerMillionChange, 1e-9)
	require.NotNil(t, tot.SpendChange)
	assert.InDelta(t, 0.625, *tot.SpendChange, 1e-9)

	require.Len(t, r.Services, 2)
	assert.Equal(t, "checkout", r.Services[0].Service, "by spend descending")
	c := service(t, r, "checkout")
	assert.InDelta(t, 140, c.Spend, 1e-9)
	assert.InDelta(t, 70, c.PreviousSpend, 1e-9)
	assert.EqualValues(t, 7000, c.Requests)
	assert.EqualValues(t, 70, c.Errors)
	assert.InDelta(t, 0.01, c.ErrorRate, 1e-12)
	assert.InDelta(t, 20, c.CostPer1kRequests, 1e-9)
	assert.InDelta(t, 10, c.PrevCostPer1kRequests, 1e-9)
	require.NotNil(t, c.CostPer1kChange)
	assert.InDelta(t, 1.0, *c.CostPer1kChange, 1e-9)
	assert.InDelta(t, 100, c.P95Ms, 100*0.011) // within the distribution's 1.1 % (rollup.QueryScale)

	s := service(t, r, "search")
	assert.InDelta(t, 35, s.Spend, 1e-9)
	assert.EqualValues(t, 14000, s.Requests)
	assert.InDelta(t, 2.5, s.CostPer1kRequests, 1e-9)
	require.NotNil(t, s.CostPer1kChange)
	assert.InDelta(t, 0, *s.CostPer1kChange, 1e-9)
	assert.InDelta(t, 20, s.P95Ms, 20*0.011)
	assert.Zero(t, s.ErrorRate)

	// Daily series: 7 days per service, Monday first.
	require.Len(t, r.Daily, 2)
	for _, ser := range r.Daily {
		require.Len(t, ser.Days, 7, ser.Service)
		assert.Equal(t, "2026-11-16", ser.Days[0].Date)
		assert.Equal(t, "2026-11-22", ser.Days[6].Date)
		for i, d := range ser.Days {
			switch ser.Service {
			case "checkout":
				assert.InDelta(t, 20, d.Spend, 1e-9)
				assert.EqualValues(t, 1000, d.Requests)
			case "search":
				assert.InDelta(t, 5, d.Spend, 1e-9)
				assert.Equal(t, searchDaily[i], d.Requests)
			}
		}
	}

	// Checkout's cost per 1k requests doubled on flat traffic: 140 − 7,000 / 1k × 10 = 70
	// above last week's rate. Then the N+1: 7 avoidable calls in the week; the seed has no
	// service graph, so there is no callee to price them at (TestPricer covers pricing).
	require.Len(t, r.Hotspots, 2, "%+v", r.Hotspots)
	rise := r.Hotspots[0]
	assert.Equal(t, hotspot.RuleCostRise, rise.Rule)
	assert.Equal(t, "checkout", rise.Service)
	assert.InDelta(t, 70, rise.ImpactPerWeek, 1e-9)
	assert.Equal(t, hotspot.SeverityCritical, rise.Severity, "70 of 182 spend")
	assert.InDelta(t, 20, rise.Evidence.CostPer1k, 1e-9)
	assert.InDelta(t, 10, rise.Evidence.PreviousCostPer1k, 1e-9)
	h := r.Hotspots[1]
	assert.Equal(t, 2, h.Rank)
	assert.Equal(t, hotspot.RuleNPlusOneQuery, h.Rule)
	assert.Equal(t, "checkout", h.Service)
	assert.Equal(t, "POST /checkout", h.Operation)
	assert.InDelta(t, 7, h.AvoidableCallsPerWeek, 1e-9)
	assert.Zero(t, h.CostPerCall)
	assert.Zero(t, h.ImpactPerWeek)
	assert.InDelta(t, 70, tot.HotspotImpactPerWeek, 1e-9)
	assert.NotEmpty(t, h.Recommendation)
	assert.Equal(t, []string{fmt.Sprintf("%032x", 1)}, h.ExampleTraceIDs)

	// Markdown carries the numbers.
	var md bytes.Buffer
	require.NoError(t, r.WriteMarkdown(&md))
	for _, want := range []string{
		"# weir weekly report: 2026-W47",
		"| Total spend (USD) | 182.00 | 112.00 | +62.5% |",
		"| Requests served, all services (every hop counts) | 21,000 | 21,000 | +0.0% |",
		"| Spend per million requests | 8,666.67 | 5,333.33 | +62.5% |",
		"| checkout | 140.00 | 7,000 | 20.00 | +100.0% | 100 ms | 1.00% |",
		"| search | 35.00 | 14,000 | 2.50 | +0.0% | 20 ms | 0.00% |",
		"| 1 | cost_per_request_rising | checkout | cost per 1k requests | critical | 70.00 | 0 |",
		"| 2 | n_plus_one_query | checkout | POST /checkout | ",
		"Cost per 1k requests 20.00 (the week before 10.00; fleet median 11.25).",
		"Estimated impact 0.00 a week: 7 avoidable calls × 0.00 per call.",
		"Example traces: `00000000000000000000000000000001`",
		"**Recommendation:**",
		"20.00 / 1,000 req",
	} {
		assert.Contains(t, md.String(), want)
	}

	// JSON has stable field names and the same numbers.
	var js bytes.Buffer
	require.NoError(t, r.WriteJSON(&js))
	var m map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &m))
	assert.Equal(t, "2026-W47", m["week"])
	totals := m["totals"].(map[string]any)
	assert.InDelta(t, 182, totals["spend"], 1e-9)
	assert.InDelta(t, 0.625, totals["spend_per_million_requests_change"], 1e-9)
	assert.InDelta(t, 21000, totals["requests"], 0)
	svc := m["services"].([]any)[0].(map[string]any)
	assert.Equal(t, "checkout", svc["service"])
	assert.InDelta(t, 20, svc["cost_per_1k_requests"], 1e-9)
	assert.InDelta(t, 1.0, svc["cost_per_1k_requests_change"], 1e-9)
	assert.InDelta(t, 0.01, svc["error_rate"], 1e-12)
	hs := m["hotspots"].([]any)[1].(map[string]any)
	assert.Contains(t, hs, "impact_per_week")
	assert.Equal(t, "n_plus_one_query", hs["rule"])

	// Stored for the dashboards: the week's days (and unmapped spend) and the hotspots.
	require.NoError(t, r.Store(testContext(t), db.Conn, db.Name))
	assert.Equal(t, "182", db.QueryString(t, "SELECT toString(round(sum(Spend), 6)) FROM "+db.Table(rollup.TableServiceCost1d)))
	assert.Equal(t, "7", db.QueryString(t, "SELECT toString(sum(Spend)) FROM "+db.Table(rollup.TableServiceCost1d)+" WHERE Service = '(unmapped)'"))
	assert.Equal(t, uint64(21000), db.QueryUint64(t, "SELECT sum(Requests) FROM "+db.Table(rollup.TableServiceCost1d)))
	assert.Equal(t, uint64(70), db.QueryUint64(t, "SELECT sum(Errors) FROM "+db.Table(rollup.TableServiceCost1d)))
	assert.Equal(t, "cost_per_request_rising", db.QueryString(t, "SELECT toString(Rule) FROM "+db.Table(rollup.TableHotspots)+" WHERE Rank = 1"))
	assert.Len(t, m["daily"].([]any)[1].(map[string]any)["days"], 7)
}

func TestBuild_EmptyWeek(t *testing.T) {
	db := chtest.New(t)
	_, err := rollup.Migrate(testContext(t), db.Conn, db.Name, 0)
	require.NoError(t, err)
	r := build(t, db)
	assert.Zero(t, r.Totals.Spend)
	assert.Nil(t, r.Totals.SpendChange)
	assert.Empty(t, r.Services)
	var md, js, html bytes.Buffer
	require.NoError(t, r.WriteMarkdown(&md))
	require.NoError(t, r.WriteJSON(&js))
	require.NoError(t, r.WriteHTML(&html))
	assert.Contains(t, md.String(), "No hotspots found.")
	assert.Contains(t, js.String(), `"services": []`)
	assert.Contains(t, html.String(), "No hotspots found this week.")
}

func TestBuild_BadWeek(t *testing.T) {
	_, err := Build(context.Background(), nil, "weir", "2026-W60", DefaultOptions())
	require.ErrorContains(t, err, "2026-W60")
}

func TestHTMLEscapes(t *testing.T) {
	r := &Report{Week: "2026-W47", From: weekFrom, To: weekFrom.AddDate(0, 0, 7),
		Services: []ServiceRow{{Service: `<script>alert(1)</script>`, Spend: 1}},
		Daily:    []Series{{Service: `<script>alert(1)</script>`, Days: make([]Day, 7)}}}
	var b bytes.Buffer
	require.NoError(t, r.WriteHTML(&b))
	assert.NotContains(t, b.String(), "<script>")
	assert.Contains(t, b.String(), "&lt;script&gt;")
}

// chromium is the headless browser the HTML test drives (Debian package "chromium").
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs headless Chromium; runs without -short")
	}
	for _, p := range []string{os.Getenv("WEIR_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatalf("headless Chromium is required for the HTML report test and was not found: " +
		"install it with `apt-get install -y chromium` (Debian), or set WEIR_CHROMIUM to its path")
	return ""
}

func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	require.NoError(t, cmd.Run(), "chromium %v: %s", args, stderr.String())
	return stdout.Bytes()
}

func TestHTMLRendersInChromium(t *testing.T) {
	bin := chromium(t)
	db := seeded(t)
	r := build(t, db)

	dir := t.TempDir()
	if keep := os.Getenv("WEIR_REPORT_KEEP"); keep != "" {
		dir = keep
	}
	page := filepath.Join(dir, "report.html")
	var b bytes.Buffer
	require.NoError(t, r.WriteHTML(&b))
	require.NoError(t, os.WriteFile(page, b.Bytes(), 0o644))
	html := b.String()
	assert.NotContains(t, html, "http://"+"cdn", "self-contained")
	assert.NotContains(t, html, "<script")
	assert.NotRegexp(t, `(src|href)="https?:`, html)

	// The DOM chromium built: one spend/traffic panel per service (2), 7 request bars and 7
	// spend points each, one spend line each, and one bar per hotspot.
	dom := string(runChromium(t, bin, "--dump-dom", "file://"+page))
	require.Contains(t, dom, "</html>", "chromium printed no DOM")
	count := func(re string) int { return len(regexp.MustCompile(re).FindAllString(dom, -1)) }
	assert.Equal(t, 2, count(`<svg[^>]*class="chart spend-traffic"`))
	assert.Equal(t, 14, count(`<rect class="bar-requests"`))
	assert.Equal(t, 14, count(`<circle class="point-spend"`))
	assert.Equal(t, 2, count(`<polyline class="line-spend"`))
	assert.Equal(t, 1, count(`<svg[^>]*class="chart hotspots"`))
	assert.Equal(t, 2, count(`<rect class="bar-hotspot`))
	assert.Contains(t, dom, `data-service="checkout"`)
	assert.Contains(t, dom, `data-service="search"`)
	// Search's busiest day (Thursday, 2,400) is the full plot height; checkout's flat week
	// is full height every day.
	assert.Contains(t, dom, `2026-11-19: 2,400 requests`)

	// The screenshot is a real picture: many colours, and the chart colours in it.
	shot := filepath.Join(dir, "report.png")
	runChromium(t, bin, "--window-size=1280,1800", "--screenshot="+shot, "file://"+page)
	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	colors, traffic, spend := pixelStats(img)
	assert.Greater(t, colors, 50, "the screenshot is nearly one colour")
	assert.Greater(t, traffic, 2000, "request bars (#91a7ff) not drawn")
	assert.Greater(t, spend, 100, "spend lines (#d9480f) not drawn")
	t.Logf("screenshot %s: %d colours, %d request-bar pixels, %d spend pixels", shot, colors, traffic, spend)
}

// pixelStats counts an image's distinct colours and its pixels of the request bars' and
// the spend line's colours.
func pixelStats(img image.Image) (colors, traffic, spend int) {
	seen := map[uint32]bool{}
	bnd := img.Bounds()
	for y := bnd.Min.Y; y < bnd.Max.Y; y++ {
		for x := bnd.Min.X; x < bnd.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			r8, g8, b8 := r>>8, g>>8, b>>8
			seen[r8<<16|g8<<8|b8] = true
			switch {
			case near(r8, 0x91) && near(g8, 0xa7) && near(b8, 0xff):
				traffic++
			case near(r8, 0xd9) && near(g8, 0x48) && near(b8, 0x0f):
				spend++
			}
		}
	}
	return len(seen), traffic, spend
}

func near(a, b uint32) bool { return a+3 >= b && b+3 >= a }

func TestPricer(t *testing.T) {
	p := &pricer{
		perCall: map[string]float64{"payments": 0.002, "inventory": 0.001, "postgresql": 0.0001},
		edges: map[string][]edge{
			"checkout": {
				{server: "payments", calls: 300, failed: 100},
				{server: "inventory", calls: 100},
				{server: "kafka", conn: "messaging", calls: 100},
				{server: "postgresql", conn: "database", calls: 400},
			},
		},
	}
	// N+1 query: the database edges only.
	c, callees := p.price(hotspot.Finding{Rule: hotspot.RuleNPlusOneQuery, Service: "checkout"})
	assert.InDelta(t, 0.0001, c, 1e-15)
	assert.Equal(t, []string{"postgresql"}, callees)
	// Chatty: the other edges by calls; kafka has no price.
	c, callees = p.price(hotspot.Finding{Rule: hotspot.RuleChattyEdge, Service: "checkout"})
	assert.InDelta(t, (300*0.002+100*0.001)/500, c, 1e-15)
	assert.Equal(t, []string{"payments", "inventory", "kafka"}, callees)
	// Retry storm: the failing edges.
	c, callees = p.price(hotspot.Finding{Rule: hotspot.RuleRetryStorm, Service: "checkout"})
	assert.InDelta(t, 0.002, c, 1e-15)
	assert.Equal(t, []string{"payments"}, callees)
	c, _ = p.price(hotspot.Finding{Rule: hotspot.RuleRetryStorm, Service: "nobody"})
	assert.Zero(t, c)
	// The same edges give FoldErrorBurn its failed calls.
	assert.Equal(t, map[[2]string]uint64{{"checkout", "payments"}: 100}, p.failedCalls())
}

func TestWorkloads_OneControllerJudgedOnce(t *testing.T) {
	// A rollout changed a label mid-week: two allocation rows, one controller.
	ws := workloads([]costmap.Workload{
		{Service: "cart", Cluster: "c", Namespace: "shop", Controller: "cart", CPUCost: 10, RAMCost: 5,
			CPUUsageMinutes: 10, CPURequestMinutes: 100, RAMUsageMinutes: 50, RAMRequestMinutes: 100},
		{Service: "cart", Cluster: "c", Namespace: "shop", Controller: "cart", CPUCost: 30, RAMCost: 5,
			CPUUsageMinutes: 90, CPURequestMinutes: 300, RAMUsageMinutes: 100, RAMRequestMinutes: 100},
		{Service: "", Cluster: "c", Namespace: "ops", Controller: "cron", CPUCost: 1},
	})
	require.Len(t, ws, 2)
	assert.Equal(t, hotspot.Workload{Service: "cart", Cluster: "c", Namespace: "shop", Controller: "cart",
		CPUCost: 40, RAMCost: 10, CPUEfficiency: 0.25, RAMEfficiency: 0.75}, ws[0])
	assert.Zero(t, ws[1].CPUEfficiency, "no usage data: unknown, not 0 % efficient")
}

func TestPricer_NPlusOnePricedAtItsDatabase(t *testing.T) {
	p := &pricer{
		perCall: map[string]float64{"postgresql": 0.0002},
		edges: map[string][]edge{"cart": {
			{server: "postgresql", conn: "database", calls: 100},
			{server: "redis", conn: "database", calls: 100}, // no price: would halve it
		}},
	}
	c, callees := p.price(hotspot.Finding{Rule: hotspot.RuleNPlusOneQuery, Service: "cart",
		Evidence: hotspot.Evidence{Peer: "postgresql"}})
	assert.InDelta(t, 0.0002, c, 1e-15)
	assert.Equal(t, []string{"postgresql"}, callees)
	c, _ = p.price(hotspot.Finding{Rule: hotspot.RuleNPlusOneQuery, Service: "cart"})
	assert.InDelta(t, 0.0001, c, 1e-15, "without a peer: all database edges")
}

// Calls to one service can come as two edges (paired, and with another connection type):
// the service is named once, and the sentence's verb agrees with how many are named.
func TestPricer_CalleeNamedOnce(t *testing.T) {
	p := &pricer{
		perCall: map[string]float64{"payments": 0.001, "fraud": 0.003},
		edges: map[string][]edge{"checkout": {
			{server: "payments", conn: "", calls: 100},
			{server: "payments", conn: "messaging_system", calls: 100},
		}},
	}
	c, callees := p.price(hotspot.Finding{Rule: hotspot.RuleChattyEdge, Service: "checkout"})
	assert.InDelta(t, 0.001, c, 1e-15)
	assert.Equal(t, []string{"payments"}, callees)
	h := Hotspot{AvoidableCallsPerWeek: 10, CostPerCall: c,
		Evidence: hotspot.Evidence{PricedAt: joinCallees(callees), PricedAtCount: len(callees)}}
	assert.Contains(t, EvidenceLines(h), "Calls priced at what payments spends per call.")
	h.Evidence.PricedAt, h.Evidence.PricedAtCount = "payments, fraud", 2
	assert.Contains(t, EvidenceLines(h), "Calls priced at what payments, fraud spend per call.")
}
