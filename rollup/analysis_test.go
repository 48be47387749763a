package rollup

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteAnalysis_ReplacesItsWeekOnly(t *testing.T) {
	db := migratedDB(t)
	ctx := testContext(t)
	w46 := time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)
	w47 := w46.AddDate(0, 0, 7)
	day := func(week time.Time, d int, svc string, spend float64, req uint64) ServiceCostDay {
		return ServiceCostDay{Date: week.AddDate(0, 0, d), Service: svc, Currency: "USD", Spend: spend, Requests: req, Errors: req / 100}
	}
	hot := func(rank uint32, svc string, impact float64) HotspotRow {
		return HotspotRow{Rank: rank, Rule: "n_plus_one_query", Service: svc, Operation: "GET /cart", Severity: "warning",
			Currency: "USD", ImpactPerWeek: impact, Evidence: `{"key":"SELECT ?"}`, ExampleTraceIDs: []string{"ab"}}
	}
	gen := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

	require.NoError(t, WriteAnalysis(ctx, db.Conn, db.Name, w46, gen,
		[]ServiceCostDay{day(w46, 0, "cart", 10, 1000), day(w46, 1, "cart", 12, 1000)},
		[]HotspotRow{hot(1, "cart", 40)}))
	require.NoError(t, WriteAnalysis(ctx, db.Conn, db.Name, w47, gen,
		[]ServiceCostDay{day(w47, 0, "cart", 20, 1000), day(w47, 0, "(unmapped)", 5, 0)},
		[]HotspotRow{hot(1, "cart", 80), hot(2, "auth", 8)}))
	// Again, with fewer rows: the week is replaced, not added to.
	require.NoError(t, WriteAnalysis(ctx, db.Conn, db.Name, w47, gen,
		[]ServiceCostDay{day(w47, 0, "cart", 21, 1000)},
		[]HotspotRow{hot(1, "cart", 84)}))

	assert.Equal(t, "22", db.QueryString(t, "SELECT toString(sum(Spend)) FROM "+db.Table(TableServiceCost1d)+" WHERE Week = '2026-11-09'"))
	assert.Equal(t, "21", db.QueryString(t, "SELECT toString(sum(Spend)) FROM "+db.Table(TableServiceCost1d)+" WHERE Week = '2026-11-16'"))
	assert.Equal(t, uint64(1), db.QueryUint64(t, "SELECT count() FROM "+db.Table(TableHotspots)+" WHERE Week = '2026-11-16'"))
	assert.Equal(t, "84", db.QueryString(t, "SELECT toString(sum(ImpactPerWeek)) FROM "+db.Table(TableHotspots)+" WHERE Week = '2026-11-16'"))

	// A week without findings clears that week's hotspots and leaves the others.
	require.NoError(t, WriteAnalysis(ctx, db.Conn, db.Name, w47, gen, []ServiceCostDay{day(w47, 0, "cart", 21, 1000)}, nil))
	assert.Equal(t, uint64(0), db.QueryUint64(t, "SELECT count() FROM "+db.Table(TableHotspots)+" WHERE Week = '2026-11-16'"))
	assert.Equal(t, uint64(1), db.QueryUint64(t, "SELECT count() FROM "+db.Table(TableHotspots)+" WHERE Week = '2026-11-09'"))

	err := WriteAnalysis(ctx, db.Conn, db.Name, w47.AddDate(0, 0, 1), gen, nil, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not start on a Monday")
}
