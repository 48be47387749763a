package costmap

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/analyzer"
	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/rollup"
)

var (
	day0 = time.Date(2024, 9, 18, 0, 0, 0, 0, time.UTC)
	day1 = day0.Add(24 * time.Hour)
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func migrated(t *testing.T) *chtest.DB {
	t.Helper()
	db := chtest.New(t)
	_, err := rollup.Migrate(testContext(t), db.Conn, db.Name, 0)
	require.NoError(t, err)
	return db
}

// spendRow is a usage row of one hour of day0 (hour h) in account "acct".
func spendRow(h int, resourceID string, cost float64, tags ...string) rollup.SpendRow {
	start := day0.Add(time.Duration(h) * time.Hour)
	r := rollup.SpendRow{
		BillingPeriodStart: time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC),
		BillingPeriodEnd:   time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC),
		ChargePeriodStart:  start, ChargePeriodEnd: start.Add(time.Hour),
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

func writeSpend(t *testing.T, db *chtest.DB, rows ...rollup.SpendRow) {
	t.Helper()
	ctx := testContext(t)
	w, err := rollup.NewSpendWriter(ctx, db.Conn, db.Name)
	require.NoError(t, err)
	var b rollup.SpendBlock
	for i := range rows {
		b.Append(&rows[i])
	}
	require.NoError(t, w.Write(ctx, &b))
	_, err = w.Commit(ctx)
	require.NoError(t, err)
}

func allocRow(namespace, controller string, cost float64, idle bool) rollup.AllocationRow {
	name := namespace + "/" + controller
	if idle {
		name = "cluster-one/__idle__"
	}
	return rollup.AllocationRow{
		WindowStart: day0, WindowEnd: day1, Name: name, Cluster: "cluster-one",
		Namespace: namespace, ControllerKind: "deployment", Controller: controller,
		IsIdle: idle, Minutes: 1440, TotalCost: cost, Source: "alloc.json",
	}
}

func writeAllocations(t *testing.T, db *chtest.DB, rows ...rollup.AllocationRow) {
	t.Helper()
	ctx := testContext(t)
	w, err := rollup.NewAllocationWriter(ctx, db.Conn, db.Name)
	require.NoError(t, err)
	var b rollup.AllocationBlock
	for i := range rows {
		b.Append(&rows[i])
	}
	require.NoError(t, w.Write(ctx, &b))
	_, err = w.Commit(ctx)
	require.NoError(t, err)
}

type edge struct {
	hour           int
	client, server string
	calls          uint64
}

func writeEdges(t *testing.T, db *chtest.DB, edges ...edge) {
	t.Helper()
	ctx := testContext(t)
	batch, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+db.Table(rollup.TableEdges1h)+
		" (Timestamp, Client, Server, ConnectionType, Failed, Calls, DurationSumNano, ZeroCount, BucketIndexes, BucketCounts)")
	require.NoError(t, err)
	for _, e := range edges {
		ct := ""
		if e.server == "postgresql" || e.server == "redis" {
			ct = "database"
		}
		require.NoError(t, batch.Append(day0.Add(time.Duration(e.hour)*time.Hour), e.client, e.server, ct,
			uint8(0), e.calls, float64(e.calls)*1e6, uint64(0), []int32{}, []uint64{}))
	}
	require.NoError(t, batch.Send())
}

func writeRED(t *testing.T, db *chtest.DB, hour int, service string, kind uint8, requests uint64) {
	t.Helper()
	ctx := testContext(t)
	batch, err := db.Conn.PrepareBatch(ctx, "INSERT INTO "+db.Table(rollup.TableRED1h)+
		" (Timestamp, ServiceName, SpanName, SpanKind, StatusCode, DimKeys, DimValues, Requests, DurationSumNano, ZeroCount, BucketIndexes, BucketCounts)")
	require.NoError(t, err)
	require.NoError(t, batch.Append(day0.Add(time.Duration(hour)*time.Hour), service, "GET /", kind, uint8(0),
		[]string{}, []string{}, requests, float64(requests)*1e6, uint64(0), []int32{}, []uint64{}))
	require.NoError(t, batch.Send())
}

func amt(f float64) Amount {
	a, ok := ToAmount(f)
	if !ok {
		panic(f)
	}
	return a
}

func byService(r Result) map[string]ServiceCost {
	m := map[string]ServiceCost{}
	for _, s := range r.Services {
		m[s.Service] = s
	}
	return m
}

// assertBalanced checks sum(total) + unmapped + idle == total, exactly, and each service's
// total is its parts.
func assertBalanced(t *testing.T, r Result) {
	t.Helper()
	var sum Amount
	for _, s := range r.Services {
		assert.Equal(t, s.Direct+s.Shared+s.Kubernetes, s.Total, s.Service)
		sum += s.Total
	}
	assert.Equal(t, r.Total, sum+r.Unmapped+r.Idle, "services %s + unmapped %s + idle %s != total %s", sum, r.Unmapped, r.Idle, r.Total)
	assert.Equal(t, r.Total, r.Spend+r.Kubernetes)
}

const testRules = `
cost: EffectiveCost
rules:
  - name: tags
    tag: {}
  - kubernetes: {by: controller, match: '^(?P<service>.+)-api$'}
  - kubernetes: {by: namespace, match: '^(search|catalog)$'}
  - resource: {match: ':function:([a-z-]+)$'}
  - resource: {field: any, match: '^assets-bucket$', service: catalog}
shared:
  - name: orders-db
    node: postgresql
    resource: ':cluster:orders'
`

func TestAllocate(t *testing.T) {
	db := migrated(t)
	cfg, err := Load([]byte(testRules))
	require.NoError(t, err)

	writeSpend(t, db,
		spendRow(1, "i-cart-1", 10, "service", "cart", "env", "prod"),
		spendRow(2, "i-cart-1", 10, "service", "cart", "env", "prod"),
		spendRow(3, "i-checkout", 7.25, "env", "prod", "app", "checkout"),
		spendRow(3, "i-both", 1, "application", "wrong", "app", "gateway"), // app comes before application
		spendRow(4, "arn:aws:lambda:us-east-1:1:function:payments", 3.5),
		spendRow(5, "assets-bucket", 2),
		spendRow(6, "i-nobody", 40, "env", "prod"),
		spendRow(7, "vol-orphan", 0.125),
		spendRow(8, "arn:aws:rds:us-east-1:1:cluster:orders", 60, "service", "cart"), // shared wins over the tag
		spendRow(9, "arn:aws:rds:us-east-1:1:cluster:orders-replica", 40),
		// Outside the window: ignored.
		spendRow(-1, "i-cart-1", 1000, "service", "cart"),
		spendRow(24, "i-cart-1", 1000, "service", "cart"),
	)
	writeAllocations(t, db,
		allocRow("shop", "recommendations-api", 12, false),
		allocRow("search", "indexer", 8, false),
		allocRow("kube-system", "coredns", 5, false),
		allocRow("", "", 30, true),
	)
	writeEdges(t, db,
		edge{1, "cart", "postgresql", 200},
		edge{2, "cart", "postgresql", 100},
		edge{2, "checkout", "postgresql", 100},
		edge{2, "checkout", "payments", 999},  // another server: not counted
		edge{30, "search", "postgresql", 1e6}, // outside the window
	)

	res, err := Allocate(testContext(t), db.Conn, db.Name, cfg, day0, day1)
	require.NoError(t, err)
	assertBalanced(t, res)
	t.Logf("%+v", res)

	svc := byService(res)
	assert.Equal(t, ServiceCost{Service: "cart", Direct: amt(20), Shared: amt(75), Total: amt(95)}, svc["cart"])
	assert.Equal(t, ServiceCost{Service: "checkout", Direct: amt(7.25), Shared: amt(25), Total: amt(32.25)}, svc["checkout"])
	assert.Equal(t, amt(1), svc["gateway"].Direct)
	assert.NotContains(t, svc, "wrong")
	assert.Equal(t, amt(3.5), svc["payments"].Direct, "resource regex capture")
	assert.Equal(t, amt(2), svc["catalog"].Direct, "resource regex, fixed service")
	assert.Equal(t, ServiceCost{Service: "recommendations", Kubernetes: amt(12), Total: amt(12)}, svc["recommendations"])
	assert.Equal(t, ServiceCost{Service: "search", Kubernetes: amt(8), Total: amt(8)}, svc["search"])
	assert.Len(t, res.Services, 7)

	assert.Equal(t, amt(40+0.125+5), res.Unmapped)
	assert.Equal(t, amt(30), res.Idle)
	assert.Equal(t, amt(20+7.25+1+3.5+2+40+0.125+100), res.Spend)
	assert.Equal(t, amt(12+8+5+30), res.Kubernetes)
	assert.Equal(t, []string{"USD"}, res.Currencies)

	require.Equal(t, 3, res.UnmappedItems)
	require.Len(t, res.UnmappedTop, 3)
	assert.Equal(t, "i-nobody", res.UnmappedTop[0].ResourceID)
	assert.Equal(t, amt(40), res.UnmappedTop[0].Cost)
	assert.Equal(t, "kubernetes", res.UnmappedTop[1].Source)
	assert.Equal(t, "kube-system", res.UnmappedTop[1].Namespace)
	assert.Equal(t, "vol-orphan", res.UnmappedTop[2].ResourceID)

	require.Len(t, res.Shared, 1)
	sh := res.Shared[0]
	assert.Equal(t, "orders-db", sh.Name)
	assert.Equal(t, amt(100), sh.Cost)
	assert.Equal(t, 2, sh.Resources)
	assert.Empty(t, sh.Unallocated)
	assert.Equal(t, []Share{{Service: "cart", Weight: 300, Cost: amt(75)}, {Service: "checkout", Weight: 100, Cost: amt(25)}}, sh.Shares)

	// AllocateTotals is the same result without the workloads.
	require.NotEmpty(t, res.Workloads)
	totals, err := AllocateTotals(testContext(t), db.Conn, db.Name, cfg, day0, day1)
	require.NoError(t, err)
	assert.Nil(t, totals.Workloads)
	res.Workloads = nil
	assert.Equal(t, res, totals)
}

func TestAllocate_SharedSplitKeys(t *testing.T) {
	db := migrated(t)
	cfg, err := Load([]byte(`
top_unmapped: 1
shared:
  - {name: by-calls, node: postgresql, resource: '^db-calls$'}
  - {name: by-requests, node: postgresql, resource: '^db-requests$', split_by: requests}
  - {name: evenly, node: postgresql, tag: {key: shared, value: '^even$'}, split_by: even}
  - {name: listed, split_by: even, services: [a, b, c], resource: '^listed$'}
  - {name: cache, node: redis, resource: '^cache$'}
`))
	require.NoError(t, err)
	writeSpend(t, db,
		spendRow(0, "db-calls", 1),                             // 1e9 units over 1:2 calls
		spendRow(0, "db-requests", 10),                         // by requests 3:1
		spendRow(0, "whatever", 0.000000001, "shared", "even"), // one unit, evenly over two
		spendRow(0, "listed", 0.00000001),                      // ten units over three
		spendRow(0, "cache", 4, "service", "cart"),
	)
	writeEdges(t, db, edge{0, "cart", "postgresql", 1}, edge{5, "checkout", "postgresql", 2})
	writeRED(t, db, 3, "cart", 2, 300)
	writeRED(t, db, 3, "checkout", 2, 100)
	writeRED(t, db, 3, "checkout", 3, 5000) // client spans are not requests

	res, err := Allocate(testContext(t), db.Conn, db.Name, cfg, day0, day1)
	require.NoError(t, err)
	assertBalanced(t, res)
	split := map[string]SharedSplit{}
	for _, s := range res.Shared {
		split[s.Name] = s
	}
	// 1e9 / 3 = 333333333.33: the larger remainder (checkout's 0.67) gets the extra unit.
	assert.Equal(t, []Share{{"cart", 1, 333333333}, {"checkout", 2, 666666667}}, split["by-calls"].Shares)
	assert.Equal(t, []Share{{"cart", 300, amt(7.5)}, {"checkout", 100, amt(2.5)}}, split["by-requests"].Shares)
	assert.Equal(t, []Share{{"cart", 1, 1}, {"checkout", 1, 0}}, split["evenly"].Shares)
	assert.Equal(t, []Share{{"a", 1, 4}, {"b", 1, 3}, {"c", 1, 3}}, split["listed"].Shares)
	assert.Nil(t, split["cache"].Shares)
	assert.Contains(t, split["cache"].Unallocated, `no calls to "redis"`)
	assert.Equal(t, amt(4), res.Unmapped, "a shared pool without callers is unmapped, not dropped")
	require.Len(t, res.UnmappedTop, 1)
	assert.Equal(t, "cache", res.UnmappedTop[0].ResourceID)
	assert.Contains(t, res.UnmappedTop[0].Reason, "shared cache")
}

func TestAllocate_EmptyWindow(t *testing.T) {
	db := migrated(t)
	res, err := Allocate(testContext(t), db.Conn, db.Name, Config{}, day0, day1)
	require.NoError(t, err)
	assert.Zero(t, res.Total)
	assert.Empty(t, res.Services)
	_, err = Allocate(testContext(t), db.Conn, db.Name, Config{}, day1, day0)
	require.Error(t, err)
}

// TestAllocate_FOCUSFixture imports the FOCUS 1.0 sample bill and maps it by its
// "application" tag.
func TestAllocate_FOCUSFixture(t *testing.T) {
	const fixture = "../focus/testdata/focus-1.0-sample.csv"
	db := migrated(t)
	ctx := testContext(t)
	rep, err := analyzer.Import(ctx, db.Conn, db.Name, []string{fixture}, analyzer.ImportOptions{})
	require.NoError(t, err)
	require.True(t, rep.Committed)

	from := time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)
	for _, cost := range []string{rollup.CostEffective, rollup.CostBilled} {
		cfg := Config{Cost: cost, Rules: []Rule{{Tag: &TagRule{Keys: []string{"application"}}}}}
		res, err := Allocate(ctx, db.Conn, db.Name, cfg, from, to)
		require.NoError(t, err)
		assertBalanced(t, res)
		var mapped Amount
		for _, s := range res.Services {
			mapped += s.Total
		}
		// The same sum straight from ClickHouse, to within rounding to nano-units.
		var want float64
		row := db.Conn.QueryRow(ctx, "SELECT sum("+cost+") FROM "+db.Table(rollup.TableSpend))
		require.NoError(t, row.Scan(&want))
		assert.InDelta(t, want, res.Total.Float64(), 1e-6)
		assert.Positive(t, mapped)
		assert.NotZero(t, res.Unmapped, "the sample has untagged spend")
		t.Logf("%s: total %s %v, mapped %s (%.1f%%) to %d applications, unmapped %s (%.1f%%) in %d resources",
			cost, res.Total, res.Currencies, mapped, 100*mapped.Float64()/res.Total.Float64(), len(res.Services),
			res.Unmapped, 100*res.Unmapped.Float64()/res.Total.Float64(), res.UnmappedItems)
		for i, s := range res.Services {
			if i == 3 {
				break
			}
			t.Logf("  top application %s: %s", s.Service, s.Total)
		}
		for i, u := range res.UnmappedTop {
			if i == 3 {
				break
			}
			t.Logf("  top unmapped %s (%s): %s", u.ResourceID, u.CloudService, u.Cost)
		}
	}
}

func TestValidate_ReportsEveryMistake(t *testing.T) {
	cfg := Config{
		Cost: "Price",
		Rules: []Rule{
			{},
			{Tag: &TagRule{}, Resource: &ResourceRule{Match: "x"}},
			{Tag: &TagRule{Keys: []string{"app", " "}}},
			{Name: "k8s", Kubernetes: &KubernetesRule{By: "pod", Match: "(", Service: "$2"}},
			{Resource: &ResourceRule{Field: "arn"}},
			{Resource: &ResourceRule{Match: "no-group"}},
			{Resource: &ResourceRule{Match: "(?P<svc>x)", Service: "${service}"}},
			{Kubernetes: &KubernetesRule{Service: "$1"}},
		},
		Shared: []SharedResource{
			{},
			{Name: "db", Node: "postgresql", Resource: "[", SplitBy: "bytes"},
			{Name: "db", Tag: &TagMatch{Value: "("}},
			{Name: "listed", SplitBy: "even", Services: []string{"a", ""}, Resource: "x"},
		},
	}
	err := cfg.Validate()
	require.Error(t, err)
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{
		`cost: "Price" is not one of`,
		`rules[0]: needs exactly one of tag, kubernetes, resource (has 0)`,
		`rules[1]: needs exactly one of tag, kubernetes, resource (has 2)`,
		`rules[2].tag.keys[1]: empty key`,
		`rules[3] (k8s).kubernetes.by: "pod" is not namespace or controller`,
		`rules[3] (k8s).kubernetes.match: bad regex "("`,
		`rules[4].resource.field: "arn" is not`,
		`rules[4].resource.match: required`,
		`rules[5].resource: match "no-group" has no capture group and no service is set`,
		`rules[6].resource.service: "${service}" refers to group "service"`,
		`rules[7].kubernetes.service: "$1" refers to a capture group but there is no match regex`,
		`shared[0].name: required`,
		`shared[0].node: required`,
		`shared[0]: needs resource or tag`,
		`shared[1] (db).split_by: "bytes" is not calls, requests or even`,
		`shared[1] (db).resource: bad regex "["`,
		`shared[2] (db).name: "db" is used twice`,
		`shared[2] (db).node: required`,
		`shared[2] (db).tag.key: required`,
		`shared[2] (db).tag.value: bad regex "("`,
		`shared[3] (listed).services[1]: empty service`,
	} {
		assert.Contains(t, msg, want)
	}
	assert.Equal(t, 22, strings.Count(msg, "\n"), "one line per mistake after the header")
	assert.NotContains(t, msg, "shared[3] (listed).node", "node is optional for an even split over listed services")
}

func TestLoad(t *testing.T) {
	cfg, err := Load([]byte(testRules))
	require.NoError(t, err)
	require.Len(t, cfg.Rules, 5)
	assert.Equal(t, "tags", cfg.Rules[0].Name)
	assert.Empty(t, cfg.Rules[0].Tag.Keys)
	assert.Equal(t, ByController, cfg.Rules[1].Kubernetes.By)
	assert.Equal(t, FieldAny, cfg.Rules[4].Resource.Field)
	assert.Equal(t, "catalog", cfg.Rules[4].Resource.Service)
	require.Len(t, cfg.Shared, 1)
	assert.Equal(t, "postgresql", cfg.Shared[0].Node)

	_, err = Load([]byte("rules:\n  - tags: {}\n"))
	require.ErrorContains(t, err, "field tags not found")
	_, err = Load([]byte("rules:\n  - resource: {match: '('}\n"))
	require.ErrorContains(t, err, `rules[0].resource.match: bad regex`)
	cfg, err = Load(nil)
	require.NoError(t, err, "an empty file is a valid config: everything is unmapped")
	assert.Empty(t, cfg.Rules)
}

func TestServiceFrom(t *testing.T) {
	cc, err := Config{Rules: []Rule{
		{Resource: &ResourceRule{Match: `function:(?P<fn>[a-z]+)-(?P<service>[a-z]+)$`}},
		{Resource: &ResourceRule{Match: `^svc-([a-z]+)`, Service: "team-$1"}},
		{Kubernetes: &KubernetesRule{}},
		{Kubernetes: &KubernetesRule{Match: `^prod-`}},
		{Resource: &ResourceRule{Match: `^(x)?y$`}},
	}}.compile()
	require.NoError(t, err)
	r := cc.rules
	assert.Equal(t, "orders", r[0].serviceFrom("arn:function:handle-orders", false), "named group service wins over group 1")
	assert.Equal(t, "team-cart", r[1].serviceFrom("svc-cart-01", false))
	assert.Equal(t, "", r[1].serviceFrom("cart", false))
	assert.Equal(t, "shop", r[2].serviceFrom("shop", true))
	assert.Equal(t, "prod-", r[3].serviceFrom("prod-cart", true), "no group: the whole match")
	assert.Equal(t, "", r[4].serviceFrom("y", false), "an empty capture is no match")
}

func TestSplitAmount(t *testing.T) {
	assert.Equal(t, []Amount{34, 33, 33}, splitAmount(100, []Share{{"a", 1, 0}, {"b", 1, 0}, {"c", 1, 0}}))
	assert.Equal(t, []Amount{-34, -33, -33}, splitAmount(-100, []Share{{"a", 1, 0}, {"b", 1, 0}, {"c", 1, 0}}))
	assert.Equal(t, []Amount{0, 7}, splitAmount(7, []Share{{"a", 0, 0}, {"b", 5, 0}}))
	big := Amount(9e18)
	parts := splitAmount(big, []Share{{"a", 1 << 62, 0}, {"b", 3, 0}, {"c", 1<<63 + 7, 0}})
	assert.Equal(t, big, parts[0]+parts[1]+parts[2], "no overflow")
	_, ok := ToAmount(1e10)
	assert.False(t, ok)
}
