package sampleweight

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
)

// thresholdOf is a second, simpler reading of the threshold in a tracestate that the
// sampling package parses: the th of the last ot entry (the last one wins in both), as its
// 1 to 14 hex digits padded to 14, and whether there is one.
func thresholdOf(ts string) (uint64, bool) {
	var ot string
	for _, m := range strings.Split(ts, ",") {
		if k, v, ok := strings.Cut(strings.Trim(m, " \t"), "="); ok && k == "ot" {
			ot = v
		}
	}
	th, found := "", false
	for _, kv := range strings.Split(ot, ";") {
		if v, ok := strings.CutPrefix(kv, "th:"); ok {
			th, found = v, true
		}
	}
	if !found {
		return 0, false
	}
	t, err := strconv.ParseUint(th+strings.Repeat("0", 14-len(th)), 16, 64)
	if err != nil {
		panic(err) // the sampling package accepted it
	}
	return t, true
}

// FuzzFromTraceState reads arbitrary tracestates. FromTraceState must not panic; the weight
// is finite and at least 1; a tracestate the sampling package refuses weighs 1; otherwise
// the weight is 2^56 / (2^56 - T) for the threshold T that thresholdOf reads, and 1 without
// one; and the threshold alone, written as ot=th:, weighs the same.
func FuzzFromTraceState(f *testing.F) {
	for _, s := range []string{
		"", "vendor=x", "ot=th:0", "ot=th:8", "ot=th:c;rv:8cc62e28b3e2f2", "ot=th:c;rv:01", "ot=th:fc",
		"a=b,ot=th:8,c=d", "ot=th:zz", "ot=th:ffffffffffffff", "ot=th:fffffffffffffff", "ot=rv:8cc62e28b3e2f2",
		"ot=th:8,ot=th:c", "ot=th:8;th:c", "x=th:8", " ot=th:8 , a@b=c ", "ot=th:8;", "ot=p:8;th:1;x:y",
		"a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9,j=10,k=11,l=12,m=13,n=14,o=15,p=16,q=17,r=18,s=19,t=20,u=21,v=22,w=23,x=24,y=25,z=26,aa=27,ab=28,ac=29,ad=30,ot=th:8",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ts string) {
		w := FromTraceState(ts)
		if math.IsNaN(w) || math.IsInf(w, 0) || w < 1 {
			t.Fatalf("%q weighs %v", ts, w)
		}
		if _, err := sampling.NewW3CTraceState(ts); err != nil {
			if w != 1 {
				t.Fatalf("%q does not parse (%v), yet it weighs %v", ts, err, w)
			}
			return
		}
		th, ok := thresholdOf(ts)
		if !ok {
			if w != 1 {
				t.Fatalf("%q has no threshold, yet it weighs %v", ts, w)
			}
			return
		}
		const max = 1 << 56
		want := float64(max) / float64(max-th)
		if math.Abs(w-want) > 1e-12*want {
			t.Fatalf("%q: threshold %#x weighs %v, want %v", ts, th, w, want)
		}
		tv := strings.TrimRight(strconv.FormatUint(th|max, 16)[1:], "0")
		if tv == "" {
			tv = "0"
		}
		if alone := FromTraceState("ot=th:" + tv); alone != w {
			t.Fatalf("%q weighs %v, its threshold alone (th:%s) %v", ts, w, tv, alone)
		}
	})
}
