package traceroutingexporter

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
)

// router is the trace_routing exporter: one upstream OTLP exporter per endpoint, and
// ConsumeTraces splitting each batch among them by trace ID. ConsumeTraces is safe for
// concurrent use between Start and Shutdown.
type router struct {
	cfg     *Config
	set     exporter.Settings
	factory exporter.Factory // creates the per-endpoint exporters (otlpexporter's)
	ring    rendezvous
	// exporters has one started exporter per endpoint, in cfg.Endpoints order, between a
	// successful Start and Shutdown.
	exporters []exporter.Traces
}

var _ exporter.Traces = (*router)(nil)

func newRouter(cfg *Config, set exporter.Settings, factory exporter.Factory) *router {
	return &router{cfg: cfg, set: set, factory: factory, ring: newRendezvous(cfg.Endpoints)}
}

// Start creates and starts one exporter per endpoint. If one fails, those already created
// are shut down again.
func (r *router) Start(ctx context.Context, host component.Host) error {
	exps := make([]exporter.Traces, 0, len(r.cfg.Endpoints))
	for _, ep := range r.cfg.Endpoints {
		exp, err := r.factory.CreateTraces(ctx, r.endpointSettings(ep), r.endpointConfig(ep))
		if err != nil {
			return errors.Join(fmt.Errorf("create exporter for %s: %w", ep, err), shutdownAll(ctx, exps))
		}
		// A component may be shut down after a failed Start, which releases what it got.
		exps = append(exps, exp)
		if err := exp.Start(ctx, host); err != nil {
			return errors.Join(fmt.Errorf("start exporter for %s: %w", ep, err), shutdownAll(ctx, exps))
		}
	}
	r.exporters = exps
	r.set.Logger.Info("Routing traces by trace ID", zap.Strings("endpoints", r.cfg.Endpoints))
	return nil
}

// Shutdown shuts down every endpoint's exporter, which drains or persists its queue.
func (r *router) Shutdown(ctx context.Context) error {
	exps := r.exporters
	r.exporters = nil
	if len(exps) == 0 {
		return nil
	}
	err := shutdownAll(ctx, exps)
	r.set.Logger.Info("Stopped routing traces", zap.Error(err))
	return err
}

func shutdownAll(ctx context.Context, exps []exporter.Traces) error {
	var errs []error
	for _, exp := range exps {
		errs = append(errs, exp.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// Capabilities says that ConsumeTraces takes the spans out of the batch it is given.
func (r *router) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// ConsumeTraces moves the spans of td into one batch per endpoint and passes each batch to
// that endpoint's exporter, which owns it from then on; td must not be used afterwards. With
// a single endpoint td itself is passed on. The errors of all
// endpoints are joined; endpoints that accepted their part keep it.
func (r *router) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	exps := r.exporters
	switch len(exps) {
	case 0:
		return errors.New("trace_routing exporter is not started")
	case 1:
		return exps[0].ConsumeTraces(ctx, td)
	}
	parts := make([]ptrace.Traces, len(exps))
	for i := range parts {
		parts[i] = ptrace.NewTraces()
	}
	newSplitter(r.ring).split(td, parts)
	var errs []error
	for i, part := range parts {
		if part.ResourceSpans().Len() == 0 {
			continue
		}
		if err := exps[i].ConsumeTraces(ctx, part); err != nil {
			errs = append(errs, fmt.Errorf("endpoint %s: %w", r.cfg.Endpoints[i], err))
		}
	}
	return errors.Join(errs...)
}

// endpointConfig is protocol.otlp with the endpoint set. Each exporter keeps a pointer to
// its config, so each gets its own copy.
func (r *router) endpointConfig(endpoint string) *otlpexporter.Config {
	cfg := r.cfg.Protocol.OTLP
	cfg.ClientConfig.Endpoint = endpoint
	return &cfg
}

// endpointSettings gives the endpoint's exporter an ID of its own, otlp_grpc/<router
// id>_<endpoint>: it labels the exporter's metrics and names its persistent queue, which
// must not be shared. The type must be the OTLP factory's, which checks it.
func (r *router) endpointSettings(endpoint string) exporter.Settings {
	set := r.set
	name := strings.ReplaceAll(r.set.ID.String(), "/", "_") + "_" + endpoint
	set.ID = component.NewIDWithName(r.factory.Type(), name)
	set.Logger = r.set.Logger.With(zap.String("endpoint", endpoint))
	return set
}
