package tailsample

import (
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"

	"github.com/weirhq/weir/internal/otlpwire"
)

// rvOf is a second, simpler reading of the explicit randomness in a tracestate that the
// sampling package parses: the rv of the last ot entry (the last one wins in both), 14 hex
// digits, and whether there is one.
func rvOf(ts string) (uint64, bool) {
	var ot string
	for _, m := range strings.Split(ts, ",") {
		if k, v, ok := strings.Cut(strings.Trim(m, " \t"), "="); ok && k == "ot" {
			ot = v
		}
	}
	rv, found := "", false
	for _, kv := range strings.Split(ot, ";") {
		if v, ok := strings.CutPrefix(kv, "rv:"); ok {
			rv, found = v, true
		}
	}
	if !found {
		return 0, false
	}
	if len(rv) != 14 {
		panic("the sampling package accepted rv:" + rv)
	}
	r, err := strconv.ParseUint(rv, 16, 64)
	if err != nil {
		panic(err)
	}
	return r, true
}

// FuzzSummaryRV feeds two spans' tracestates to the trace summary, which reads the explicit
// randomness (ot=rv:) the baseline samples by. addSpan must not panic; a span's summary has
// randomness exactly when the tracestate parses and rvOf finds an rv, and then the same
// value, below 2^56; summaries merge to the smaller randomness in either order, as one
// summary of both spans does; and with randomness the baseline decides by it alone, not by
// the trace ID.
func FuzzSummaryRV(f *testing.F) {
	for _, s := range [][2]string{
		{"", ""},
		{"ot=th:8;rv:abcdef01234567,vendor=x", "ot=rv:00000000000001"},
		{"ot=rv:ffffffffffffff", "ot=rv:80000000000000"},
		{"ot=rv:8cc62e28b3e2f2", "ot=rv:01"},
		{"ot=rv:8CC62E28B3E2F2", "ot=rv:8cc62e28b3e2f2;rv:00000000000000"},
		{"ot=rv:7fffffffffffff,ot=th:0", "ot=th:0,ot=rv:7fffffffffffff"},
		{"x=rv:12345678901234", " ot=rv:12345678901234 , a@b=c "},
		{"ot=rv:123456789012345", "ot=rv:1234567890123g"},
		{"ot=rv:12345678901234;", "ot=p:1;rv:12345678901234;x:y"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, ts1, ts2 string) {
		one := func(ts ...string) summary {
			var s summary
			for _, x := range ts {
				s.addSpan(&otlpwire.Span{TraceState: []byte(x), Start: 1, End: 2}, []byte("svc"), nil, nil)
			}
			return s
		}
		s1, s2 := one(ts1), one(ts2)
		for _, c := range []struct {
			ts string
			s  summary
		}{{ts1, s1}, {ts2, s2}} {
			want, ok := uint64(0), false
			if _, err := sampling.NewW3CTraceState(c.ts); err == nil {
				want, ok = rvOf(c.ts)
			}
			if c.s.hasRV != ok || ok && c.s.rv.Unsigned() != want {
				t.Fatalf("%q: randomness %v %#x, want %v %#x", c.ts, c.s.hasRV, c.s.rv.Unsigned(), ok, want)
			}
			if c.s.rv.Unsigned() >= 1<<56 {
				t.Fatalf("%q: randomness %#x is not 56 bits", c.ts, c.s.rv.Unsigned())
			}
		}

		a, b := s1, s2
		a.merge(&s2)
		b.merge(&s1)
		both := one(ts1, ts2)
		if a.hasRV != b.hasRV || a.rv != b.rv || a.hasRV != both.hasRV || a.rv != both.rv {
			t.Fatalf("merged %v %#x one way, %v %#x the other, %v %#x as one summary", a.hasRV, a.rv.Unsigned(),
				b.hasRV, b.rv.Unsigned(), both.hasRV, both.rv.Unsigned())
		}
		if a.hasRV != (s1.hasRV || s2.hasRV) {
			t.Fatalf("merging lost or made up randomness")
		}
		for _, s := range []summary{s1, s2} {
			if s.hasRV && a.rv.Unsigned() > s.rv.Unsigned() {
				t.Fatalf("merged randomness %#x is not the smaller of the two", a.rv.Unsigned())
			}
		}

		if a.hasRV {
			lo := pcommon.TraceID{15: 1}
			hi := pcommon.TraceID{9: 0xff, 10: 0xff, 11: 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xff}
			for _, p := range []float64{0.5, 0.01} {
				th, _ := thresholdFor(p)
				want := a.rv.Unsigned() >= th.Unsigned()
				if x, y := baselineDecision(lo, &a, p).keep, baselineDecision(hi, &a, p).keep; x != want || y != want {
					t.Fatalf("probability %v, randomness %#x: kept %v and %v by trace ID, want %v", p, a.rv.Unsigned(), x, y, want)
				}
			}
		}
	})
}
