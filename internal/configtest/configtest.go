// Package configtest loads a component's config from testdata the way the collector does:
// defaults from the factory, the named entry of a YAML file over them, then Validate.
package configtest

import (
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

// Load reads testdata/<file>, unmarshals the entry for the component ID <factory type>/<name>
// (just the type when name is empty) over the factory's defaults, and returns the config
// with the result of validating it. Malformed files fail the test.
func Load[T component.Config](t testing.TB, f component.Factory, file, name string) (T, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
	if err != nil {
		t.Fatalf("configtest: load %s: %v", file, err)
	}
	cfg := f.CreateDefaultConfig()
	sub, err := cm.Sub(component.NewIDWithName(f.Type(), name).String())
	if err != nil {
		t.Fatalf("configtest: %s has no entry for %s/%s: %v", file, f.Type(), name, err)
	}
	if err := sub.Unmarshal(cfg); err != nil {
		t.Fatalf("configtest: unmarshal %s/%s from %s: %v", f.Type(), name, file, err)
	}
	return cfg.(T), confmap.Validate(cfg)
}
