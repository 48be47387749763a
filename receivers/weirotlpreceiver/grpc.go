package weirotlpreceiver

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/encoding/protowire"
)

// rawCodec hands requests over as their protobuf bytes, undecoded, and writes responses that
// are already encoded: weir reads requests with otlpwire. It is this server's only codec.
type rawCodec struct{}

// message is a request's or a response's encoding. A request's bytes are in buf, from
// requestPool, freed once the request is handled.
type message struct {
	b   []byte
	buf mem.Buffer
}

// requestPool holds the buffers requests are read into, by powers of two from 4 KiB to 16 MiB
// (larger ones are allocated each time). A request of 100 KB allocated anew was 57 % of the
// bytes weir allocated at 50k spans/s (2026-12-07 22:05 profile), and what drove its garbage
// collections. A buffer stays out of the pool until its request is done: the engine keeps
// no slice of a request past Take*, and tests poison freed requests to hold it to that.
var requestPool = mem.NewTieredBufferPool(func() []int {
	var sizes []int
	for size := 4 << 10; size <= 16<<20; size *= 2 {
		sizes = append(sizes, size)
	}
	return sizes
}()...)

// poisonFreed makes a freed request's bytes garbage, so that a test reading one afterwards
// sees it (TestReceiver_SDKExportersToClickHouse checks names stored from requests); tests
// turn it on. It writes to ReadOnlyData, which only a test may do: the buffer may be
// grpc-go's own, and is freed right after.
var poisonFreed bool

// free gives a handled request's buffer back.
func (m *message) free() {
	if m.buf == nil {
		return
	}
	if poisonFreed {
		for i := range m.b {
			m.b[i] = 0xa5
		}
	}
	m.buf.Free()
	m.buf, m.b = nil, nil
}

// Name is "proto", what OTLP clients send and expect.
func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*message)
	if !ok {
		return nil, fmt.Errorf("weir_otlp: cannot encode %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(m.b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*message)
	if !ok {
		return fmt.Errorf("weir_otlp: cannot decode into %T", v)
	}
	// data is freed when Unmarshal returns: a copy, or one more reference to data's one buffer.
	m.buf = data.MaterializeToBuffer(requestPool)
	m.b = m.buf.ReadOnlyData()
	return nil
}

type exportHandler func(ctx context.Context, body []byte) ([]byte, error)

// serviceDesc is an OTLP service with one unary method, Export, handled by h.
func serviceDesc(name string, h exportHandler) *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: name,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Export",
			Handler: func(_ any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
				in := new(message)
				defer in.free()
				if err := dec(in); err != nil {
					return nil, err
				}
				call := func(ctx context.Context, req any) (any, error) {
					out, err := h(ctx, req.(*message).b)
					if err != nil {
						return nil, err
					}
					return &message{b: out}, nil
				}
				if interceptor == nil {
					return call(ctx, in)
				}
				return interceptor(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/" + name + "/Export"}, call)
			},
		}},
		Metadata: "opentelemetry/proto/collector",
	}
}

// The gRPC flow-control windows: a stream's, and a connection's (all its streams together).
const (
	streamWindow = 1 << 20
	connWindow   = 4 << 20
)

// streamWorkers is how many requests run on gRPC's workers at once: a few per core, since a
// request waits on its journal write and on the engine's lock.
func streamWorkers() uint32 { return uint32(4 * runtime.GOMAXPROCS(0)) }

func (r *otlpReceiver) startGRPC(ctx context.Context, host component.Host, cfg *configgrpc.ServerConfig) error {
	srv, err := cfg.ToServer(ctx, host.GetExtensions(), r.set.TelemetrySettings,
		configgrpc.WithGrpcServerOption(grpc.ForceServerCodecV2(rawCodec{})),
		// Flow-control windows sized for OTLP's batches (hundreds of KB a request): with
		// grpc-go's 64 KB start and its bandwidth estimator, the server wrote a window update
		// every 16 KB read and a ping with each, a tenth of weir's CPU on the shipped load.
		// A connection still holds at most connWindow unread bytes.
		configgrpc.WithGrpcServerOption(grpc.InitialWindowSize(streamWindow)),
		configgrpc.WithGrpcServerOption(grpc.InitialConnWindowSize(connWindow)),
		// Requests run on long-lived workers rather than a goroutine each: a new goroutine
		// grows its stack by copying, step by step, on every request (runtime.newstack was
		// 3.7 % of weir's CPU at 50k points/s, 2026-12-07 19:24), a worker's stays grown.
		// With every worker busy, grpc-go starts a goroutine as before.
		configgrpc.WithGrpcServerOption(grpc.NumStreamWorkers(streamWorkers())),
		configgrpc.WithGrpcServerOption(grpc.InTapHandle(func(ctx context.Context, _ *tap.Info) (context.Context, error) {
			if err := r.limits.admit(r.tel); err != nil {
				return nil, grpcStatus(err)
			}
			return ctx, nil
		})))
	if err != nil {
		return fmt.Errorf("weir_otlp grpc: %w", err)
	}
	srv.RegisterService(serviceDesc("opentelemetry.proto.collector.trace.v1.TraceService", r.grpcTraces), nil)
	srv.RegisterService(serviceDesc("opentelemetry.proto.collector.metrics.v1.MetricsService", r.grpcMetrics), nil)
	ln, err := cfg.NetAddr.Listen(ctx)
	if err != nil {
		return fmt.Errorf("weir_otlp grpc: listen on %s: %w", cfg.NetAddr.Endpoint, err)
	}
	r.logger.Info("weir_otlp listening for OTLP/gRPC", zapEndpoint(ln.Addr().String()))
	r.grpc = srv
	r.serve("grpc", ln, srv.Serve)
	return nil
}

func (r *otlpReceiver) grpcTraces(ctx context.Context, body []byte) ([]byte, error) {
	r.limits.enter()
	defer r.limits.exit()
	if err := r.limits.acquire(int64(len(body)), r.tel); err != nil {
		return nil, grpcStatus(err)
	}
	defer r.limits.release(int64(len(body)))
	ctx = r.obsTr.StartTracesOp(ctx)
	o := r.traces(ctx, body)
	r.obsTr.EndTracesOp(ctx, "protobuf", o.items, o.err)
	if o.err != nil {
		return nil, grpcStatus(o.err)
	}
	return partialSuccess(o.rejected, rejectedSpansMessage(o.rejected)), nil
}

func (r *otlpReceiver) grpcMetrics(ctx context.Context, body []byte) ([]byte, error) {
	r.limits.enter()
	defer r.limits.exit()
	if err := r.limits.acquire(int64(len(body)), r.tel); err != nil {
		return nil, grpcStatus(err)
	}
	defer r.limits.release(int64(len(body)))
	ctx = r.obsTr.StartMetricsOp(ctx)
	o := r.metrics(ctx, body)
	r.obsTr.EndMetricsOp(ctx, "protobuf", o.items, o.err)
	if o.err != nil {
		return nil, grpcStatus(o.err)
	}
	return partialSuccess(0, ""), nil
}

// grpcStatus maps a refusal to the status OTLP senders act on: InvalidArgument is not
// retried, Unavailable is.
func grpcStatus(err error) error {
	switch {
	case errors.Is(err, errInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, errOverloaded):
		return status.Error(codes.Unavailable, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func rejectedSpansMessage(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d spans with an all-zero or malformed trace or span ID were dropped", n)
}

// partialSuccess encodes an Export*ServiceResponse: empty when nothing was rejected, else
// its partial_success with the count (rejected_spans or rejected_data_points, field 1 in
// both) and the message.
func partialSuccess(rejected int, msg string) []byte {
	if rejected == 0 && msg == "" {
		return nil
	}
	var ps []byte
	if rejected > 0 {
		ps = protowire.AppendTag(ps, 1, protowire.VarintType)
		ps = protowire.AppendVarint(ps, uint64(rejected))
	}
	if msg != "" {
		ps = protowire.AppendTag(ps, 2, protowire.BytesType)
		ps = protowire.AppendString(ps, msg)
	}
	out := protowire.AppendTag(nil, 1, protowire.BytesType)
	return protowire.AppendBytes(out, ps)
}
