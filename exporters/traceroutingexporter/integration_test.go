package traceroutingexporter

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/weirhq/weir/internal/testnet"
)

// startSink starts the upstream OTLP receiver on a free loopback port with a sink behind it.
func startSink(t *testing.T) (string, *consumertest.TracesSink) {
	t.Helper()
	addr := testnet.FreeAddr(t)
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"protocols": map[string]any{"grpc": map[string]any{"endpoint": addr}},
	}).Unmarshal(cfg))
	sink := new(consumertest.TracesSink)
	rcv, err := f.CreateTraces(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { assert.NoError(t, rcv.Shutdown(context.Background())) })
	return addr, sink
}

// TestRouter_OverOTLP routes traces through real OTLP gRPC connections to two receivers and
// checks that every trace arrives whole at exactly one of them, where rendezvous says.
func TestRouter_OverOTLP(t *testing.T) {
	addrA, sinkA := startSink(t)
	addrB, sinkB := startSink(t)
	endpoints := []string{addrA, addrB}

	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"endpoints": []any{addrA, addrB},
		"protocol": map[string]any{"otlp": map[string]any{
			"tls":     map[string]any{"insecure": true},
			"timeout": "5s",
		}},
	}).Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	exp, err := f.CreateTraces(context.Background(), exportertest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	assert.True(t, exp.Capabilities().MutatesData)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	stopped := false
	defer func() {
		if !stopped {
			assert.NoError(t, exp.Shutdown(context.Background()))
		}
	}()

	// 300 traces of 4 spans; each trace's spans go out in two different batches.
	const traces, spansPerTrace = 300, 4
	ids := randomTraceIDs(6, traces)
	for half := 0; half < 2; half++ {
		for start := 0; start < traces; start += 50 {
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("r", "routed")
			spans := rs.ScopeSpans().AppendEmpty().Spans()
			for i := start; i < start+50; i++ {
				for k := half * 2; k < half*2+2; k++ {
					sp := spans.AppendEmpty()
					sp.SetTraceID(ids[i])
					sp.SetSpanID(pcommon.SpanID{byte(k + 1), byte(i >> 8), byte(i)})
					sp.SetName("op")
				}
			}
			require.NoError(t, exp.ConsumeTraces(context.Background(), td))
		}
	}
	require.Eventually(t, func() bool {
		return sinkA.SpanCount()+sinkB.SpanCount() >= traces*spansPerTrace
	}, 10*time.Second, 20*time.Millisecond, "spans arrived: %d + %d", sinkA.SpanCount(), sinkB.SpanCount())
	// Shutting down drains the queues; nothing more may arrive.
	require.NoError(t, exp.Shutdown(context.Background()))
	stopped = true

	perSink := func(sink *consumertest.TracesSink) map[pcommon.TraceID]int {
		m := map[pcommon.TraceID]int{}
		for _, td := range sink.AllTraces() {
			for _, s := range flatten(td) {
				m[s.traceID]++
				assert.Equal(t, "routed", s.resource)
			}
		}
		return m
	}
	gotA, gotB := perSink(sinkA), perSink(sinkB)
	assert.Equal(t, traces*spansPerTrace, sinkA.SpanCount()+sinkB.SpanCount(), "no span twice")
	assert.NotEmpty(t, gotA)
	assert.NotEmpty(t, gotB)
	ring := newRendezvous(endpoints)
	for _, id := range ids {
		a, b := gotA[id], gotB[id]
		want := map[int]int{0: a, 1: b}[ring.pick(id)]
		assert.True(t, (a == 0) != (b == 0), "trace %s at both or neither: %d and %d spans", id, a, b)
		assert.Equal(t, spansPerTrace, want, "trace %s is whole where rendezvous puts it", id)
	}
}

// fakeEndpoint records what the router does with one endpoint's exporter.
type fakeEndpoint struct {
	id                component.ID
	endpoint          string
	started, shutdown bool
}

// TestRouter_StartFailsUndoes checks that when one endpoint's exporter fails to start, the
// router shuts down every exporter it created, and that each got its own ID and endpoint.
func TestRouter_StartFailsUndoes(t *testing.T) {
	var made []*fakeEndpoint
	factory := exporter.NewFactory(component.MustNewType("otlp_grpc"), createDefaultConfig,
		exporter.WithTraces(func(_ context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
			ep := &fakeEndpoint{id: set.ID, endpoint: cfg.(*otlpexporter.Config).ClientConfig.Endpoint}
			made = append(made, ep)
			return sinkExporter{
				StartFunc: func(context.Context, component.Host) error {
					ep.started = true
					if len(made) == 2 {
						return errors.New("refused")
					}
					return nil
				},
				ShutdownFunc: func(context.Context) error { ep.shutdown = true; return nil },
			}, nil
		}, component.StabilityLevelAlpha))
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoints = []string{"s-1:4317", "s-2:4317", "s-3:4317"}
	set := exportertest.NewNopSettings(NewFactory().Type())
	set.ID = component.MustNewIDWithName(typeStr, "samplers")
	r := newRouter(cfg, set, factory)

	err := r.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "start exporter for s-2:4317: refused")
	require.Len(t, made, 2, "the third endpoint is never created")
	for i, ep := range made {
		assert.Equal(t, cfg.Endpoints[i], ep.endpoint)
		assert.Equal(t, "otlp_grpc/trace_routing_samplers_"+cfg.Endpoints[i], ep.id.String())
		assert.True(t, ep.started)
		assert.True(t, ep.shutdown, "endpoint %d is shut down again", i)
	}
	assert.Equal(t, placeholderEndpoint, cfg.Protocol.OTLP.ClientConfig.Endpoint, "the shared config is not changed")
	// Shutdown after a failed Start is allowed and has nothing left to do.
	assert.NoError(t, r.Shutdown(context.Background()))
}
