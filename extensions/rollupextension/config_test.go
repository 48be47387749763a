package rollupextension

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weirhq/weir/internal/configtest"
	"github.com/weirhq/weir/rollup"
)

func loadConfig(t *testing.T, file, name string) (*Config, error) {
	t.Helper()
	return configtest.Load[*Config](t, NewFactory(), file, name)
}

func TestConfig_Load(t *testing.T) {
	def, err := loadConfig(t, "config.yaml", "")
	require.NoError(t, err)
	assert.Equal(t, NewFactory().CreateDefaultConfig(), def)
	assert.Equal(t, 5*time.Minute, def.Interval)
	assert.Equal(t, time.Hour, def.RetentionInterval)

	c, err := loadConfig(t, "config.yaml", "custom")
	require.NoError(t, err)
	assert.Equal(t, "telemetry", c.ClickHouse.Database)
	assert.Equal(t, "weir_prod", c.ClickHouse.Cluster)
	assert.Empty(t, def.ClickHouse.Cluster, "one server unless told")
	assert.Equal(t, time.Minute, c.Interval)
	assert.Equal(t, 6*time.Hour, c.Lookback)
	p := c.policy()
	assert.Equal(t, 72*time.Hour, p[rollup.TableSpans])
	assert.Equal(t, time.Duration(0), p[rollup.TableRED1m], "0 keeps a table forever")
	assert.Equal(t, rollup.DefaultRetention()[rollup.TableRED1h], p[rollup.TableRED1h], "the rest keeps its default")
}

func TestConfig_ValidateReportsEveryMistake(t *testing.T) {
	_, err := loadConfig(t, "bad_everything.yaml", "")
	require.Error(t, err)
	for _, want := range []string{
		`only the native protocol`,
		`database: database name "my-db"`,
		`cluster "prod-eu": use letters, digits and underscores`,
		`dial_timeout must be positive`,
		`password is set but username is empty`,
		`interval, lookback, grace and retention_interval must not be negative`,
		`lookback must be at least 1h when the rollup runs, got 10m0s`,
		`retention: unknown table "nope"`,
		`retention[spans] must not be negative`,
	} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = loadConfig(t, "bad_idle.yaml", "")
	assert.ErrorContains(t, err, "would do nothing")
}
