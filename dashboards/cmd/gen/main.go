// Command gen writes weir's Grafana dashboards as JSON files (see package dashboards):
//
//	go run ./dashboards/cmd/gen -out dashboards/json
//
// or `go generate ./dashboards`. The files are committed; a test fails when they are stale.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/weirhq/weir/dashboards"
)

func main() {
	out := flag.String("out", "dashboards/json", "directory to write the dashboards into")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if err := dashboards.Write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
