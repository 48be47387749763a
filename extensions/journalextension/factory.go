package journalextension

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
)

const typeStr = "weir_journal"

// NewFactory returns the factory of the weir_journal extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(component.MustNewType(typeStr), createDefaultConfig, create, component.StabilityLevelAlpha)
}

func createDefaultConfig() component.Config {
	return &Config{
		Directory:        ".weir/journal",
		MaxSizeMiB:       4096,
		IngestMaxSizeMiB: 1024,
		SegmentSizeMiB:   64,
		Sync:             "none",
		SyncInterval:     time.Second,
	}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return &journalExt{cfg: cfg.(*Config), logger: set.Logger}, nil
}
