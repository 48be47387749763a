// Package tailsamplingprocessor is weir's tail sampler as a collector processor,
// weir_tail_sampling: pdata in, marshalled once, sampled by internal/tailsample (which holds
// spans as compressed protobuf and decides per trace: errors, latency, attributes and span
// count keep a trace whole, a consistent-probability baseline keeps a share of the rest with
// its weight in tracestate), and the kept spans out as pdata, each marked with the reason it
// was kept. See internal/tailsample for how and when traces are decided.
package tailsamplingprocessor // import "github.com/weirhq/weir/processors/tailsamplingprocessor"
