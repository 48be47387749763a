package archtest

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/weirhq/weir"

// deps lists the packages matching pattern, each with every package it imports, directly or
// not, as `go list -deps` sees them.
func deps(t *testing.T, pattern string) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, pattern).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pattern, err)
	}
	m := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 {
			m[f[0]] = f[1:]
		}
	}
	return m
}

// forbid fails for every package matching pattern that depends on a package with one of the
// prefixes.
func forbid(t *testing.T, pattern string, why string, prefixes ...string) {
	t.Helper()
	for pkg, ds := range deps(t, pattern) {
		for _, d := range ds {
			for _, p := range prefixes {
				if d == p || strings.HasPrefix(d, p+"/") {
					t.Errorf("%s imports %s: %s", pkg, d, why)
				}
			}
		}
	}
}

func TestArrows(t *testing.T) {
	const clickhouse = "github.com/ClickHouse"
	forbid(t, module+"/processors/...", "a processor must not link a ClickHouse client (use internal/model)", clickhouse, module+"/rollup")
	forbid(t, module+"/connectors/...", "a connector must not link a ClickHouse client (use internal/model)", clickhouse, module+"/rollup")
	forbid(t, module+"/internal/model/...", "model is a leaf", clickhouse, "go.opentelemetry.io/collector")
	forbid(t, module+"/internal/chshard/...", "chshard is a leaf that block builders use", clickhouse, module)
	forbid(t, module+"/rollup/...", "rollup imports no component",
		module+"/processors", module+"/connectors", module+"/exporters", module+"/receivers", module+"/extensions", module+"/analyzer")
	forbid(t, module+"/analyzer/...", "the analyzer reads through rollup, never a component",
		module+"/processors", module+"/connectors", module+"/exporters", module+"/receivers", module+"/extensions")
	for _, p := range []string{"processors", "connectors", "exporters", "receivers", "extensions"} {
		forbid(t, module+"/"+p+"/...", "components never import the analyzer", module+"/analyzer", module+"/demo", module+"/dashboards")
	}
}
