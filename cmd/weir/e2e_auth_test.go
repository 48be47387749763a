package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TestAuth_BearerToken puts the bearertokenauth extension in front of both OTLP protocols.
// Requests without the token or with a wrong one are refused (gRPC Unauthenticated, HTTP 401)
// and nothing of them is stored; "Authorization: Bearer <token>" gets spans in.
func TestAuth_BearerToken(t *testing.T) {
	t.Parallel()
	const auth = "        auth:\n          authenticator: bearertokenauth\n"
	w := startWeir(t, weirOptions{
		Extensions:        "  bearertokenauth:\n    token: \"s3cret\"\n",
		ExtensionList:     ", bearertokenauth",
		ReceiverExtraGRPC: auth,
		ReceiverExtraHTTP: auth,
		ServeMetrics:      true,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tracesURL := "http://" + w.HTTPAddr + "/v1/traces"
	client := ptraceotlp.NewGRPCClient(dialGRPC(t, w.GRPCAddr))

	// The extension compares the whole header value, scheme included, with "Bearer s3cret".
	const (
		missing  = "missing or empty authorization header: Authorization"
		mismatch = "provided authorization does not match expected scheme or token"
	)
	refused := []struct {
		name  string
		value string // Authorization header / metadata; "" sends none
		msg   string
	}{
		{"no token", "", missing},
		{"wrong token", "Bearer wrong", mismatch},
		{"token without scheme", "s3cret", mismatch},
		{"wrong scheme", "Basic s3cret", mismatch},
		{"token with suffix", "Bearer s3cret2", mismatch},
	}
	for i, tc := range refused {
		seed := byte(80 + i)
		t.Run("grpc "+tc.name, func(t *testing.T) {
			ctx := ctx
			if tc.value != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", tc.value)
			}
			_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(richTraces(seed, 2)))
			st := status.Convert(err)
			assert.Equal(t, codes.Unauthenticated, st.Code(), "%v", err)
			assert.Equal(t, tc.msg, st.Message())
		})
		t.Run("http "+tc.name, func(t *testing.T) {
			body, err := ptraceotlp.NewExportRequestFromTraces(richTraces(seed, 2)).MarshalProto()
			require.NoError(t, err)
			hdr := http.Header{}
			if tc.value != "" {
				hdr.Set("Authorization", tc.value)
			}
			r := postRaw(t, ctx, tracesURL, "application/x-protobuf", "", hdr, body)
			assert.Equal(t, http.StatusUnauthorized, r.Code)
			assert.Equal(t, int32(codes.Unauthenticated), r.Status.GetCode())
			assert.Equal(t, tc.msg, r.Status.GetMessage())
		})
	}
	// weir_otlp's gRPC codec does not decode the request (it hands the bytes over), so the
	// token is checked before anything of the message is looked at: garbage without a token
	// is refused as Unauthenticated, as over OTLP/HTTP.
	t.Run("grpc garbage without token", func(t *testing.T) {
		err := invokeRaw(ctx, dialGRPC(t, w.GRPCAddr), []byte{0x0a, 0x64, 0x01})
		st := status.Convert(err)
		assert.Equal(t, codes.Unauthenticated, st.Code(), "%v", err)
		assert.Equal(t, missing, st.Message())
	})
	t.Run("http garbage without token", func(t *testing.T) {
		r := postRaw(t, ctx, tracesURL, "application/x-protobuf", "", nil, []byte{0x0a, 0x64, 0x01})
		assert.Equal(t, http.StatusUnauthorized, r.Code)
		assert.Equal(t, missing, r.Status.GetMessage())
	})

	// Refused requests never reach the pipeline: the receiver counts a request it let in before
	// it answers, so this holds the moment the last refusal came back.
	require.Zero(t, scrapeCounter(t, w.MetricsURL, "otelcol_receiver_accepted_spans"), "spans of refused requests were let in")
	require.Zero(t, scrapeCounter(t, w.MetricsURL, "otelcol_receiver_refused_spans"), "refused by the pipeline instead of by auth")

	grpcTD, httpTD := richTraces(90, 3), richTraces(91, 3)
	okCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer s3cret")
	_, err := client.Export(okCtx, ptraceotlp.NewExportRequestFromTraces(grpcTD))
	require.NoError(t, err)
	body, err := ptraceotlp.NewExportRequestFromTraces(httpTD).MarshalProto()
	require.NoError(t, err)
	r := postRaw(t, ctx, tracesURL, "application/x-protobuf", "",
		http.Header{"Authorization": []string{"Bearer s3cret"}}, body)
	require.Equal(t, http.StatusOK, r.Code, "%s", r.Status.GetMessage())
	waitForCount(t, w.DB, countSpans(w.DB), 6, 20*time.Second)
	require.Equal(t, float64(6), scrapeCounter(t, w.MetricsURL, "otelcol_receiver_accepted_spans"))
	requireStoredIDs(t, w.DB, append(spanIDs(grpcTD), spanIDs(httpTD)...))
}
