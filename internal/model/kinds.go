package model

// OTLP span kinds (opentelemetry.proto.trace.v1.Span.SpanKind), as stored in SpanKind columns.
const (
	SpanKindUnspecified uint8 = 0
	SpanKindInternal    uint8 = 1
	SpanKindServer      uint8 = 2
	SpanKindClient      uint8 = 3
	SpanKindProducer    uint8 = 4
	SpanKindConsumer    uint8 = 5
)

// RequestKinds are the span kinds that count as a request a service served: a SERVER span
// answers a call, a CONSUMER span handles a message. Request rates, error rates and cost per
// request are computed over these.
var RequestKinds = []uint8{SpanKindServer, SpanKindConsumer}

// IsRequest reports whether a span of kind k is a request its service served.
func IsRequest(k uint8) bool { return k == SpanKindServer || k == SpanKindConsumer }
