package rollup

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// profiles are the server generations, alone and on a cluster, whose DDL is pinned by
// golden files.
var profiles = []struct {
	name    string
	version string
	cluster string
}{
	{"18.16", "18.16.1", ""},
	{"current", "24.8.4.13", ""},
	{"cluster_18.16", "18.16.1", "weir"},
	{"cluster_current", "24.8.4.13", "weir"},
}

func TestPlan_Golden(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			v, err := ParseVersion(p.version)
			require.NoError(t, err)
			stmts, err := Plan(Options{Database: "weir", Features: FeaturesFor(v), Cluster: p.cluster}, 0, LatestVersion())
			require.NoError(t, err)
			var b strings.Builder
			for _, st := range stmts {
				b.WriteString("-- " + st.Comment() + "\n" + st.SQL + ";\n\n")
			}
			path := filepath.Join("testdata", "ddl_"+p.name+".sql")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./rollup -run Golden -update to create it")
			assert.Equal(t, string(want), b.String(), "DDL changed: review, then go test ./rollup -run Golden -update")
		})
	}
}

func TestFeaturesFor(t *testing.T) {
	f := func(v string, want Features) {
		t.Helper()
		ver, err := ParseVersion(v)
		require.NoError(t, err)
		assert.Equal(t, want, FeaturesFor(ver), v)
	}
	f("18.16.1", Features{})
	f("19.3.4", Features{LowCardinality: true})
	f("20.1.2.4", Features{LowCardinality: true, Codecs: true, SkipIndexes: true})
	f("24.8", Features{LowCardinality: true, Codecs: true, SkipIndexes: true})
}

func TestParseVersion_Errors(t *testing.T) {
	for _, s := range []string{"", "18", "x.1", "18.-1"} {
		_, err := ParseVersion(s)
		assert.Error(t, err, s)
	}
}

func TestPlan_RejectsBadDatabaseAndFutureVersions(t *testing.T) {
	_, err := Plan(Options{Database: "weir; DROP TABLE x"}, 0, 1)
	assert.ErrorContains(t, err, "database name")
	_, err = Plan(Options{Database: "weir"}, 0, LatestVersion()+1)
	assert.ErrorIs(t, err, ErrSchemaTooNew)
}
