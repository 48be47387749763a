package focus_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/weirhq/weir/analyzer/focus"
)

// Read a FOCUS 1.3 export: renamed columns map onto one field, NULL is empty, Tags become
// keys and values, x_ columns are extras, and a bad row is reported with its line.
func ExampleNewReader() {
	export := `BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,BilledCost,BillingAccountId,ServiceProviderName,ServiceName,Tags,x_Team
2025-03-01T00:00:00Z,2025-04-01T00:00:00Z,2025-03-02 00:00:00,2025-03-03 00:00:00,12.5,acct,AWS,Amazon EC2,"{""app"": ""shop""}",web
2025-03-01T00:00:00Z,2025-04-01T00:00:00Z,2025-03-02 00:00:00,2025-03-03 00:00:00,lots,acct,AWS,Amazon S3,NULL,NULL
`
	rd, err := focus.NewReader(strings.NewReader(export))
	if err != nil {
		panic(err)
	}
	defer rd.Close()
	fmt.Println("FOCUS", rd.Version())
	for {
		row, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var bad *focus.RowError
		if errors.As(err, &bad) {
			fmt.Println("skipped", bad)
			continue
		}
		if err != nil {
			panic(err)
		}
		fmt.Println(row.LineNumber, row.Provider, row.ServiceName, row.BilledCost, row.ChargePeriodStart.Format("2006-01-02"),
			row.TagKeys, row.TagValues, row.ExtraKeys, row.ExtraValues)
	}
	// Output:
	// FOCUS 1.3
	// 2 AWS Amazon EC2 12.5 2025-03-02 [app] [shop] [x_Team] [web]
	// skipped line 3: BilledCost "lots" is not a number
}
