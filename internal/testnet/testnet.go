// Package testnet has small networking helpers for tests: free loopback
// ports and addresses for servers that tests start.
package testnet

import (
	"net"
	"strconv"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. It
// listens on port 0, reads the port the kernel picked and closes the
// listener, so another process could in principle take the port before the
// caller binds it; that is rare enough for tests.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testnet: listen on 127.0.0.1:0: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("testnet: close listener: %v", err)
	}
	return port
}

// FreeAddr returns "127.0.0.1:N" for a port N from FreePort.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}
