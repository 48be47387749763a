package chtest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of the test server, for fault tests: Down refuses
// connections (as a stopped server does), Hang accepts them and never answers (as a server
// that is stuck does), LoseAnswers forwards requests but drops the server's answers and
// then the connection (as a network that fails after the request went out does), Up
// forwards again. It listens on a free loopback port, the same one
// throughout, and closes at the test's cleanup.
type Proxy struct {
	Addr   string // host:port to connect to
	target string

	mu    sync.Mutex
	ln    net.Listener
	mode  int // proxyUp, proxyDown, proxyHang, proxyLoseAnswers
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

const (
	proxyUp = iota
	proxyDown
	proxyHang
	proxyLoseAnswers
)

// NewProxy starts a proxy to target (host:port), forwarding.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.close)
	return p
}

func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			mode := p.mode
			p.conns[c] = struct{}{}
			p.mu.Unlock()
			if mode == proxyHang {
				continue // held open, never read: the client waits for its timeout
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.forward(c, mode == proxyLoseAnswers)
			}()
		}
	}()
}

func (p *Proxy) forward(c net.Conn, loseAnswers bool) {
	defer p.drop(c)
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	defer p.drop(up)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	if loseAnswers {
		// The server reads the whole request and answers; the answer goes nowhere, and the
		// client sees its connection close once the server has answered.
		go func() { _, _ = io.CopyN(io.Discard, up, 1); done <- struct{}{} }()
	} else {
		go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	}
	<-done
}

func (p *Proxy) drop(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Down closes every connection and refuses new ones.
func (p *Proxy) Down() { p.set(proxyDown) }

// Hang closes every connection and accepts new ones without ever answering.
func (p *Proxy) Hang() { p.set(proxyHang) }

// LoseAnswers closes every connection and forwards new ones' requests, but never their
// answers: each connection closes once the server has begun to answer.
func (p *Proxy) LoseAnswers() { p.set(proxyLoseAnswers) }

// Up forwards again.
func (p *Proxy) Up() { p.set(proxyUp) }

func (p *Proxy) set(mode int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
	switch {
	case mode == proxyDown && p.ln != nil:
		_ = p.ln.Close()
		p.ln = nil
	case mode != proxyDown && p.ln == nil:
		// The same port again: clients keep their configured address.
		if ln, err := net.Listen("tcp", p.Addr); err == nil {
			p.serve(ln)
		}
	}
}

func (p *Proxy) close() {
	p.set(proxyDown)
	p.wg.Wait()
}
