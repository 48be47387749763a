// Command weir is the weir OpenTelemetry Collector distribution: `weir --config FILE` runs
// the collector; subcommands manage the ClickHouse schema.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	set := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "weir",
			Description: "weir: OTLP in, sampled and rolled up into ClickHouse",
			Version:     version,
		},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{
					fileprovider.NewFactory(),
					envprovider.NewFactory(),
					yamlprovider.NewFactory(),
				},
				DefaultScheme: "env",
			},
		},
	}
	cmd := otelcol.NewCommand(set)
	// Errors are printed below, once, so that a known harmless one can be told apart.
	cmd.SilenceErrors = true
	// Settings that the collector would accept and then fail on quietly, at every interval,
	// are refused before it starts (and by `weir validate`).
	for _, c := range append([]*cobra.Command{cmd}, cmd.Commands()...) {
		if c.RunE == nil || (c != cmd && c.Name() != "validate") {
			continue
		}
		run := c.RunE
		c.RunE = func(c *cobra.Command, args []string) error {
			if err := checkSelfMetricsEnv(os.Getenv); err != nil {
				return err
			}
			return run(c, args)
		}
	}
	cmd.AddCommand(schemaCommand())
	cmd.AddCommand(rollupCommand())
	cmd.AddCommand(spendCommand())
	cmd.AddCommand(reportCommand())
	cmd.AddCommand(demoCommand())
	if err := cmd.Execute(); err != nil {
		if selfMetricsPushAtShutdown(err) {
			// The collector stops its receivers before its own telemetry, so the last push
			// of weir's metrics to its own receiver finds it closed (upstream
			// opentelemetry-collector #12944, #11591). Everything else stopped cleanly.
			fmt.Fprintln(os.Stderr, "weir stopped; its last push of its own metrics found its receiver already closed (known collector issue), nothing else was lost")
			return
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// selfMetricsPushAtShutdown reports whether err is only the meter provider failing to
// upload its last metrics at shutdown.
func selfMetricsPushAtShutdown(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "failed to shutdown meter provider") &&
		strings.Contains(msg, "failed to upload metrics") &&
		strings.Count(msg, "failed to shutdown") == 2 && strings.Count(msg, "\n") == 0
}
