// Package sampleweight reads a span's sampling weight (adjusted count) from its W3C
// tracestate, the way every weir component that counts spans must agree on.
package sampleweight

import (
	"bytes"
	"strings"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
)

// FromTraceStateBytes is FromTraceState for a tracestate held as bytes; they are only read.
func FromTraceStateBytes(traceState []byte) float64 {
	if !bytes.Contains(traceState, thKey) {
		return 1
	}
	return FromTraceState(string(traceState))
}

var thKey = []byte("th:")

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

// WithThreshold records th in a W3C tracestate's ot entry. A stricter threshold already
// there wins: the span passed it, so it is the probability that span was kept with. A
// tracestate that does not parse is replaced, since a weight nobody can read would count the
// span once instead of 1/p times.
func WithThreshold(raw string, th sampling.Threshold) string {
	if th == sampling.AlwaysSampleThreshold && !strings.Contains(raw, "th:") {
		return raw
	}
	if raw == "" {
		return "ot=th:" + th.TValue()
	}
	w3c, err := sampling.NewW3CTraceState(raw)
	if err != nil {
		return "ot=th:" + th.TValue()
	}
	if err := w3c.OTelValue().UpdateTValueWithSampling(th); err != nil {
		return raw
	}
	var sb strings.Builder
	if err := w3c.Serialize(&sb); err != nil {
		return raw
	}
	return sb.String()
}
