package headsamplingprocessor

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"

	"github.com/weirhq/weir/internal/sampleweight"
)

// FuzzDeclare declares a threshold in arbitrary tracestates. declare must not panic; when it
// leaves a tracestate alone the output is the input; when it changes one, the output parses,
// its ot entry has the declared threshold (the span weighs 1/p) and keeps the rv and other
// ot fields, every other vendor's entry is still there in its order, and declaring again
// changes nothing. It changes one exactly when the input is empty, or parses without a
// threshold and the result would parse too (W3C limits: 32 entries, 1024 bytes, 256 for the
// ot value).
func FuzzDeclare(f *testing.F) {
	for _, s := range []string{
		"", "ot=th:8", "vendor=x", "ot=rv:8cc62e28b3e2f2,vendor=x", "a=b, ,c=d", "ot=p:1;rv:00000000000001",
		"ot=th:zz", "ot=", "  ", "a@b=c,ot=th:c", "ot=rv:01",
		strings.Repeat("a=1,", 30) + "z=1", strings.Repeat("a=1,", 31) + "z=1",
		"ot=rv:00000000000001;x:" + strings.Repeat("y", 236),
		"a=" + strings.Repeat("b", 256) + ",c=" + strings.Repeat("d", 256) + ",e=" + strings.Repeat("f", 256) + ",g=" + strings.Repeat("h", 240),
	} {
		f.Add(s, 0.1)
	}
	f.Add("vendor=x", 1.0)
	f.Add("vendor=x", 1e-9)
	f.Fuzz(func(t *testing.T, raw string, p float64) {
		if !(p > 0 && p <= 1) {
			p = math.Abs(p) - math.Floor(math.Abs(p)) // into [0, 1)
			if !(p > 0) {
				p = 0.5
			}
		}
		th, err := sampling.ProbabilityToThresholdWithPrecision(p, 4)
		if err != nil {
			return // p too small for a threshold: newDeclarer refuses it
		}
		out, changed := declare(raw, th)
		if !changed {
			if out != raw {
				t.Fatalf("unchanged, yet %q became %q", raw, out)
			}
		}

		in, inErr := sampling.NewW3CTraceState(raw)
		wantChange := raw == "" || inErr == nil && in.OTelValue().TValue() == "" && fits(raw, th)
		if changed != wantChange {
			t.Fatalf("declare(%q, th:%s) changed it: %v, want %v", raw, th.TValue(), changed, wantChange)
		}
		if !changed {
			return
		}
		w3c, err := sampling.NewW3CTraceState(out)
		if err != nil {
			t.Fatalf("%q became %q, which does not parse: %v", raw, out, err)
		}
		ot := w3c.OTelValue()
		if ot.TValue() != th.TValue() {
			t.Fatalf("%q became %q, threshold %q, want %q", raw, out, ot.TValue(), th.TValue())
		}
		if w, want := sampleweight.FromTraceState(out), th.AdjustedCount(); w != want {
			t.Fatalf("%q weighs %v, want %v", out, w, want)
		}
		if raw != "" {
			if !slices.Equal(w3c.ExtraValues(), in.ExtraValues()) {
				t.Fatalf("%q became %q: other vendors' entries %v, were %v", raw, out, w3c.ExtraValues(), in.ExtraValues())
			}
			if ot.RValue() != in.OTelValue().RValue() || !slices.Equal(ot.ExtraValues(), in.OTelValue().ExtraValues()) {
				t.Fatalf("%q became %q: the ot entry lost a field", raw, out)
			}
		}
		if again, changed := declare(out, th); changed || again != out {
			t.Fatalf("declaring twice changed %q to %q", out, again)
		}
	})
}

// fits reports whether raw, which parses and has no threshold, still parses with th in its
// ot entry: the reference for when declare may write, computed the long way.
func fits(raw string, th sampling.Threshold) bool {
	w3c, err := sampling.NewW3CTraceState(raw)
	if err != nil {
		return false
	}
	if err := w3c.OTelValue().UpdateTValueWithSampling(th); err != nil {
		return false
	}
	var sb strings.Builder
	if err := w3c.Serialize(&sb); err != nil {
		return false
	}
	_, err = sampling.NewW3CTraceState(sb.String())
	return err == nil
}
