// Package journaltest starts a weir_journal extension for the tests of the components that use it.
package journaltest

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/weirhq/weir/extensions/journalextension"
	"github.com/weirhq/weir/internal/ingest"
)

// TestHost is a component.Host with one started weir_journal extension (ID "weir_journal")
// in dir, for the tests of components that use it; it stops at the test's cleanup.
type TestHost struct {
	Store *ingest.Store
	exts  map[component.ID]component.Component
}

// GetExtensions implements component.Host.
func (h *TestHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// NewTestHost starts the extension in dir.
func NewTestHost(t testing.TB, dir string) *TestHost {
	t.Helper()
	return NewTestHostWith(t, dir, nil)
}

// NewTestHostWith starts the extension in dir with its configuration changed by mutate, which
// may go below the bounds Validate enforces (a fault test filling a small journal).
func NewTestHostWith(t testing.TB, dir string, mutate func(*journalextension.Config)) *TestHost {
	t.Helper()
	f := journalextension.NewFactory()
	cfg := f.CreateDefaultConfig().(*journalextension.Config)
	cfg.Directory = dir
	cfg.SegmentSizeMiB = 8
	if mutate != nil {
		mutate(cfg)
	}
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ext.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ext.Shutdown(context.Background()) })
	id := component.NewID(f.Type())
	return &TestHost{Store: ext.(ingest.StoreProvider).Store(), exts: map[component.ID]component.Component{id: ext}}
}
