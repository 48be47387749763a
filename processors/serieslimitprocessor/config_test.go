package serieslimitprocessor

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
	assert.Equal(t, &Config{MaxSeriesPerMetric: 1000, MaxSeriesTotal: 1_000_000, SeriesIdle: 10 * time.Minute}, def)
	c, err := load(t, "config.yaml", "custom")
	require.NoError(t, err)
	assert.Equal(t, &Config{MaxSeriesPerMetric: 50, MaxSeriesTotal: 10_000, SeriesIdle: time.Hour}, c)
}

func TestConfig_Bad(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"bad_everything.yaml", []string{
			"max_series_per_metric must be at least 1, got 0",
			"max_series_total must be at least max_series_per_metric (0), got -1",
			"series_idle must be at least 1s, got 0s",
		}},
		{"bad_total.yaml", []string{"max_series_total must be at least max_series_per_metric (500), got 100"}},
		{"bad_idle.yaml", []string{"series_idle must be at least 1s, got 500ms"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := load(t, tc.file, "")
			require.Error(t, err)
			for _, want := range tc.want {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}
