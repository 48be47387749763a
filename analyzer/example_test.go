package analyzer_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/analyzer"
	"github.com/weirhq/weir/internal/chtest"
)

// The usage of Import, run on the test server (an Example could not reach one): import a
// FOCUS export and an OpenCost response, showing progress; importing the same billing
// periods again replaces them.
func TestImport_Usage(t *testing.T) {
	t.Parallel()
	db := chtest.New(t)
	conn, database := db.Conn, db.Name
	var out strings.Builder

	rep, err := analyzer.Import(t.Context(), conn, database,
		[]string{"focus/testdata/focus-1.0-sample.csv", "opencost/testdata/allocation_namespace.json"},
		analyzer.ImportOptions{Progress: func(p analyzer.Progress) {
			if p.Done {
				fmt.Fprintf(&out, "%s: %d of %d bytes, %d rows\n", p.File, p.BytesRead, p.BytesTotal, p.Rows)
			}
		}})
	for _, f := range rep.Files {
		fmt.Fprintln(&out, f.Name, f.Format, f.Rows, "rows,", f.BadRows, "bad")
		for _, b := range f.Bad {
			fmt.Fprintln(&out, "  ", b)
		}
	}
	if err != nil {
		fmt.Fprintln(&out, "nothing replaced:", err)
	}
	if rep.Spend != nil {
		for _, p := range rep.Spend.Periods {
			fmt.Fprintln(&out, p.Start.Format("2006-01"), p.BillingAccountID, p.Rows, "rows, was", p.PreviousRows)
		}
	}

	// Again: the billing periods are replaced, not doubled.
	again, err := analyzer.Import(t.Context(), conn, database, []string{"focus/testdata/focus-1.0-sample.csv"}, analyzer.ImportOptions{})
	require.NoError(t, err)
	fmt.Fprintln(&out, "again:", again.Spend.Periods[1].Rows, "rows, was", again.Spend.Periods[1].PreviousRows)

	assert.Equal(t, `focus/testdata/focus-1.0-sample.csv: 755423 of 755423 bytes, 1000 rows
opencost/testdata/allocation_namespace.json: 11411 of 11411 bytes, 6 rows
focus/testdata/focus-1.0-sample.csv FOCUS 1000 rows, 0 bad
opencost/testdata/allocation_namespace.json OpenCost 6 rows, 0 bad
2024-09 /providers/Microsoft.Billing/billingAccounts/8611537 51 rows, was 0
2024-09 1234567890123 942 rows, was 0
2024-09 20209880 6 rows, was 0
2024-10 20209880 1 rows, was 0
again: 942 rows, was 942
`, out.String())
}
