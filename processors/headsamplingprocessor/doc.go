// Package headsamplingprocessor is the weir_head_sampling processor: it declares the
// head-sampling rate of services whose SDKs sample without saying so.
//
// weir counts a span as 1/p spans when its tracestate carries the OpenTelemetry sampling
// threshold (ot=th:...), which consistent-probability samplers write. Samplers that write
// nothing, such as the Go SDK's TraceIDRatioBased, make a service that keeps 10% of its traces
// look ten times smaller in every count. For each service listed with its probability p, this
// processor writes the threshold of p into the tracestate of that service's spans that carry
// none, so weir_red's counts, the tail sampler's weights and the stored SampleWeight all see
// the rate. Spans that carry a threshold already are left alone: their sampler said it.
//
// Put it first in the traces pipeline, before weir_red. Spans of services not listed pass
// untouched; the processor looks at each resource's service.name once.
package headsamplingprocessor // import "github.com/weirhq/weir/processors/headsamplingprocessor"
