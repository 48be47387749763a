package tailsamplingprocessor

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weirhq/weir/internal/tailsample"
)

// sampler is the collector face of tailsample.Sampler: pdata in, marshalled once for the
// sampler, which holds and splits spans as protobuf bytes; what it keeps goes to the next
// consumer as pdata again.
type sampler struct {
	s   *tailsample.Sampler
	enc ptrace.ProtoMarshaler
}

func (p *sampler) Capabilities() consumer.Capabilities {
	// The incoming batch is only read (its spans are copied as bytes), but declaring it
	// mutated as before keeps what the pipeline does around this processor unchanged.
	return consumer.Capabilities{MutatesData: true}
}

func (p *sampler) Start(context.Context, component.Host) error {
	p.s.StartTicker()
	return nil
}

func (p *sampler) Shutdown(ctx context.Context) error { return p.s.Shutdown(ctx) }

func (p *sampler) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	req, err := p.enc.MarshalTraces(td)
	if err != nil {
		return fmt.Errorf("tail sampler: marshal: %w", err)
	}
	return p.s.Consume(ctx, req)
}
