// Command weir is the weir OpenTelemetry Collector distribution: `weir --config FILE` runs
// the collector; subcommands manage the ClickHouse schema.
package main

import (
	"fmt"
	"os"

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
	cmd.AddCommand(schemaCommand())
	cmd.AddCommand(rollupCommand())
	cmd.AddCommand(spendCommand())
	cmd.AddCommand(reportCommand())
	cmd.AddCommand(demoCommand())
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
