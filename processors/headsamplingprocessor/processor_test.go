package headsamplingprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/weirhq/weir/internal/configtest"
	"github.com/weirhq/weir/internal/sampleweight"
)

func TestConfig(t *testing.T) {
	def, err := configtest.Load[*Config](t, NewFactory(), "config.yaml", "")
	require.NoError(t, err)
	assert.Empty(t, def.Services)
	c, err := configtest.Load[*Config](t, NewFactory(), "config.yaml", "declared")
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{"checkout": 0.1, "legacy-billing": 0.05}, c.Services)

	_, err = configtest.Load[*Config](t, NewFactory(), "bad_everything.yaml", "")
	require.Error(t, err)
	for _, want := range []string{
		"services: an empty service name",
		"services[cart]: the probability must be within (0, 1], got 1.5",
		"services[checkout]: the probability must be within (0, 1], got 0",
	} {
		assert.Contains(t, err.Error(), want)
	}
}

// Weights after the processor: a declared service's spans count 1/p, unless their sampler
// wrote a threshold itself; other services' spans are untouched.
func TestProcess_DeclaresRates(t *testing.T) {
	cfg := &Config{Services: map[string]float64{"checkout": 0.1, "cart": 0.25}}
	sink := new(consumertest.TracesSink)
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(NewFactory().Type()), cfg, sink)
	require.NoError(t, err)

	td := ptrace.NewTraces()
	add := func(service, state string) {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty().TraceState().FromRaw(state)
	}
	add("checkout", "")                     // the SDK wrote nothing: 1/0.1
	add("checkout", "vendor=x")             // other vendors' entries stay
	add("checkout", "ot=th:c")              // its sampler said 1/4 itself
	add("checkout", "ot=rv:00112233445566") // randomness but no threshold
	add("cart", "")                         // 1/0.25
	add("search", "")                       // not listed
	require.NoError(t, p.ConsumeTraces(context.Background(), td))

	out := sink.AllTraces()[0].ResourceSpans()
	var states []string
	var weights []float64
	for i := 0; i < out.Len(); i++ {
		s := out.At(i).ScopeSpans().At(0).Spans().At(0).TraceState().AsRaw()
		states = append(states, s)
		weights = append(weights, sampleweight.FromTraceState(s))
	}
	assert.InDeltaSlice(t, []float64{10, 10, 4, 10, 4, 1}, weights, 1e-3, "states %q", states)
	assert.Contains(t, states[1], "vendor=x")
	assert.Equal(t, "ot=th:c", states[2])
	assert.Contains(t, states[3], "rv:00112233445566")
	assert.Empty(t, states[5])
}
