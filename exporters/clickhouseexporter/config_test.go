package clickhouseexporter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"

	"github.com/weirhq/weir/internal/chinsert"
	"github.com/weirhq/weir/internal/configtest"
)

func loadConfig(t *testing.T, file, name string) (*Config, error) {
	t.Helper()
	return configtest.Load[*Config](t, NewFactory(), file, name)
}

func TestConfig_Load(t *testing.T) {
	t.Setenv("WEIR_TEST_CH_PASSWORD", "from-env")
	def, err := loadConfig(t, "config.yaml", "")
	require.NoError(t, err)
	assert.Equal(t, NewFactory().CreateDefaultConfig(), def)
	assert.Equal(t, "lz4", def.Compression)
	assert.Equal(t, component.MustNewID("weir_journal"), def.Journal)

	full, err := loadConfig(t, "config.yaml", "full")
	require.NoError(t, err)
	addrs, err := full.ClickHouse.Addrs()
	require.NoError(t, err)
	assert.Equal(t, []string{"ch-1.internal:9440", "ch-2.internal:9440"}, addrs)
	assert.Equal(t, []string{"https://ch-1.internal:8443", "https://ch-2.internal:8443"}, full.HTTPEndpoints)
	assert.Equal(t, component.MustNewIDWithName("weir_journal", "main"), full.Journal)
	assert.Equal(t, "telemetry", full.ClickHouse.Database)
	assert.Equal(t, "zstd", full.Compression)
	assert.False(t, full.CreateSchema)
	assert.Equal(t, 10*time.Second, full.Timeout)
	assert.Equal(t, 4, full.Workers)
	assert.Equal(t, RetryConfig{500 * time.Millisecond, 10 * time.Second}, full.Retry)
	assert.Equal(t, BatchConfig{50000, 2 * time.Second}, full.Batch)
	assert.Equal(t, []chinsert.Setting{{Key: "insert_distributed_sync", Value: "1"}}, full.settings())
	assert.False(t, full.ClickHouse.TLS.Insecure)
}

func TestConfig_PasswordFromEnvNeverPrinted(t *testing.T) {
	t.Setenv("WEIR_TEST_CH_PASSWORD", "from-env")
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cm := confmap.NewFromStringMap(map[string]any{"username": "weir", "password": "from-env"})
	require.NoError(t, cm.Unmarshal(cfg))
	assert.Equal(t, "from-env", string(cfg.ClickHouse.Password))
	out := confmap.New()
	require.NoError(t, out.Marshal(cfg))
	assert.Equal(t, "[REDACTED]", out.Get("password"))
	assert.NotContains(t, cfg.ClickHouse.Password.String(), "from-env")
}

func TestConfig_ValidateReportsEveryMistake(t *testing.T) {
	_, err := loadConfig(t, "bad_everything.yaml", "")
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		`only the native protocol`,
		`http_endpoints: "tcp://localhost:9000": want http://host:port`,
		`http_endpoints: "http://localhost:8123": no credentials or query in the URL`,
		`database: database name "my-db"`,
		`compression "snappy": use none, lz4 or zstd`,
		`dial_timeout must be positive`,
		`timeout must be positive`,
		`workers must be 1 to 16, got 0`,
		`retry: initial_interval must be positive`,
		`rejected_max_size_mib must not be negative`,
		`insert_settings: "a b" is not a setting name`,
		`password is set but username is empty`,
	} {
		assert.Contains(t, msg, want)
	}
	assert.NotContains(t, msg, "pw@", "credentials in a URL are never repeated")
}

func TestConfig_BadEndpoints(t *testing.T) {
	_, err := loadConfig(t, "bad_endpoint.yaml", "")
	assert.ErrorContains(t, err, `endpoint "localhost": want host:port`)
	_, err = loadConfig(t, "bad_empty_endpoint.yaml", "")
	assert.ErrorContains(t, err, "endpoint is empty")
}

// TestConfig_HTTPEndpointsCommaSeparated: one entry may name several servers, as
// scripts/clickhouse-cluster.sh env prints them for WEIR_CLICKHOUSE_HTTP_ENDPOINT; each is
// checked on its own.
func TestConfig_HTTPEndpointsCommaSeparated(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.HTTPEndpoints = []string{"http://127.0.0.1:19111, http://127.0.0.1:19121,", "https://ch-3:8443"}
	require.NoError(t, cfg.Validate())
	assert.Equal(t, []string{"http://127.0.0.1:19111", "http://127.0.0.1:19121", "https://ch-3:8443"}, cfg.httpEndpoints())

	cfg.HTTPEndpoints = []string{"http://127.0.0.1:19111,127.0.0.1:19121"}
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"127.0.0.1:19121"`)
}
