package tailsamplingprocessor

import (
	"github.com/weirhq/weir/internal/configtest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func load(t *testing.T, file, name string) (*Config, error) {
	t.Helper()
	return configtest.Load[*Config](t, NewFactory(), file, name)
}

func TestConfig_Load(t *testing.T) {
	def, err := load(t, "config.yaml", "")
	require.NoError(t, err)
	assert.Equal(t, NewFactory().CreateDefaultConfig(), def)

	c, err := load(t, "config.yaml", "custom")
	require.NoError(t, err)
	assert.Equal(t, 5*time.Second, c.IdleTime)
	assert.Equal(t, 30*time.Second, c.MaxWait)
	assert.Len(t, c.Attributes, 4)
	assert.True(t, c.Attributes[3].Resource)
	assert.Equal(t, 500.0, *c.Attributes[2].Min)
	assert.Equal(t, 0.05, c.Baseline.Probability)
	assert.Equal(t, 5000.0, c.Budgets.Services["checkout"])
	assert.Equal(t, "sampling.reason", c.ReasonAttribute)
}

func TestConfig_ValidateReportsEveryMistake(t *testing.T) {
	_, err := load(t, "bad_everything.yaml", "")
	require.Error(t, err)
	for _, want := range []string{
		"idle_time must be positive",
		"max_wait must be positive",
		"max_buffered_bytes must be at least 1 MiB",
		"max_trace_bytes must be between 1 KiB and max_buffered_bytes",
		"decision_cache_bytes must be at least 32 MiB",
		"latency thresholds must not be negative",
		"attributes[0]: name is required",
		"attributes[0]: regex: error parsing regexp",
		"attributes[0]: set exactly one of values, regex or min/max",
		"attributes[1]: min 5 is above max 1",
		`attributes[2]: name "dup" is used twice`,
		"attributes[2]: key is required",
		"span_count.min must not be negative",
		"baseline.probability must be within [0, 1], got 1.5",
		"budgets.default_spans_per_second must not be negative",
		"budgets.services[checkout] must not be negative",
	} {
		assert.Contains(t, err.Error(), want)
	}
}
