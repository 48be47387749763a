package hotspot_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/weirhq/weir/analyzer/hotspot"
	"github.com/weirhq/weir/analyzer/report"
)

// thresholds are the two sections of the file `weir report --thresholds` reads.
type thresholds struct {
	Patterns hotspot.Thresholds      `yaml:"patterns"`
	Spend    hotspot.SpendThresholds `yaml:"spend"`
}

// FuzzThresholds loads arbitrary bytes as the thresholds file of `weir report --thresholds`
// (report.LoadThresholds, which overlays them on the defaults and validates them with
// hotspot's Validate methods). It lives here, in an external test package, because the
// thresholds are hotspot's. LoadThresholds must not panic or hang; it refuses only a file
// that a strict decoding of the whole file in one pass refuses or that does not validate,
// and then leaves the options as they were; what it accepts, key by key, is the default where the file leaves
// a key out and the key's value decoded on its own where the file sets it (checkKeys); it
// holds no NaN, which no rule can use; and thresholds written back to YAML load the same.
func FuzzThresholds(f *testing.F) {
	for _, s := range []string{
		"patterns:\n  chatty_min_client_calls: 12\nspend:\n  price_per_gb: 0.5\n",
		"",
		"patterns:\n",
		"patterns:\n  max_examples:\n  n_plus_one_severity: {critical_per_week}\n",
		"patterns: null\nspend: {}\n",
		"spend:\n  price_per_gbb: 0.5\n",
		"spend:\n  outlier_ratio: 0.5\n",
		"spend:\n  outlier_ratio: .nan\n",
		"spend:\n  low_efficiency: .nan\n  series_growth: .inf\n",
		"patterns:\n  n_plus_one_severity: {warning_per_week: .nan, critical_per_week: -1, min_share: 2}\n",
		"patterns:\n  n_plus_one_min_statements: 99999999999999999999\n",
		"patterns:\n  max_examples: &n 7\n  fan_out_max_children: *n\nspend: {series_min: *n, min_requests: 0x10, telemetry_weighted: false}\n",
		"patterns: &p {n_plus_one_route_sequential: true}\nspend: *p\n",
		"patterns:\n  ? \n  : 5\n",
		"patterns: [1, 2]\n",
		"other: 1\n",
		"patterns: {retry_severity: &s {warning_per_week: 10, critical_per_week: 100, min_share: 0}, chatty_severity: *s}\n",
		"patterns: {chatty_severity: {<<: {warning_per_week: 1}, min_share: 0.5}}\n",
	} {
		f.Add([]byte(s))
	}
	path := filepath.Join(f.TempDir(), "thresholds.yaml")
	load := func(t *testing.T, data []byte) (report.Options, error) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		opts := report.DefaultOptions()
		err := report.LoadThresholds(path, &opts)
		return opts, err
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts, err := load(t, data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "thresholds ") {
				t.Fatalf("the error does not name the thresholds file: %v", err)
			}
			if !reflect.DeepEqual(opts, report.DefaultOptions()) {
				t.Fatalf("LoadThresholds failed (%v) but changed the options: %+v", err, opts)
			}
			ref := thresholds{Patterns: hotspot.DefaultThresholds(), Spend: hotspot.DefaultSpendThresholds()}
			dec := yaml.NewDecoder(bytes.NewReader(data))
			dec.KnownFields(true)
			if derr := dec.Decode(&ref); (derr == nil || errors.Is(derr, io.EOF)) && ref.Patterns.Validate() == nil && ref.Spend.Validate() == nil {
				t.Fatalf("LoadThresholds refused a file that decodes strictly in one pass and validates: %v", err)
			}
			return
		}
		if !reflect.DeepEqual(opts.Costmap, report.DefaultOptions().Costmap) {
			t.Fatalf("the thresholds changed the costmap: %+v", opts.Costmap)
		}
		got := thresholds{Patterns: opts.Patterns, Spend: opts.Spend}
		if name, ok := nanField(reflect.ValueOf(got), ""); ok {
			t.Fatalf("%s is NaN, and Validate accepted it", name)
		}
		checkKeys(t, data, got)

		out, err := yaml.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		back, err := load(t, out)
		if err != nil {
			t.Fatalf("the thresholds written back do not load: %v\n%s", err, out)
		}
		if again := (thresholds{Patterns: back.Patterns, Spend: back.Spend}); !reflect.DeepEqual(again, got) {
			t.Fatalf("the thresholds written back load differently:\n%+v\n%+v", again, got)
		}
	})
}

// checkKeys reads the file a second way, key by key: every threshold the file leaves out
// must be its default, and every one it sets the value of its YAML node decoded alone over
// the default. Files with merge keys (<<) are not checked.
func checkKeys(t *testing.T, data []byte, got thresholds) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("LoadThresholds accepted a file yaml cannot parse: %v", err)
	}
	def := thresholds{Patterns: hotspot.DefaultThresholds(), Spend: hotspot.DefaultSpendThresholds()}
	var top *yaml.Node
	if len(doc.Content) > 0 {
		top = doc.Content[0]
	}
	var check func(n *yaml.Node, got, def reflect.Value, where string)
	check = func(n *yaml.Node, got, def reflect.Value, where string) {
		for n != nil && n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		set := map[string]*yaml.Node{}
		if n != nil && n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.ShortTag() != "!!null" {
					if k.Value == "<<" {
						return
					}
					set[k.Value] = n.Content[i+1]
				}
			}
		}
		for i := range got.NumField() {
			name := strings.Split(got.Type().Field(i).Tag.Get("yaml"), ",")[0]
			g, d := got.Field(i), def.Field(i)
			v, ok := set[name]
			switch {
			case g.Kind() == reflect.Struct:
				check(v, g, d, where+name+".")
			case !ok:
				if !g.Equal(d) {
					t.Fatalf("%s%s is not in the file, yet it is %v, not the default %v", where, name, g, d)
				}
			default:
				alone := reflect.New(d.Type())
				alone.Elem().Set(d)
				if err := v.Decode(alone.Interface()); err != nil {
					t.Fatalf("%s%s: LoadThresholds took a value that does not decode alone: %v", where, name, err)
				}
				if !g.Equal(alone.Elem()) {
					t.Fatalf("%s%s is %v, its value decoded alone %v", where, name, g, alone.Elem())
				}
			}
		}
	}
	check(top, reflect.ValueOf(got), reflect.ValueOf(def), "")
}

// nanField finds a NaN float in v, a struct of numbers, booleans and such structs.
func nanField(v reflect.Value, name string) (string, bool) {
	switch v.Kind() {
	case reflect.Float64:
		return name, math.IsNaN(v.Float())
	case reflect.Struct:
		for i := range v.NumField() {
			if n, ok := nanField(v.Field(i), name+"."+v.Type().Field(i).Name); ok {
				return n, true
			}
		}
	}
	return "", false
}
