package report

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadThresholds(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "t.yaml")
		require.NoError(t, os.WriteFile(p, []byte(s), 0o600))
		return p
	}
	opts := DefaultOptions()
	require.NoError(t, LoadThresholds(write("patterns:\n  chatty_min_client_calls: 12\nspend:\n  price_per_gb: 0.5\n"), &opts))
	assert.Equal(t, 12, opts.Patterns.ChattyMinClientCalls)
	assert.Equal(t, 5, opts.Patterns.NPlusOneMinStatements, "unset keys keep their defaults")
	assert.Equal(t, 0.5, opts.Spend.PricePerGB)
	assert.Equal(t, 4.0, opts.Spend.OutlierRatio)

	opts = DefaultOptions()
	err := LoadThresholds(write("spend:\n  price_per_gbb: 0.5\n"), &opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "price_per_gbb")

	opts = DefaultOptions()
	err = LoadThresholds(write("spend:\n  outlier_ratio: 0.5\n"), &opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "OutlierRatio")
}
