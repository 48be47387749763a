// Package sampleweight reads a span's sampling weight (adjusted count) from its W3C
// tracestate, the way every weir component that counts spans must agree on.
package sampleweight

import (
	"strings"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
)

// FromTraceState is the number of spans a span stands for, from the OpenTelemetry sampling
// threshold (ot=th:...) in its tracestate. Spans nothing sampled weigh 1, and so do spans
// whose tracestate does not parse: a bad header must not inflate counts.
func FromTraceState(traceState string) float64 {
	if !strings.Contains(traceState, "th:") {
		return 1
	}
	w3c, err := sampling.NewW3CTraceState(traceState)
	if err != nil {
		return 1
	}
	if ac := w3c.OTelValue().AdjustedCount(); ac > 0 {
		return ac
	}
	return 1
}
