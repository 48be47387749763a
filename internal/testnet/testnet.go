// Package testnet has small networking helpers for tests: free loopback
// ports and addresses for servers that tests start.
package testnet

import (
	"net"
	"strconv"
	"sync"
	"testing"
)

// handedOut are the ports FreePort has returned in this process: the kernel may offer a
// port again as soon as its probe listener is closed, and parallel tests that bind their
// ports later (collectors, subprocesses) would then collide.
var (
	mu        sync.Mutex
	handedOut = map[int]bool{}
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and that it has not
// returned before in this process. It listens on port 0, reads the port the kernel picked
// and closes the listener, so another process could in principle take the port before the
// caller binds it; that is rare enough for tests.
func FreePort(t testing.TB) int {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testnet: listen on 127.0.0.1:0: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if err := l.Close(); err != nil {
			t.Fatalf("testnet: close listener: %v", err)
		}
		if !handedOut[port] {
			handedOut[port] = true
			return port
		}
	}
	t.Fatalf("testnet: the kernel offered only ports already handed out, 100 times")
	return 0
}

// FreeAddr returns "127.0.0.1:N" for a port N from FreePort.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}
