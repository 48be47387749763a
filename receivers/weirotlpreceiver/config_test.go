package weirotlpreceiver

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// URL paths that http.ServeMux would panic on at start, or take as a wildcard or a subtree,
// are refused by Validate with a message naming the setting.
func TestConfig_URLPaths(t *testing.T) {
	for _, tc := range []struct {
		traces, metrics, err string
	}{
		{"/v1/traces", "/v1/metrics", ""},
		{"/v1/traces", "/v1/traces", `traces_url_path and metrics_url_path are both "/v1/traces"; they must differ`},
		{"/v1/{traces", "/v1/metrics", `traces_url_path "/v1/{traces" must be a plain path`},
		{"/v1/traces", "/v1/{x}", `metrics_url_path "/v1/{x}" must be a plain path`},
		{"/v1/", "/v1/metrics", `traces_url_path "/v1/" must be a plain path`},
		{"v1/traces", "/v1/metrics", `traces_url_path "v1/traces" must start with /`},
	} {
		cfg := createDefaultConfig().(*Config)
		h := cfg.Protocols.HTTP.GetOrInsertDefault()
		h.TracesURLPath, h.MetricsURLPath = tc.traces, tc.metrics
		err := cfg.Validate()
		if tc.err == "" {
			assert.NoError(t, err)
			continue
		}
		assert.ErrorContains(t, err, tc.err)
	}
}

// A sender that stalls mid-body holds at most 1 MiB of max_inflight_mib beyond what it sent,
// and only until the read timeout (30 s by default) ends its request.
func TestHTTP_StalledSenderHoldsLittle(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, 30*time.Second, cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.ReadTimeout)

	set := receivertest.NewNopSettings(receivertest.NopType)
	tel, err := newTelemetry(set.TelemetrySettings)
	require.NoError(t, err)
	r := &otlpReceiver{cfg: cfg, set: set, logger: set.Logger, tel: tel, limits: newLimits(cfg)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.handleHTTP(w, req, signalTraces)
	}))
	defer srv.Close()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, srv.URL, pr)
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentProtobuf)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}()
	const sent = 4<<20 + 1
	_, err = io.Copy(pw, bytes.NewReader(make([]byte, sent))) // then it stalls
	require.NoError(t, err)
	require.Eventually(t, func() bool { return r.limits.inflight.Load() >= sent }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	assert.LessOrEqual(t, r.limits.inflight.Load(), int64(sent+1<<20), "held beyond what was sent")
	_ = pw.CloseWithError(io.ErrUnexpectedEOF)
	<-done
	require.Eventually(t, func() bool { return r.limits.inflight.Load() == 0 }, 5*time.Second, 10*time.Millisecond)
}
