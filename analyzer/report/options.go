package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/weirhq/weir/analyzer/hotspot"
)

// thresholdsFile is the YAML of `weir report --thresholds`: either section may be left out,
// and a key left out keeps its default.
//
//	patterns:                      # trace-pattern rules (hotspot.Thresholds)
//	  n_plus_one_min_statements: 5
//	  chatty_min_client_calls: 15
//	spend:                         # spend rules (hotspot.SpendThresholds)
//	  outlier_ratio: 4
//	  price_per_gb: 0.30
type thresholdsFile struct {
	Patterns hotspot.Thresholds      `yaml:"patterns"`
	Spend    hotspot.SpendThresholds `yaml:"spend"`
}

// LoadThresholds overlays the thresholds in the YAML file path on opts. Unknown keys and
// thresholds the rules cannot use are errors, and leave opts as it was.
func LoadThresholds(path string, opts *Options) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("thresholds: %w", err)
	}
	// One strict pass over the whole file, onto the current thresholds. (Decoding each
	// section on its own, after writing it back to YAML, refused valid files: an empty
	// section, a null in flow style, an alias to an anchor in the other section.)
	f := thresholdsFile{Patterns: opts.Patterns, Spend: opts.Spend}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("thresholds %s: %w", path, err)
	}
	if err := f.Patterns.Validate(); err != nil {
		return fmt.Errorf("thresholds %s: %w", path, err)
	}
	if err := f.Spend.Validate(); err != nil {
		return fmt.Errorf("thresholds %s: %w", path, err)
	}
	opts.Patterns, opts.Spend = f.Patterns, f.Spend
	return nil
}
