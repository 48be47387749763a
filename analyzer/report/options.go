package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
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
	Patterns yaml.Node `yaml:"patterns"`
	Spend    yaml.Node `yaml:"spend"`
}

// LoadThresholds overlays the thresholds in the YAML file path on opts. Unknown keys and
// thresholds the rules cannot use are errors.
func LoadThresholds(path string, opts *Options) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("thresholds: %w", err)
	}
	var f thresholdsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("thresholds %s: %w", path, err)
	}
	if err := decodeStrict(&f.Patterns, &opts.Patterns); err != nil {
		return fmt.Errorf("thresholds %s: patterns: %w", path, err)
	}
	if err := decodeStrict(&f.Spend, &opts.Spend); err != nil {
		return fmt.Errorf("thresholds %s: spend: %w", path, err)
	}
	if err := opts.Patterns.Validate(); err != nil {
		return fmt.Errorf("thresholds %s: %w", path, err)
	}
	if err := opts.Spend.Validate(); err != nil {
		return fmt.Errorf("thresholds %s: %w", path, err)
	}
	return nil
}

// decodeStrict decodes a YAML node into v, refusing keys v does not have.
func decodeStrict(n *yaml.Node, v any) error {
	if n.Kind == 0 {
		return nil
	}
	out, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(out))
	dec.KnownFields(true)
	return dec.Decode(v)
}
