package rollup

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/chtest"
)

func TestNormalizeStatementSQL(t *testing.T) {
	db := chtest.New(t)
	for in, want := range map[string]string{
		"SELECT * FROM t1 WHERE id = 42":                     "SELECT * FROM t1 WHERE id = ?",
		"SELECT * FROM t WHERE n = 'it''s' AND x = 1.5e3":    "SELECT * FROM t WHERE n = ? AND x = ?",
		"  SELECT a\n FROM t WHERE id IN (1, 2,3) LIMIT 10 ": "SELECT a FROM t WHERE id IN (?) LIMIT ?",
		"UPDATE t SET v = 'a' WHERE k IN ('x', 'y')":         "UPDATE t SET v = ? WHERE k IN (?)",
	} {
		// No bound arguments: the driver's client-side binding would rewrite the ? and \? of
		// the regular expressions (production queries bind nothing).
		lit := "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`, "\n", `\n`).Replace(in) + "'"
		got := db.QueryString(t, "SELECT "+NormalizeStatementSQL(lit))
		require.Equal(t, want, got, "normalize %q", in)
	}
}
