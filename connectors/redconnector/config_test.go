package redconnector

import (
	"testing"
	"time"

	"github.com/weirhq/weir/internal/configtest"

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
	assert.Equal(t, 30*time.Second, c.Window)
	assert.Equal(t, []string{"http.route", "http.response.status_code"}, c.Dimensions)
	assert.Equal(t, 1000, c.ServiceGraph.MaxPending)
}

func TestConfig_ValidateReportsEveryMistake(t *testing.T) {
	_, err := load(t, "bad_everything.yaml", "")
	require.Error(t, err)
	for _, want := range []string{
		"window must be at least 1s and divide an hour evenly, got 7m0s",
		"flush_interval must be positive",
		"dimensions: empty attribute name",
		`dimensions: "http.route" listed twice`,
		"max_series_per_service must be at least 1",
		"series_idle must be positive",
		"service_graph.wait_time must be positive",
		"service_graph.max_pending must be at least 1",
	} {
		assert.Contains(t, err.Error(), want)
	}
}
