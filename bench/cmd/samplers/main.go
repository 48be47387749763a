// Command samplers is the collector run-tailsampling.sh measures: an OTLP receiver, weir's tail
// sampler (weir_tail_sampling), contrib's (tail_sampling, v0.161.0) and the nop exporter. Each
// run's config puts one sampler (or none) in the pipeline, so both sides run the same binary.
package main

import (
	"fmt"
	"os"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/exporter/nopexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"

	contribsampling "github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor"

	"github.com/weirhq/weir/processors/tailsamplingprocessor"
)

func main() {
	set := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "samplers",
			Description: "OTLP receiver, weir_tail_sampling and tail_sampling, nop exporter (benchmark)",
			Version:     "bench",
		},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{
					fileprovider.NewFactory(),
					envprovider.NewFactory(),
					yamlprovider.NewFactory(),
				},
			},
		},
	}
	if err := otelcol.NewCommand(set).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func components() (otelcol.Factories, error) {
	var err error
	f := otelcol.Factories{Telemetry: otelconftelemetry.NewFactory()}
	if f.Receivers, err = otelcol.MakeFactoryMap(otlpreceiver.NewFactory()); err != nil {
		return f, err
	}
	if f.Processors, err = otelcol.MakeFactoryMap(tailsamplingprocessor.NewFactory(), contribsampling.NewFactory()); err != nil {
		return f, err
	}
	if f.Exporters, err = otelcol.MakeFactoryMap(nopexporter.NewFactory()); err != nil {
		return f, err
	}
	return f, nil
}
