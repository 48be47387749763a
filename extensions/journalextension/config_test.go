package journalextension

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/weirhq/weir/internal/configtest"
	"github.com/weirhq/weir/internal/ingest"
)

func TestConfig(t *testing.T) {
	def, err := configtest.Load[*Config](t, NewFactory(), "config.yaml", "")
	require.NoError(t, err)
	assert.Equal(t, NewFactory().CreateDefaultConfig(), def)
	c, err := configtest.Load[*Config](t, NewFactory(), "config.yaml", "custom")
	require.NoError(t, err)
	assert.Equal(t, int64(20480), c.MaxSizeMiB)
	assert.Equal(t, 200*time.Millisecond, c.SyncInterval)

	_, err = configtest.Load[*Config](t, NewFactory(), "bad_everything.yaml", "")
	require.Error(t, err)
	for _, want := range []string{
		"directory is empty",
		"max_size_mib must be at least 64, got 10",
		"ingest_max_size_mib must be at least 64, got 1",
		"segment_size_mib must be at least 1, got 0",
		`sync "sometimes": use none, interval or always`,
	} {
		assert.Contains(t, err.Error(), want)
	}
}

// The extension opens the store at Start, the components find it by ID, and it closes at
// Shutdown (a second open of the directory then works: the lock is released).
func TestExtension_StoreFromHost(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Directory = filepath.Join(t.TempDir(), "j")
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(NewFactory().Type()), cfg)
	require.NoError(t, err)
	id := component.NewID(NewFactory().Type())
	host := hostWith{id: ext}
	_, err = ingest.StoreFrom(host, id)
	require.ErrorContains(t, err, "not started")
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	s, err := ingest.StoreFrom(host, id)
	require.NoError(t, err)
	assert.Equal(t, cfg.Directory, s.Dir())
	_, err = ingest.StoreFrom(host, component.MustNewID("nope"))
	assert.ErrorContains(t, err, "no such extension")
	require.NoError(t, ext.Shutdown(context.Background()))
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, ext.Shutdown(context.Background()))
}

type hostWith map[component.ID]component.Component

func (h hostWith) GetExtensions() map[component.ID]component.Component { return h }
