package sampleweight

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFromTraceState(t *testing.T) {
	f := func(ts string, want float64) {
		t.Helper()
		assert.InDelta(t, want, FromTraceState(ts), 1e-9, ts)
	}
	f("", 1)
	f("vendor=x", 1)
	f("ot=th:0", 1)                   // always sampled
	f("ot=th:8", 2)                   // probability 1/2
	f("ot=th:c;rv:8cc62e28b3e2f2", 4) // probability 1/4
	f("ot=th:c;rv:01", 1)             // bad rv: the header is invalid, weight 1
	f("ot=th:fc", 64)                 // probability 1/64
	f("a=b,ot=th:8,c=d", 2)           // among other vendors
	f("ot=th:zz", 1)                  // malformed: counted once, not dropped
}
