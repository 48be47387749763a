package rollup

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
)

func migratedDB(t *testing.T) *chtest.DB {
	t.Helper()
	db := chtest.New(t)
	_, err := Migrate(testContext(t), db.Conn, db.Name, 0)
	require.NoError(t, err)
	return db
}

var (
	sep = time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)
	oct = time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)
	nov = time.Date(2024, 11, 1, 0, 0, 0, 0, time.UTC)
)

// spendRows makes n rows of one billing period and account, each costing cost.
func spendRows(period time.Time, account string, n int, cost float64, source string) []SpendRow {
	out := make([]SpendRow, n)
	for i := range out {
		charge := period.Add(time.Duration(i) * time.Hour)
		out[i] = SpendRow{
			BillingPeriodStart: period, BillingPeriodEnd: period.AddDate(0, 1, 0),
			ChargePeriodStart: charge, ChargePeriodEnd: charge.Add(time.Hour),
			Provider: "AWS", BillingAccountID: account, ServiceName: "Amazon EC2",
			ResourceID: "i-" + strconv.Itoa(i), ChargeCategory: "Usage", BillingCurrency: "USD",
			BilledCost: cost, EffectiveCost: cost, ConsumedQuantity: 1, ConsumedUnit: "Hours",
			TagKeys: []string{"service"}, TagValues: []string{"checkout"},
			Source: source, LineNumber: uint64(i + 2),
		}
	}
	return out
}

// importSpend writes rows through a new SpendWriter in blocks of blockRows and commits.
func importSpend(t *testing.T, db *chtest.DB, blockRows int, rows ...SpendRow) SpendCommit {
	t.Helper()
	ctx := testContext(t)
	w, err := NewSpendWriter(ctx, db.Conn, db.Name)
	require.NoError(t, err)
	var b SpendBlock
	for i := range rows {
		b.Append(&rows[i])
		if b.Len() >= blockRows {
			require.NoError(t, w.Write(ctx, &b))
			b.Reset()
		}
	}
	require.NoError(t, w.Write(ctx, &b))
	c, err := w.Commit(ctx)
	require.NoError(t, err)
	assert.Equal(t, w.ImportID(), c.ImportID)
	assertNoStaging(t, db)
	return c
}

func assertNoStaging(t *testing.T, db *chtest.DB) {
	t.Helper()
	assert.Equal(t, uint64(0), db.QueryUint64(t,
		"SELECT count() FROM system.tables WHERE database = ? AND name LIKE '%\\_import\\_%'", db.Name), "staging tables left behind")
}

// spendCounts is rows per billing period start (YYYY-MM-DD) and account.
func spendCounts(t *testing.T, db *chtest.DB) map[string]uint64 {
	t.Helper()
	rows, err := db.Conn.Query(testContext(t), "SELECT toString(toDate(BillingPeriodStart)), BillingAccountId, count() FROM "+
		db.Table(TableSpend)+" GROUP BY BillingPeriodStart, BillingAccountId")
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var day, account string
		var n uint64
		require.NoError(t, rows.Scan(&day, &account, &n))
		out[day+" "+account] = n
	}
	require.NoError(t, rows.Err())
	return out
}

func concat(parts ...[]SpendRow) []SpendRow {
	var out []SpendRow
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestSpendWriter_ReplacesBillingPeriods(t *testing.T) {
	t.Parallel()
	db := migratedDB(t)
	mid := time.Date(2024, 9, 15, 0, 0, 0, 0, time.UTC) // a second billing period in September

	first := importSpend(t, db, 7, concat(
		spendRows(sep, "A", 20, 1, "a.csv"),
		spendRows(sep, "B", 5, 2, "a.csv"),
		spendRows(oct, "A", 3, 3, "a.csv"),
		spendRows(mid, "A", 4, 4, "a.csv"),
	)...)
	assert.Equal(t, []ReplacedPeriod{
		{Start: sep, End: oct, BillingAccountID: "A", Rows: 20, BilledCost: 20, EffectiveCost: 20},
		{Start: sep, End: oct, BillingAccountID: "B", Rows: 5, BilledCost: 10, EffectiveCost: 10},
		{Start: mid, End: mid.AddDate(0, 1, 0), BillingAccountID: "A", Rows: 4, BilledCost: 16, EffectiveCost: 16},
		{Start: oct, End: nov, BillingAccountID: "A", Rows: 3, BilledCost: 9, EffectiveCost: 9},
	}, first.Periods)
	// (month, hash of account): A's September periods share a partition.
	require.Len(t, first.Partitions, 3)
	for _, id := range first.Partitions {
		month, hash, ok := strings.Cut(id, "-")
		assert.True(t, ok && (month == "202409" || month == "202410") && hash != "", id)
	}
	want := map[string]uint64{"2024-09-01 A": 20, "2024-09-01 B": 5, "2024-10-01 A": 3, "2024-09-15 A": 4}
	assert.Equal(t, want, spendCounts(t, db))

	// Importing A's September again replaces it, whatever its size, and leaves B, October and
	// A's other September period (same partition) alone.
	second := importSpend(t, db, 1000, spendRows(sep, "A", 12, 0.5, "b.csv")...)
	assert.Equal(t, []ReplacedPeriod{{Start: sep, End: oct, BillingAccountID: "A", Rows: 12, PreviousRows: 20, BilledCost: 6, EffectiveCost: 6}}, second.Periods)
	want["2024-09-01 A"] = 12
	assert.Equal(t, want, spendCounts(t, db))
	assert.Equal(t, uint64(12), db.QueryUint64(t, "SELECT count() FROM "+db.Table(TableSpend)+" WHERE Source = 'b.csv' AND ImportId = ?", second.ImportID))

	// And again with the same rows: nothing doubles.
	third := importSpend(t, db, 5, spendRows(sep, "A", 12, 0.5, "b.csv")...)
	assert.Equal(t, uint64(12), third.Periods[0].PreviousRows)
	assert.Equal(t, want, spendCounts(t, db))
}

func TestSpendWriter_StoresEveryColumn(t *testing.T) {
	t.Parallel()
	db := migratedDB(t)
	charge := time.Date(2024, 9, 18, 22, 0, 0, 0, time.UTC)
	row := SpendRow{
		BillingPeriodStart: sep, BillingPeriodEnd: oct, ChargePeriodStart: charge, ChargePeriodEnd: charge.Add(time.Hour),
		Provider: "Microsoft", HostProvider: "Microsoft", Publisher: "Contoso", InvoiceIssuer: "Microsoft",
		BillingAccountID: "/providers/Microsoft.Billing/billingAccounts/1", BillingAccountName: "Acme",
		BillingAccountType: "Billing Profile", SubAccountID: "sub-1", SubAccountName: "prod", SubAccountType: "Subscription",
		InvoiceID: "INV-1", ServiceCategory: "Compute", ServiceSubcategory: "Virtual Machines", ServiceName: "Virtual Machines",
		ResourceID: "/subscriptions/1/vm/web-1", ResourceName: "web-1", ResourceType: "Virtual machine",
		RegionID: "westeurope", RegionName: "West Europe", AvailabilityZone: "1", SkuID: "sku", SkuPriceID: "sku-price",
		ChargeCategory: "Usage", ChargeClass: "Correction", ChargeFrequency: "Usage-Based", ChargeDescription: "D2s v3",
		PricingCategory: "Standard", BillingCurrency: "EUR",
		BilledCost: 1.25, EffectiveCost: 1.5, ListCost: 2, ContractedCost: 1.75,
		ConsumedQuantity: 3, ConsumedUnit: "Hours", PricingQuantity: 0.3, PricingUnit: "10 Hours",
		TagKeys: []string{"app", "team"}, TagValues: []string{"shop", "web"},
		ExtraKeys: []string{"x_Custom", "Id"}, ExtraValues: []string{"v", "42"},
		Source: "bill.csv", LineNumber: 7,
	}
	c := importSpend(t, db, 10, row)
	got := db.QueryString(t, "SELECT concat(toString(Date), '|', toString(ChargePeriodStart), '|', Provider, HostProvider, Publisher, InvoiceIssuer, '|', "+
		"BillingAccountId, BillingAccountName, BillingAccountType, SubAccountId, SubAccountName, SubAccountType, InvoiceId, '|', "+
		"ServiceCategory, ServiceSubcategory, ServiceName, ResourceId, ResourceName, ResourceType, '|', "+
		"RegionId, RegionName, AvailabilityZone, SkuId, SkuPriceId, '|', ChargeCategory, ChargeClass, ChargeFrequency, ChargeDescription, "+
		"PricingCategory, BillingCurrency, '|', toString(BilledCost), ' ', toString(EffectiveCost), ' ', toString(ListCost), ' ', "+
		"toString(ContractedCost), ' ', toString(ConsumedQuantity), ConsumedUnit, ' ', toString(PricingQuantity), PricingUnit, '|', "+
		"toString(TagKeys), toString(TagValues), toString(ExtraKeys), toString(ExtraValues), '|', Source, ImportId, toString(LineNumber)) FROM "+
		db.Table(TableSpend))
	assert.Equal(t, "2024-09-18|2024-09-18 22:00:00|MicrosoftMicrosoftContosoMicrosoft|"+
		"/providers/Microsoft.Billing/billingAccounts/1AcmeBilling Profilesub-1prodSubscriptionINV-1|"+
		"ComputeVirtual MachinesVirtual Machines/subscriptions/1/vm/web-1web-1Virtual machine|"+
		"westeuropeWest Europe1skusku-price|UsageCorrectionUsage-BasedD2s v3StandardEUR|"+
		"1.25 1.5 2 1.75 3Hours 0.310 Hours|['app','team']['shop','web']['x_Custom','Id']['v','42']|bill.csv"+c.ImportID+"7", got)
}

func TestSpendWriter_AbortAndEmptyImportsChangeNothing(t *testing.T) {
	t.Parallel()
	db := migratedDB(t)
	importSpend(t, db, 100, spendRows(sep, "A", 10, 1, "a.csv")...)
	before := spendCounts(t, db)

	ctx := testContext(t)
	w, err := NewSpendWriter(ctx, db.Conn, db.Name)
	require.NoError(t, err)
	var b SpendBlock
	for _, r := range spendRows(sep, "A", 3, 9, "broken.csv") {
		b.Append(&r)
	}
	require.NoError(t, w.Write(ctx, &b))
	require.NoError(t, w.Abort(ctx))
	assert.Equal(t, before, spendCounts(t, db), "an aborted import changes nothing")
	assertNoStaging(t, db)
	assert.Error(t, w.Write(ctx, &b), "a finished writer refuses rows")

	// A failed write (canceled context) followed by Abort leaves the old rows too.
	w, err = NewSpendWriter(ctx, db.Conn, db.Name)
	require.NoError(t, err)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	assert.Error(t, w.Write(canceled, &b))
	require.NoError(t, w.Abort(ctx))
	assert.Equal(t, before, spendCounts(t, db))
	assertNoStaging(t, db)

	c := importSpend(t, db, 100)
	assert.Empty(t, c.Periods)
	assert.Empty(t, c.Partitions)
	assert.Equal(t, before, spendCounts(t, db), "an import without rows changes nothing")
}

func TestSpendWriter_NeedsSchema(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	_, err := NewSpendWriter(testContext(t), db.Conn, db.Name)
	assert.ErrorContains(t, err, "weir schema --apply")
	_, err = NewSpendWriter(testContext(t), db.Conn, "bad-name")
	assert.ErrorContains(t, err, "database name")
}

// The partition expressions the writers rely on are the tables' own, and the Go column
// lists (spendTable, allocationTable) are the .sql files' columns: same names, same order,
// same types on the portable core.
func TestStagedTables_MatchDDL(t *testing.T) {
	for _, rt := range []struct {
		stagedTable
		cols []ddlColumn
	}{
		{spendTable.stagedTable, goColumns(spendTable)},
		{allocationTable.stagedTable, goColumns(allocationTable)},
	} {
		st := rt.stagedTable
		stmt, err := render(st.table, Options{Database: "weir"})
		require.NoError(t, err)
		assert.Contains(t, stmt.SQL, "\nPARTITION BY ("+st.partition+")\n", st.table)
		for _, c := range st.columns {
			assert.Contains(t, stmt.SQL, "\n    "+c+" ", st.table)
		}
		assert.Equal(t, strings.Count(stmt.SQL, "\n    "), len(st.columns), "%s: every column is written", st.table)

		var ddl []ddlColumn
		for _, line := range strings.Split(stmt.SQL, "\n") {
			if f := strings.Fields(line); strings.HasPrefix(line, "    ") && len(f) == 2 {
				ddl = append(ddl, ddlColumn{f[0], strings.TrimSuffix(f[1], ",")})
			}
		}
		assert.Equal(t, ddl, rt.cols, "%s: the Go columns are the DDL's", st.table)
	}
}

type ddlColumn struct{ name, typ string }

// goColumns are a rowTable's column names and portable types, in order.
func goColumns[R any](rt *rowTable[R]) []ddlColumn {
	var out []ddlColumn
	for _, c := range rt.cols {
		out = append(out, ddlColumn{c.name, c.typ})
	}
	return out
}

// SpendFields are the spend table's columns but Date, the arrays and the import's own.
func TestSpendFields_AreTheFOCUSColumns(t *testing.T) {
	var names []string
	for _, f := range SpendFields() {
		names = append(names, f.Name)
	}
	var want []string
	for _, c := range spendTable.columns {
		switch c {
		case "Date", "TagKeys", "TagValues", "ExtraKeys", "ExtraValues", "Source", "ImportId", "LineNumber":
		default:
			want = append(want, c)
		}
	}
	assert.Equal(t, want, names)
}

func allocationRows(start time.Time, window time.Duration, cluster string, names ...string) []AllocationRow {
	out := make([]AllocationRow, len(names))
	for i, n := range names {
		out[i] = AllocationRow{
			WindowStart: start, WindowEnd: start.Add(window), Name: n, Cluster: cluster, Namespace: n,
			IsIdle: n == "__idle__", CPUCost: 1, RAMCost: 2, TotalCost: 3, CPUEfficiency: 0.5,
			LabelKeys: []string{"app"}, LabelValues: []string{n}, Source: "oc.json",
		}
	}
	return out
}

func importAllocations(t *testing.T, db *chtest.DB, rows ...AllocationRow) AllocationCommit {
	t.Helper()
	ctx := testContext(t)
	w, err := NewAllocationWriter(ctx, db.Conn, db.Name)
	require.NoError(t, err)
	var b AllocationBlock
	for i := range rows {
		b.Append(&rows[i])
	}
	require.NoError(t, w.Write(ctx, &b))
	c, err := w.Commit(ctx)
	require.NoError(t, err)
	assertNoStaging(t, db)
	return c
}

func TestAllocationWriter_ReplacesWindowsOfACluster(t *testing.T) {
	t.Parallel()
	db := migratedDB(t)
	d1 := time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)
	d2 := d1.Add(24 * time.Hour)
	c := importAllocations(t, db, concat2(
		allocationRows(d1, 24*time.Hour, "one", "kube-system", "shop", "__idle__"),
		allocationRows(d2, 24*time.Hour, "one", "kube-system", "shop", "__idle__"),
		allocationRows(d1, 24*time.Hour, "two", "kube-system"),
	)...)
	require.Len(t, c.Windows, 3)
	assert.Equal(t, ReplacedWindow{Start: d1, End: d2, Cluster: "one", Rows: 3, TotalCost: 9}, c.Windows[0])
	total := func() uint64 { return db.QueryUint64(t, "SELECT count() FROM "+db.Table(TableAllocation)) }
	assert.Equal(t, uint64(7), total())
	assert.Equal(t, uint64(2), db.QueryUint64(t, "SELECT sum(IsIdle) FROM "+db.Table(TableAllocation)))

	// Day 1 of cluster one again, aggregated differently: replaces that window only, keeping
	// day 2 (same partition) and cluster two.
	c = importAllocations(t, db, allocationRows(d1, 24*time.Hour, "one", "shop")...)
	assert.Equal(t, []ReplacedWindow{{Start: d1, End: d2, Cluster: "one", Rows: 1, PreviousRows: 3, TotalCost: 3}}, c.Windows)
	assert.Equal(t, uint64(5), total())
	assert.Equal(t, "2024-09-01 one 1,2024-09-01 two 1,2024-09-02 one 3", db.QueryString(t,
		"SELECT arrayStringConcat(groupArray(k), ',') FROM (SELECT concat(toString(Date), ' ', Cluster, ' ', toString(count())) AS k FROM "+
			db.Table(TableAllocation)+" GROUP BY Date, Cluster ORDER BY k)"))
}

func concat2(parts ...[]AllocationRow) []AllocationRow {
	var out []AllocationRow
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
