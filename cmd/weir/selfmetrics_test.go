package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckSelfMetricsEnv(t *testing.T) {
	f := func(env map[string]string, want string) {
		t.Helper()
		err := checkSelfMetricsEnv(func(k string) string { return env[k] })
		if want == "" {
			assert.NoError(t, err)
			return
		}
		assert.ErrorContains(t, err, want)
	}
	f(nil, "")
	f(map[string]string{"WEIR_SELF_METRICS_ENDPOINT": "127.0.0.1:4318"}, "")
	f(map[string]string{"WEIR_SELF_METRICS_ENDPOINT": "collector.internal:4318"}, "")
	f(map[string]string{"WEIR_SELF_METRICS_ENDPOINT": "127.0.0.1:4317"}, "names weir's OTLP/gRPC port (4317)")
	f(map[string]string{"WEIR_SELF_METRICS_ENDPOINT": "127.0.0.1:9317", "WEIR_OTLP_GRPC_ENDPOINT": "0.0.0.0:9317",
		"WEIR_OTLP_HTTP_ENDPOINT": "0.0.0.0:9318"}, "use the HTTP port (WEIR_OTLP_HTTP_ENDPOINT, 0.0.0.0:9318)")
	f(map[string]string{"WEIR_SELF_METRICS_ENDPOINT": "http://127.0.0.1:4318"}, "without a scheme")
	f(map[string]string{"WEIR_SELF_METRICS_ENDPOINT": "localhost"}, "want host:port")
}
