package analyzer_test

import (
	"context"
	"fmt"
	"os"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/weirhq/weir/analyzer"
)

// Import a month's FOCUS export (in two gzip parts) and an OpenCost response, showing
// progress; importing the same month again replaces it. (Needs a ClickHouse server, so it
// is compiled, not run.)
func ExampleImport() {
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{"127.0.0.1:19000"}})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	rep, err := analyzer.Import(context.Background(), conn, "weir",
		[]string{"focus-2024-09-part1.csv.gz", "focus-2024-09-part2.csv.gz", "opencost-2024-09.json"},
		analyzer.ImportOptions{Progress: func(p analyzer.Progress) {
			fmt.Fprintf(os.Stderr, "%s: %d of %d bytes, %d rows\n", p.File, p.BytesRead, p.BytesTotal, p.Rows)
		}})
	for _, f := range rep.Files {
		fmt.Println(f.Name, f.Format, f.Rows, "rows,", f.BadRows, "bad")
		for _, b := range f.Bad {
			fmt.Println("  ", b)
		}
	}
	if err != nil {
		fmt.Println("nothing replaced:", err)
		return
	}
	if rep.Spend != nil {
		for _, p := range rep.Spend.Periods {
			fmt.Println(p.Start.Format("2006-01"), p.BillingAccountID, p.Rows, "rows, was", p.PreviousRows)
		}
	}
}
