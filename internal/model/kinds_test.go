package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIsRequest(t *testing.T) {
	for k := uint8(0); k <= 6; k++ {
		want := k == 2 || k == 5 // SERVER and CONSUMER in opentelemetry.proto.trace.v1
		assert.Equal(t, want, IsRequest(k), "kind %d", k)
	}
	for _, k := range RequestKinds {
		assert.True(t, IsRequest(k))
	}
}
