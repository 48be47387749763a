package traceroutingexporter

import (
	"github.com/weirhq/weir/internal/configtest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/confmap"
)

func loadConfig(t *testing.T, file, name string) (*Config, error) {
	t.Helper()
	return configtest.Load[*Config](t, NewFactory(), file, name)
}

func TestConfig_Load(t *testing.T) {
	def, err := loadConfig(t, "config.yaml", "")
	require.NoError(t, err)
	want := NewFactory().CreateDefaultConfig().(*Config)
	want.Endpoints = []string{"sampler-1:4317", "sampler-2:4317"}
	assert.Equal(t, want, def, "everything but endpoints keeps the upstream otlp defaults")
	assert.True(t, def.Protocol.OTLP.QueueConfig.HasValue(), "each endpoint has its own queue by default")

	full, err := loadConfig(t, "config.yaml", "full")
	require.NoError(t, err)
	assert.Equal(t, []string{"10.0.0.1:4317", "10.0.0.2:4317", "sampler-3.weir.svc.cluster.local:14317"}, full.Endpoints)
	otlp := full.Protocol.OTLP
	assert.Equal(t, 3*time.Second, otlp.TimeoutConfig.Timeout)
	assert.Equal(t, configcompression.TypeZstd, otlp.ClientConfig.Compression)
	assert.True(t, otlp.ClientConfig.TLS.Insecure)
	v, ok := otlp.ClientConfig.Headers.Get("x-weir-tier")
	assert.True(t, ok)
	assert.Equal(t, "router", string(v))
	assert.Equal(t, 4, otlp.QueueConfig.Get().NumConsumers)
	assert.Equal(t, int64(5000), otlp.QueueConfig.Get().QueueSize)
	assert.Equal(t, 60*time.Second, otlp.RetryConfig.MaxElapsedTime)
	assert.Equal(t, placeholderEndpoint, otlp.ClientConfig.Endpoint)
}

func TestConfig_DefaultNeedsEndpoints(t *testing.T) {
	err := confmap.Validate(NewFactory().CreateDefaultConfig())
	assert.ErrorContains(t, err, "endpoints is empty")
}

func TestConfig_Bad(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"bad_empty.yaml", "endpoints is empty: list the backends as host:port"},
		{"bad_endpoint.yaml", `endpoints[0] "sampler-1": want host:port`},
		{"bad_duplicate.yaml", `endpoints[2] "sampler-1:4317" repeats endpoints[0]`},
		{"bad_otlp_endpoint.yaml", `protocol.otlp.endpoint "sampler-2:4317" is not used`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := loadConfig(t, tc.file, "")
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestConfig_ValidateReportsEveryMistake(t *testing.T) {
	_, err := loadConfig(t, "bad_everything.yaml", "")
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		`endpoints[1] "http://sampler-2:4317": want host:port`,
		`endpoints[2] "sampler-3:port": port "port" is not a number in 1..65535`,
		`endpoints[3] ":4317": want host:port`,
		`endpoints[4] "sampler-4:70000": port "70000" is not a number in 1..65535`,
		`endpoints[5] "sampler-1:4317" repeats endpoints[0]`,
		`protocol.otlp.endpoint "sampler-2:4317" is not used`,
		// The upstream otlp exporter's own checks, reached by confmap.Validate (the squashed
		// gRPC client settings are reported under their Go field name).
		"protocol::otlp::sending_queue: `queue_size` must be positive",
		`protocol::otlp::clientconfig: invalid balancer_name: no_such_balancer`,
	} {
		assert.Contains(t, msg, want)
	}
}
