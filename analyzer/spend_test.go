package analyzer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
	"github.com/weirhq/weir/rollup"
)

// focusFixture is the real FOCUS 1.0 sample (1,000 rows of AWS, Azure and OCI).
const focusFixture = "focus/testdata/focus-1.0-sample.csv"

// openCostFixture is an /allocation/compute response by namespace over two days, step 1d,
// with idle cost, written from OpenCost's AllocationJSON.
const openCostFixture = "opencost/testdata/allocation_namespace.json"

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func importFiles(t *testing.T, db *chtest.DB, paths ...string) (Report, error) {
	t.Helper()
	return Import(testContext(t), db.Conn, db.Name, paths, ImportOptions{})
}

func spendCount(t *testing.T, db *chtest.DB, where string) uint64 {
	t.Helper()
	q := "SELECT count() FROM " + db.Table(rollup.TableSpend)
	if where != "" {
		q += " WHERE " + where
	}
	return db.QueryUint64(t, q)
}

func float(t *testing.T, db *chtest.DB, q string) float64 {
	t.Helper()
	var f float64
	require.NoError(t, db.Conn.QueryRow(testContext(t), q).Scan(&f), q)
	return f
}

// csvColumn reads one column of a CSV file with encoding/csv, independently of the focus
// package.
func csvColumn(t *testing.T, path, column string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	idx := -1
	for i, h := range recs[0] {
		if h == column {
			idx = i
		}
	}
	require.GreaterOrEqual(t, idx, 0, column)
	out := make([]string, 0, len(recs)-1)
	for _, r := range recs[1:] {
		out = append(out, r[idx])
	}
	return out
}

// exactSum adds decimal strings exactly.
func exactSum(t *testing.T, values []string) float64 {
	t.Helper()
	sum := new(big.Rat)
	for _, v := range values {
		r, ok := new(big.Rat).SetString(v)
		require.True(t, ok, v)
		sum.Add(sum, r)
	}
	f, _ := sum.Float64()
	return f
}

func assertNoStagingTables(t *testing.T, db *chtest.DB) {
	t.Helper()
	assert.Equal(t, uint64(0), db.QueryUint64(t,
		"SELECT count() FROM system.tables WHERE database = ? AND name LIKE '%\\_import\\_%'", db.Name))
}

func TestImport_FOCUSFixture(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	rep, err := importFiles(t, db, focusFixture)
	require.NoError(t, err)
	require.True(t, rep.Committed)
	require.Len(t, rep.Files, 1)
	f := rep.Files[0]
	assert.Equal(t, FormatFOCUS, f.Format)
	assert.Equal(t, "1.0", f.FOCUSVersion)
	assert.Equal(t, uint64(1000), f.Rows)
	assert.Zero(t, f.BadRows)
	st, err := os.Stat(focusFixture)
	require.NoError(t, err)
	assert.Equal(t, st.Size(), f.Bytes)

	sep := time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)
	oct := sep.AddDate(0, 1, 0)
	azure := "/providers/Microsoft.Billing/billingAccounts/8611537"
	wantPeriods := []Period{
		{Start: sep, End: oct, BillingAccountID: azure, Rows: 51},
		{Start: sep, End: oct, BillingAccountID: "1234567890123", Rows: 942},
		{Start: sep, End: oct, BillingAccountID: "20209880", Rows: 6},
		{Start: oct, End: oct.AddDate(0, 1, 0), BillingAccountID: "20209880", Rows: 1},
	}
	assert.Equal(t, wantPeriods, f.Periods)
	require.NotNil(t, rep.Spend)
	require.Len(t, rep.Spend.Periods, 4)
	for i, p := range rep.Spend.Periods {
		assert.Equal(t, wantPeriods[i].Rows, p.Rows)
		assert.Zero(t, p.PreviousRows)
	}
	assert.Nil(t, rep.Allocations)

	// Totals: the CSV's own sum, computed here without the focus package.
	assert.Equal(t, uint64(1000), spendCount(t, db, ""))
	want := exactSum(t, csvColumn(t, focusFixture, "BilledCost"))
	assert.InDelta(t, want, float(t, db, "SELECT sum(BilledCost) FROM "+db.Table(rollup.TableSpend)), 1e-9)
	assert.InDelta(t, want, f.Cost, 1e-9)
	assert.InDelta(t, exactSum(t, csvColumn(t, focusFixture, "EffectiveCost")),
		float(t, db, "SELECT sum(EffectiveCost) FROM "+db.Table(rollup.TableSpend)), 1e-9)

	// Tags are parsed, NULLs are empty, the non-standard Id column is an extra.
	tagged := 0
	for _, v := range csvColumn(t, focusFixture, "Tags") {
		if v != "NULL" {
			tagged++
		}
	}
	assert.Equal(t, uint64(tagged), spendCount(t, db, "notEmpty(TagKeys)"))
	assert.Equal(t, "['application','environment','business_unit'] ['BrightLensMatrix','dev','ViennaAI']",
		db.QueryString(t, "SELECT concat(toString(TagKeys), ' ', toString(TagValues)) FROM "+db.Table(rollup.TableSpend)+" WHERE LineNumber = 3"))
	assert.Equal(t, uint64(1000), spendCount(t, db, "ChargeClass = ''"), "ChargeClass is NULL throughout")
	nullNames := 0
	for _, v := range csvColumn(t, focusFixture, "ResourceName") {
		if v == "NULL" || v == "" {
			nullNames++
		}
	}
	assert.Equal(t, uint64(nullNames), spendCount(t, db, "ResourceName = ''"))
	assert.Zero(t, spendCount(t, db, "has(ExtraValues, 'NULL') OR has(TagValues, 'NULL') OR ResourceId = 'NULL'"))
	assert.Equal(t, uint64(1000), spendCount(t, db, "has(ExtraKeys, 'Id')"))
	assert.Equal(t, "11472", db.QueryString(t, "SELECT ExtraValues[indexOf(ExtraKeys, 'Id')] FROM "+db.Table(rollup.TableSpend)+" WHERE LineNumber = 2"))
	assert.Equal(t, "AWS Amazon Simple Queue Service 2024-09-18 2024-09-18 22:00:00", db.QueryString(t,
		"SELECT concat(Provider, ' ', ServiceName, ' ', toString(Date), ' ', toString(ChargePeriodStart)) FROM "+
			db.Table(rollup.TableSpend)+" WHERE LineNumber = 2"))
	assert.Equal(t, uint64(1000), spendCount(t, db, "Source = '"+focusFixture+"' AND LineNumber BETWEEN 2 AND 1001 AND ImportId = '"+rep.Spend.ImportID+"'"))
	assertNoStagingTables(t, db)

	// Importing it again replaces it: the counts stay.
	again, err := importFiles(t, db, focusFixture)
	require.NoError(t, err)
	for i, p := range again.Spend.Periods {
		assert.Equal(t, wantPeriods[i].Rows, p.PreviousRows)
		assert.Equal(t, wantPeriods[i].Rows, p.Rows)
	}
	assert.Equal(t, uint64(1000), spendCount(t, db, ""))
	assert.Equal(t, uint64(1000), spendCount(t, db, "ImportId = '"+again.Spend.ImportID+"'"))
	assert.InDelta(t, want, float(t, db, "SELECT sum(BilledCost) FROM "+db.Table(rollup.TableSpend)), 1e-9)

	// A gzip copy imports the same rows.
	data, err := os.ReadFile(focusFixture)
	require.NoError(t, err)
	gzPath := filepath.Join(t.TempDir(), "focus.csv.gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err = zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(gzPath, buf.Bytes(), 0o644))
	gz, err := importFiles(t, db, gzPath)
	require.NoError(t, err)
	assert.Equal(t, uint64(1000), gz.Files[0].Rows)
	assert.Equal(t, int64(buf.Len()), gz.Files[0].Bytes, "progress counts compressed bytes")
	assert.Equal(t, uint64(1000), spendCount(t, db, ""))
	assert.Equal(t, uint64(1000), spendCount(t, db, "Source = '"+gzPath+"'"))
	assert.InDelta(t, want, float(t, db, "SELECT sum(BilledCost) FROM "+db.Table(rollup.TableSpend)), 1e-9)
	assert.Equal(t, uint64(tagged), spendCount(t, db, "notEmpty(TagKeys)"))
	assertNoStagingTables(t, db)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestImport_FOCUS13RenamedAndCustomColumns(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	// 1.3: ServiceProviderName replaces ProviderName (both present), HostProviderName is
	// new; 1.2's BillingAccountType and InvoiceId; x_ columns; zoned times.
	path := writeFile(t, "focus-1.3.csv",
		"BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,BilledCost,EffectiveCost,ListCost,"+
			"BillingAccountId,BillingAccountType,InvoiceId,ServiceProviderName,ProviderName,HostProviderName,"+
			"ServiceCategory,ServiceSubcategory,ServiceName,ResourceId,Tags,x_ServiceCode,x_UsageType\n"+
			"2025-03-01T00:00:00Z,2025-04-01T00:00:00Z,2025-03-02T00:00:00Z,2025-03-03T00:00:00Z,10,9,12,"+
			"acct-1,Billing Account,INV-1,Snowflake,AWS Marketplace,AWS,Databases,Data Warehouses,Snowflake,wh-1,"+
			`"{""app"": ""reports""}",snowflake,Credits`+"\n"+
			"2025-03-01T00:00:00Z,2025-04-01T00:00:00Z,2025-03-02T23:00:00-02:00,2025-03-03T01:00:00Z,5,5,5,"+
			"acct-1,Billing Account,INV-1,AWS,AWS,AWS,Compute,Virtual Machines,Amazon EC2,i-1,NULL,AmazonEC2,NULL\n")
	rep, err := importFiles(t, db, path)
	require.NoError(t, err)
	assert.Equal(t, "1.3", rep.Files[0].FOCUSVersion)
	assert.Equal(t, uint64(2), rep.Files[0].Rows)
	assert.Equal(t,
		"Snowflake|AWS|acct-1|Billing Account|INV-1|Data Warehouses|2025-03-02|['app']|['ProviderName','x_ServiceCode','x_UsageType']|['AWS Marketplace','snowflake','Credits']\n"+
			"AWS|AWS|acct-1|Billing Account|INV-1|Virtual Machines|2025-03-03|[]|['ProviderName','x_ServiceCode']|['AWS','AmazonEC2']",
		db.QueryString(t, "SELECT arrayStringConcat(groupArray(concat(Provider, '|', HostProvider, '|', BillingAccountId, '|', BillingAccountType, '|', "+
			"InvoiceId, '|', ServiceSubcategory, '|', toString(Date), '|', toString(TagKeys), '|', toString(ExtraKeys), '|', toString(ExtraValues))), '\\n') "+
			"FROM (SELECT * FROM "+db.Table(rollup.TableSpend)+" ORDER BY LineNumber)"))
}

func TestImport_BadRowsAreReportedGoodRowsKept(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	head := "BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,BilledCost,BillingAccountId,ServiceName\n"
	good := func(cost string) string {
		return "2024-09-01 00:00:00,2024-10-01 00:00:00,2024-09-05 00:00:00,2024-09-05 01:00:00," + cost + ",acct,svc\n"
	}
	var b strings.Builder
	b.WriteString(head)                                                                                           // line 1
	b.WriteString(good("1"))                                                                                      // 2
	b.WriteString("2024-09-01 00:00:00,2024-10-01 00:00:00,2024-09-05 00:00:00,2024-09-05 01:00:00,1,acct\n")     // 3: a column short
	b.WriteString(good("1.2.3"))                                                                                  // 4: bad number
	b.WriteString("2024-09-01 00:00:00,2024-10-01 00:00:00,2024-09-31 00:00:00,2024-09-05 01:00:00,1,acct,svc\n") // 5: bad time
	b.WriteString("2024-09-01 00:00:00,2024-10-01 00:00:00,NULL,2024-09-05 01:00:00,1,acct,svc\n")                // 6: no charge period
	b.WriteString(good("2"))                                                                                      // 7
	for range 150 {
		b.WriteString(good("x")) // 8..157: more bad rows than the report keeps
	}
	b.WriteString(good("4")) // 158
	path := writeFile(t, "bad.csv", b.String())

	rep, err := importFiles(t, db, path)
	require.NoError(t, err, "bad rows alone do not fail an import")
	require.True(t, rep.Committed)
	f := rep.Files[0]
	assert.Equal(t, uint64(3), f.Rows)
	assert.Equal(t, uint64(154), f.BadRows)
	require.Len(t, f.Bad, DefaultMaxBadRows)
	var first []string
	for _, b := range f.Bad[:5] {
		first = append(first, b.String())
	}
	assert.Equal(t, []string{
		"line 3: has 6 columns, the header has 7",
		`line 4: BilledCost "1.2.3" is not a number`,
		`line 5: ChargePeriodStart "2024-09-31 00:00:00" is not a date-time between 1970 and 2105`,
		"line 6: ChargePeriodStart is empty",
		`line 8: BilledCost "x" is not a number`,
	}, first)
	assert.Equal(t, int64(103), f.Bad[DefaultMaxBadRows-1].Line)
	assert.Equal(t, uint64(3), spendCount(t, db, ""))
	assert.Equal(t, "[2,7,158]", db.QueryString(t, "SELECT toString(groupArray(LineNumber)) FROM (SELECT LineNumber FROM "+
		db.Table(rollup.TableSpend)+" ORDER BY LineNumber)"))
	assert.InDelta(t, 7.0, float(t, db, "SELECT sum(BilledCost) FROM "+db.Table(rollup.TableSpend)), 1e-12)
}

func TestImport_UnreadableFileReplacesNothing(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	first, err := importFiles(t, db, focusFixture)
	require.NoError(t, err)
	sum := float(t, db, "SELECT sum(BilledCost) FROM "+db.Table(rollup.TableSpend))

	// A replacement for the AWS September bill, alongside a file that cannot be read: nothing
	// of the import is stored.
	replacement := writeFile(t, "aws.csv", "BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,BilledCost,BillingAccountId\n"+
		"2024-09-01 00:00:00,2024-10-01 00:00:00,2024-09-01 00:00:00,2024-09-02 00:00:00,100,1234567890123\n")
	data, err := os.ReadFile(focusFixture)
	require.NoError(t, err)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(data)
	require.NoError(t, zw.Close())
	truncated := writeFile(t, "truncated.csv.gz", buf.String()[:buf.Len()/2])
	notFOCUS := writeFile(t, "other.csv", "a,b\n1,2\n")
	allBad := writeFile(t, "allbad.csv", "BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,BilledCost,BillingAccountId\n"+
		"2024-09-01,2024-10-01,2024-09-01,2024-09-02,oops,1234567890123\n")
	brokenJSON := writeFile(t, "opencost.json", `{"code": 200, "data": [{"a": {"name": "a",`)

	for _, tc := range []struct {
		name, bad, want string
	}{
		{"missing", filepath.Join(t.TempDir(), "nope.csv"), "no such file or directory"},
		{"truncated gzip", truncated, "unexpected EOF"},
		{"not FOCUS", notFOCUS, "not a FOCUS cost and usage export: the header lacks"},
		{"every row bad", allBad, `none of its 1 rows could be read (first: line 2: BilledCost "oops" is not a number)`},
		{"broken JSON", brokenJSON, "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := importFiles(t, db, replacement, tc.bad, focusFixture)
			require.Error(t, err)
			assert.ErrorContains(t, err, "nothing replaced")
			assert.ErrorContains(t, err, tc.want)
			assert.False(t, rep.Committed)
			assert.Nil(t, rep.Spend)
			require.Len(t, rep.Files, 3)
			if tc.name == "missing" { // found before anything is read
				assert.ErrorIs(t, rep.Files[0].Err, ErrNotRead)
			} else {
				assert.NoError(t, rep.Files[0].Err)
			}
			assert.ErrorContains(t, rep.Files[1].Err, tc.want)
			assert.ErrorIs(t, rep.Files[2].Err, ErrNotRead)
			assert.Equal(t, uint64(1000), spendCount(t, db, ""))
			assert.Equal(t, uint64(1000), spendCount(t, db, "ImportId = '"+first.Spend.ImportID+"'"), "the first import's rows, untouched")
			assert.InDelta(t, sum, float(t, db, "SELECT sum(BilledCost) FROM "+db.Table(rollup.TableSpend)), 1e-9)
			assertNoStagingTables(t, db)
		})
	}
}

func TestImport_OpenCost(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	// One import of both kinds of file.
	rep, err := importFiles(t, db, openCostFixture, focusFixture)
	require.NoError(t, err)
	require.Len(t, rep.Files, 2)
	oc := rep.Files[0]
	assert.Equal(t, FormatOpenCost, oc.Format)
	assert.Equal(t, uint64(6), oc.Rows)
	assert.InDelta(t, 12.4, oc.Cost, 1e-9)
	d1 := time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)
	assert.Equal(t, []Window{
		{Start: d1, End: d1.AddDate(0, 0, 1), Cluster: "cluster-one", Rows: 3},
		{Start: d1.AddDate(0, 0, 1), End: d1.AddDate(0, 0, 2), Cluster: "cluster-one", Rows: 3},
	}, oc.Windows)
	require.NotNil(t, rep.Allocations)
	assert.Len(t, rep.Allocations.Windows, 2)
	require.NotNil(t, rep.Spend)
	assert.Equal(t, uint64(1000), spendCount(t, db, ""))

	alloc := db.Table(rollup.TableAllocation)
	assert.Equal(t, uint64(6), db.QueryUint64(t, "SELECT count() FROM "+alloc))
	assert.Equal(t, uint64(2), db.QueryUint64(t, "SELECT count() FROM "+alloc+" WHERE IsIdle = 1 AND Name = '__idle__' AND Namespace = ''"))
	assert.InDelta(t, 12.4, float(t, db, "SELECT sum(TotalCost) FROM "+alloc), 1e-9)
	assert.InDelta(t, 5.9, float(t, db, "SELECT sum(TotalCost) FROM "+alloc+" WHERE IsIdle = 1"), 1e-9)
	assert.Equal(t, "shop 2024-09-01 cluster-one node-a 0.35 0.7 ['app','team'] ['shop','web']", db.QueryString(t,
		"SELECT concat(Namespace, ' ', toString(Date), ' ', Cluster, ' ', Node, ' ', toString(CpuEfficiency), ' ', toString(RamEfficiency), ' ', "+
			"toString(LabelKeys), ' ', toString(LabelValues)) FROM "+alloc+" WHERE Name = 'shop' AND WindowStart = toDateTime('2024-09-01 00:00:00', 'UTC')"))

	// Again: replaced, not doubled.
	again, err := importFiles(t, db, openCostFixture)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), again.Allocations.Windows[0].PreviousRows)
	assert.Equal(t, uint64(6), db.QueryUint64(t, "SELECT count() FROM "+alloc))
	assert.Equal(t, uint64(1000), spendCount(t, db, ""), "an OpenCost import leaves spend alone")
}

// focusGenerator writes a synthetic FOCUS 1.2 export of n rows over one billing period, and
// adds up what it wrote.
type focusGenerator struct {
	rows  int
	total *big.Rat
}

func (g *focusGenerator) writeTo(w io.Writer) error {
	bw := bufioWriter(w)
	_, err := bw.WriteString("BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,BilledCost,EffectiveCost,ListCost," +
		"BillingAccountId,BillingAccountType,SubAccountId,ProviderName,PublisherName,ServiceCategory,ServiceName,ResourceId,ResourceName," +
		"RegionId,ChargeCategory,ChargeDescription,PricingCategory,BillingCurrency,ConsumedQuantity,ConsumedUnit,SkuId,Tags,x_Operation\n")
	if err != nil {
		return err
	}
	start := time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)
	services := []string{"Amazon EC2", "Amazon RDS", "Amazon S3", "AWS Lambda", "Amazon DynamoDB"}
	var line []byte
	for i := range g.rows {
		cents := int64(i%997 + 1)
		cost := strconv.FormatInt(cents/100, 10) + "." + fmt.Sprintf("%02d", cents%100)
		g.total.Add(g.total, big.NewRat(cents, 100))
		charge := start.Add(time.Duration(i%720) * time.Hour)
		svc := services[i%len(services)]
		line = line[:0]
		line = fmt.Appendf(line, "2024-09-01 00:00:00,2024-10-01 00:00:00,%s,%s,%s,%s,%s,123456789012,Payer,"+
			"%012d,AWS,Amazon Web Services,Compute,%s,arn:aws:ec2:us-east-1:123456789012:instance/i-%016x,web-%d,"+
			"us-east-1,Usage,\"%s usage, on demand\",Standard,USD,1.000000,Hrs,SKU%06d,"+
			"\"{\"\"service\"\": \"\"svc-%d\"\", \"\"env\"\": \"\"prod\"\"}\",RunInstances\n",
			charge.Format("2006-01-02 15:04:05"), charge.Add(time.Hour).Format("2006-01-02 15:04:05"), cost, cost, cost,
			i%50, svc, i, i%1000, svc, i%5000, i%40)
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func TestImport_LargeStreamBoundedMemory(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	const rows = 300_000
	gen := &focusGenerator{rows: rows, total: new(big.Rat)}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(gen.writeTo(pw)) }()

	// Sample the heap while the import streams.
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
	}()

	var progress []Progress
	start := time.Now()
	rep, err := ImportSources(testContext(t), db.Conn, db.Name,
		[]Source{{Name: "generated.csv", Open: func() (io.ReadCloser, error) { return pr, nil }}},
		ImportOptions{ProgressInterval: 100 * time.Millisecond, Progress: func(p Progress) { progress = append(progress, p) }})
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	t.Logf("imported %d rows (%d MB of CSV) in %s, peak HeapInuse %d MiB, %d progress calls",
		rep.Files[0].Rows, rep.Files[0].Bytes>>20, time.Since(start).Round(time.Millisecond), peak>>20, len(progress))

	assert.Equal(t, uint64(rows), rep.Files[0].Rows)
	assert.Zero(t, rep.Files[0].BadRows)
	assert.Equal(t, "1.2", rep.Files[0].FOCUSVersion)
	assert.Greater(t, rep.Files[0].Bytes, int64(100<<20), "the stream is larger than the heap bound")
	assert.Less(t, peak, uint64(100<<20), "HeapInuse while streaming")

	assert.Equal(t, uint64(rows), spendCount(t, db, ""))
	want, _ := gen.total.Float64()
	assert.InDelta(t, want, float(t, db, "SELECT sum(BilledCost) FROM "+db.Table(rollup.TableSpend)), 1e-6)
	assert.Equal(t, uint64(rows), spendCount(t, db, "TagValues[indexOf(TagKeys, 'env')] = 'prod' AND ExtraValues[indexOf(ExtraKeys, 'x_Operation')] = 'RunInstances'"))

	// Progress came along the way, rows and bytes growing, then once done.
	require.GreaterOrEqual(t, len(progress), 2)
	last := progress[len(progress)-1]
	assert.True(t, last.Done)
	assert.Equal(t, uint64(rows), last.Rows)
	assert.Equal(t, rep.Files[0].Bytes, last.BytesRead)
	assert.LessOrEqual(t, last.BytesTotal, int64(0), "a pipe's size is unknown")
	for i := 1; i < len(progress); i++ {
		assert.GreaterOrEqual(t, progress[i].Rows, progress[i-1].Rows)
		assert.GreaterOrEqual(t, progress[i].BytesRead, progress[i-1].BytesRead)
		assert.Equal(t, FormatFOCUS, progress[i].Format)
	}
	assertNoStagingTables(t, db)
}

func TestImport_RejectsBadArguments(t *testing.T) {
	t.Parallel()
	_, err := Import(t.Context(), nil, "bad-name", []string{focusFixture}, ImportOptions{})
	assert.ErrorContains(t, err, "database name")
	db := chtest.New(t)
	_, err = Import(t.Context(), db.Conn, db.Name, nil, ImportOptions{})
	assert.ErrorContains(t, err, "no files")
	_, err = Import(t.Context(), db.Conn, db.Name, []string{t.TempDir()}, ImportOptions{})
	assert.ErrorContains(t, err, "is a directory")
}

func bufioWriter(w io.Writer) *bufio.Writer { return bufio.NewWriterSize(w, 64<<10) }
