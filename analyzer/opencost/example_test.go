package opencost_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/weirhq/weir/analyzer/opencost"
)

// Read an /allocation/compute response aggregated by namespace, idle cost included.
func ExampleNewReader() {
	response := `{"code": 200, "data": [{
	  "shop": {"name": "shop", "properties": {"cluster": "prod", "namespace": "shop", "labels": {"team": "web"}},
	           "window": {"start": "2024-09-01T00:00:00Z", "end": "2024-09-02T00:00:00Z"},
	           "cpuCost": 1.2, "ramCost": 0.8, "totalCost": 2.0, "cpuEfficiency": 0.35},
	  "__idle__": {"name": "__idle__", "properties": {"cluster": "prod"},
	           "window": {"start": "2024-09-01T00:00:00Z", "end": "2024-09-02T00:00:00Z"},
	           "cpuCost": 2.5, "totalCost": 3.0, "cpuEfficiency": null}}]}`
	rd, err := opencost.NewReader(strings.NewReader(response))
	if err != nil {
		panic(err)
	}
	defer rd.Close()
	for {
		a, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			panic(err)
		}
		fmt.Println(a.WindowStart.Format("2006-01-02"), a.Cluster, a.Name, a.IsIdle, a.TotalCost, a.CPUEfficiency, a.LabelKeys, a.LabelValues)
	}
	// Output:
	// 2024-09-01 prod shop false 2 0.35 [team] [web]
	// 2024-09-01 prod __idle__ true 3 0 [] []
}
