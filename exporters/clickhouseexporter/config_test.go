package clickhouseexporter

import (
	"testing"
	"time"

	"github.com/weirhq/weir/internal/configtest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
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
	assert.True(t, def.SendingQueue.HasValue(), "the queue is on by default")
	assert.Equal(t, "lz4", def.Compression)

	full, err := loadConfig(t, "config.yaml", "full")
	require.NoError(t, err)
	addrs, err := full.ClickHouse.Addrs()
	require.NoError(t, err)
	assert.Equal(t, []string{"ch-1.internal:9440", "ch-2.internal:9440"}, addrs)
	assert.Equal(t, "telemetry", full.ClickHouse.Database)
	assert.Equal(t, "zstd", full.Compression)
	assert.False(t, full.CreateSchema)
	assert.Equal(t, 50000, full.BlockMaxRows)
	assert.Equal(t, 10*time.Second, full.Timeout)
	assert.False(t, full.ClickHouse.TLS.Insecure)
	assert.Equal(t, 4, full.SendingQueue.Get().NumConsumers)
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
		`database: database name "my-db"`,
		`compression "snappy": use none, lz4 or zstd`,
		`dial_timeout must be positive`,
		`timeout must be positive`,
		`block_max_rows must be at least 1`,
		`block_max_bytes must be at least 1024`,
		`password is set but username is empty`,
	} {
		assert.Contains(t, msg, want)
	}
}

func TestConfig_BadEndpoints(t *testing.T) {
	_, err := loadConfig(t, "bad_endpoint.yaml", "")
	assert.ErrorContains(t, err, `endpoint "localhost": want host:port`)
	_, err = loadConfig(t, "bad_empty_endpoint.yaml", "")
	assert.ErrorContains(t, err, "endpoint is empty")
}
