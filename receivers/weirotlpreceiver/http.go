package weirotlpreceiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protowire"
)

const (
	contentProtobuf = "application/x-protobuf"
	contentJSON     = "application/json"
	// confighttpDefaultMaxBody is what confighttp takes max_request_body_size to be when
	// it is 0 (it does not export it).
	confighttpDefaultMaxBody = 20 << 20
	// jsonDecodeFactor times a JSON body is what handleHTTP counts for decoding it.
	jsonDecodeFactor = 3
)

func (r *otlpReceiver) startHTTP(ctx context.Context, host component.Host, cfg *HTTPConfig) error {
	mux := http.NewServeMux()
	mux.HandleFunc(cfg.TracesURLPath, func(w http.ResponseWriter, req *http.Request) {
		r.handleHTTP(w, req, signalTraces)
	})
	mux.HandleFunc(cfg.MetricsURLPath, func(w http.ResponseWriter, req *http.Request) {
		r.handleHTTP(w, req, signalMetrics)
	})
	// Errors the server answers itself (auth, decompression) get an OTLP status body too.
	onError := func(w http.ResponseWriter, req *http.Request, msg string, status int) {
		ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
		if ct != contentJSON {
			ct = contentProtobuf
		}
		writeError(w, ct, status, strings.TrimSpace(msg))
	}
	opts := []confighttp.ToServerOption{confighttp.WithErrorHandler(onError)}
	if snappyEnabled(cfg.ServerConfig.CompressionAlgorithms) {
		opts = append(opts, confighttp.WithDecoder("snappy", r.snappyDecoder(cfg.maxBody())))
	}
	srv, err := cfg.ServerConfig.ToServer(ctx, host.GetExtensions(), r.set.TelemetrySettings, mux, opts...)
	if err != nil {
		return fmt.Errorf("weir_otlp http: %w", err)
	}
	ln, err := cfg.ServerConfig.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("weir_otlp http: listen on %s: %w", cfg.ServerConfig.NetAddr.Endpoint, err)
	}
	r.logger.Info("weir_otlp listening for OTLP/HTTP", zapEndpoint(ln.Addr().String()))
	r.http = srv
	r.serve("http", ln, srv.Serve)
	return nil
}

// maxBody is max_request_body_size as confighttp applies it.
func (cfg *HTTPConfig) maxBody() int64 {
	if cfg.ServerConfig.MaxRequestBodySize <= 0 {
		return confighttpDefaultMaxBody
	}
	return cfg.ServerConfig.MaxRequestBodySize
}

func zapEndpoint(addr string) zap.Field { return zap.String("endpoint", addr) }

type signal int

const (
	signalTraces signal = iota
	signalMetrics
)

// handleHTTP takes one OTLP/HTTP request: protobuf as it comes, JSON through pdata into
// protobuf (JSON senders are rare and small: SDKs and collectors send protobuf).
func (r *otlpReceiver) handleHTTP(w http.ResponseWriter, req *http.Request, sig signal) {
	r.handlers.Add(1)
	defer r.handlers.Done()
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, contentJSON, http.StatusMethodNotAllowed, "use POST")
		return
	}
	ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if ct != contentProtobuf && ct != contentJSON {
		writeError(w, contentJSON, http.StatusUnsupportedMediaType,
			fmt.Sprintf("content type %q: send %s or %s", ct, contentProtobuf, contentJSON))
		return
	}
	// The body counts against the in-flight bound as it arrives, not as the sender announces
	// it: a slow sender holds only what it has sent, and cannot starve the others.
	r.limits.enter()
	defer r.limits.exit()
	var reserved int64
	defer func() { r.limits.release(reserved) }()
	body, err := r.readBody(req, &reserved)
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			writeError(w, ct, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("request body larger than %d bytes (max_request_body_size, after decompression)", tooBig.Limit))
		case errors.Is(err, errOverloaded):
			writeRetry(w, ct, err)
		default:
			writeError(w, ct, http.StatusBadRequest, fmt.Sprintf("read request body: %v", err))
		}
		return
	}
	if ct == contentJSON {
		// Decoding JSON through pdata into protobuf allocates 2.2 to 3 times the body
		// (otlpgen's traces and metrics): it is counted before it is done.
		extra := jsonDecodeFactor * int64(len(body))
		if err := r.limits.acquire(extra, r.tel); err != nil {
			writeRetry(w, ct, err)
			return
		}
		reserved += extra
		if body, err = jsonToProto(body, sig); err != nil {
			writeError(w, ct, http.StatusBadRequest, err.Error())
			return
		}
	}
	ctx := req.Context()
	var o outcome
	if sig == signalTraces {
		ctx = r.obsHTTP.StartTracesOp(ctx)
		o = r.traces(ctx, body)
		r.obsHTTP.EndTracesOp(ctx, formatOf(ct), o.items, o.err)
	} else {
		ctx = r.obsHTTP.StartMetricsOp(ctx)
		o = r.metrics(ctx, body)
		r.obsHTTP.EndMetricsOp(ctx, formatOf(ct), o.items, o.err)
	}
	switch {
	case o.err == nil:
		writeSuccess(w, ct, sig, o.rejected, rejectedSpansMessage(o.rejected))
	case errors.Is(o.err, errInvalid):
		writeError(w, ct, http.StatusBadRequest, o.err.Error())
	case errors.Is(o.err, errOverloaded):
		writeRetry(w, ct, o.err)
	default:
		writeError(w, ct, http.StatusInternalServerError, o.err.Error())
	}
}

func formatOf(ct string) string {
	if ct == contentJSON {
		return "json"
	}
	return "protobuf"
}

// readBody reads the body, taking its bytes from the in-flight bound as they come (reserved
// says how many it took).
func (r *otlpReceiver) readBody(req *http.Request, reserved *int64) ([]byte, error) {
	const chunk = 64 << 10
	var buf []byte
	if n := req.ContentLength; n > 0 && n <= chunk {
		buf = make([]byte, 0, n)
	}
	for {
		if len(buf) == cap(buf) {
			// At most 1 MiB at a time: a sender holds at most that beyond what it sent.
			grow := min(max(2*cap(buf), chunk), cap(buf)+1<<20)
			if err := r.limits.acquire(int64(grow-cap(buf)), r.tel); err != nil {
				return nil, err
			}
			*reserved += int64(grow - cap(buf))
			nb := make([]byte, len(buf), grow)
			copy(nb, buf)
			buf = nb
		}
		n, err := req.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func jsonToProto(body []byte, sig signal) ([]byte, error) {
	if sig == signalTraces {
		r := ptraceotlp.NewExportRequest()
		if err := r.UnmarshalJSON(body); err != nil {
			return nil, fmt.Errorf("%w: decode JSON: %w", errInvalid, err)
		}
		return r.MarshalProto()
	}
	r := pmetricotlp.NewExportRequest()
	if err := r.UnmarshalJSON(body); err != nil {
		return nil, fmt.Errorf("%w: decode JSON: %w", errInvalid, err)
	}
	return r.MarshalProto()
}

// writeSuccess answers 200 with an Export*ServiceResponse, carrying the partial success when
// spans were dropped.
func writeSuccess(w http.ResponseWriter, ct string, sig signal, rejected int, msg string) {
	if ct == contentJSON {
		var out []byte
		var err error
		if sig == signalTraces {
			resp := ptraceotlp.NewExportResponse()
			if rejected > 0 {
				resp.PartialSuccess().SetRejectedSpans(int64(rejected))
				resp.PartialSuccess().SetErrorMessage(msg)
			}
			out, err = resp.MarshalJSON()
		} else {
			out, err = pmetricotlp.NewExportResponse().MarshalJSON()
		}
		if err != nil {
			writeError(w, ct, http.StatusInternalServerError, err.Error())
			return
		}
		writeBody(w, ct, http.StatusOK, out)
		return
	}
	writeBody(w, ct, http.StatusOK, partialSuccess(rejected, msg))
}

// writeRetry answers 503 with Retry-After: OTLP senders retry it.
func writeRetry(w http.ResponseWriter, ct string, err error) {
	w.Header().Set("Retry-After", strconv.Itoa(1))
	writeError(w, ct, http.StatusServiceUnavailable, err.Error())
}

// writeError answers status with a google.rpc.Status in the request's encoding, as OTLP/HTTP
// says.
func writeError(w http.ResponseWriter, ct string, status int, msg string) {
	code := 13 // INTERNAL
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusMethodNotAllowed:
		code = 3 // INVALID_ARGUMENT
	case http.StatusServiceUnavailable:
		code = 14 // UNAVAILABLE
	case http.StatusUnauthorized:
		code = 16 // UNAUTHENTICATED
	case http.StatusForbidden:
		code = 7 // PERMISSION_DENIED
	}
	if ct == contentJSON {
		out := []byte(`{"code":` + strconv.Itoa(code) + `,"message":` + strconv.Quote(msg) + `}`)
		writeBody(w, contentJSON, status, out)
		return
	}
	var out []byte
	out = protowire.AppendTag(out, 1, protowire.VarintType)
	out = protowire.AppendVarint(out, uint64(code))
	out = protowire.AppendTag(out, 2, protowire.BytesType)
	out = protowire.AppendString(out, msg)
	writeBody(w, contentProtobuf, status, out)
}

func writeBody(w http.ResponseWriter, ct string, status int, body []byte) {
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.Copy(w, bytes.NewReader(body))
}
