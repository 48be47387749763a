// Package collectortest runs a real collector in-process for tests: the given factories,
// a YAML config, free ports, and a shutdown registered with t.Cleanup.
package collectortest

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
)

// Collector is a collector started by Start.
type Collector struct {
	col      *otelcol.Collector
	done     chan error
	tolerate func(error) bool
}

// Options adjust StartWith.
type Options struct {
	// Command is the BuildInfo command, which becomes the service.name of the collector's
	// own telemetry ("weir-test" when empty).
	Command string
	// Tolerate, when set, accepts an error the collector returns at shutdown that it
	// reports true for (a known, harmless one); any other error fails the test.
	Tolerate func(error) bool
}

// Start runs a collector with factories and the YAML config, and waits until it is
// running. The config may use ${env:...}. The collector is shut down when the test ends.
func Start(t testing.TB, factories otelcol.Factories, config string) *Collector {
	t.Helper()
	return StartWith(t, factories, config, Options{})
}

// StartWith is Start with Options.
func StartWith(t testing.TB, factories otelcol.Factories, config string, opts Options) *Collector {
	t.Helper()
	if opts.Command == "" {
		opts.Command = "weir-test"
	}
	set := otelcol.CollectorSettings{
		BuildInfo:               component.BuildInfo{Command: opts.Command, Version: "test"},
		Factories:               func() (otelcol.Factories, error) { return factories, nil },
		DisableGracefulShutdown: true,
		SkipSettingGRPCLogger:   true,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				URIs:              []string{"yaml:" + config},
				ProviderFactories: []confmap.ProviderFactory{yamlprovider.NewFactory(), envprovider.NewFactory()},
			},
		},
	}
	col, err := otelcol.NewCollector(set)
	if err != nil {
		t.Fatalf("new collector: %v", err)
	}
	c := &Collector{col: col, done: make(chan error, 1), tolerate: opts.Tolerate}
	go func() { c.done <- col.Run(context.Background()) }()
	// Starting runs the exporter's migrations: on the test cluster, ON CLUSTER DDL that a
	// loaded machine (make test runs packages in parallel) can take tens of seconds over.
	deadline := time.Now().Add(90 * time.Second)
	for col.GetState() != otelcol.StateRunning {
		select {
		case err := <-c.done:
			t.Fatalf("collector stopped while starting: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector not running after 90s (state %v)", col.GetState())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() { c.Shutdown(t) })
	return c
}

// Shutdown stops the collector and waits for it; calling it twice is harmless.
func (c *Collector) Shutdown(t testing.TB) {
	t.Helper()
	if c.col == nil {
		return
	}
	c.col.Shutdown()
	select {
	case err := <-c.done:
		if err != nil && !strings.Contains(err.Error(), "context canceled") && (c.tolerate == nil || !c.tolerate(err)) {
			t.Errorf("collector run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Errorf("collector did not stop within 60s")
	}
	c.col = nil
}
