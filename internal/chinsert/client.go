package chinsert

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Options configure a Client. Zero durations and sizes take the defaults named on each field.
type Options struct {
	// Endpoints are the servers' HTTP interfaces: "http://host:8123" or "https://host:8443",
	// optionally with a path for a proxy. Credentials never go here (see Username), nor a
	// query string. At most 64.
	Endpoints []string
	// TLS configures https endpoints; nil uses the system's roots.
	TLS *tls.Config
	// Username and Password are sent as the X-ClickHouse-User and X-ClickHouse-Key headers,
	// never in a URL; no error message contains them. An empty Username with a Password
	// logs in as "default"; both empty send no credentials (the server's default user).
	Username, Password string
	// DialTimeout bounds opening a connection, TLS handshake included. Default 5 s.
	DialTimeout time.Duration
	// RequestTimeout bounds one attempt against one endpoint: waiting for a free connection,
	// sending the body, the server's insert, reading its answer. A server that accepts the
	// connection and never answers costs this long. Default 60 s.
	RequestTimeout time.Duration
	// MaxConns bounds the connections to each endpoint, idle or busy; requests beyond it
	// wait for a connection (within RequestTimeout). Default 4.
	MaxConns int
	// IdleTimeout closes connections idle for longer. Keep it below the server's
	// keep_alive_timeout (3 s by default on 18.16), so the client never writes a request
	// into a connection the server is closing. Default 2 s.
	IdleTimeout time.Duration
	// Backoff is how long an endpoint that failed (no connection, no answer, a codeless 5xx)
	// is skipped; it doubles with each consecutive failure up to MaxBackoff, and a success
	// resets it. Defaults 1 s and 30 s.
	Backoff, MaxBackoff time.Duration
	// MaxResponseBytes bounds a Query's answer; a longer one fails with
	// ErrResponseTooLarge. Default 16 MiB.
	MaxResponseBytes int64
	// Now is the clock for endpoint backoff; nil uses time.Now.
	Now func() time.Time
}

// Defaults for Options.
const (
	DefaultDialTimeout      = 5 * time.Second
	DefaultRequestTimeout   = 60 * time.Second
	DefaultMaxConns         = 4
	DefaultIdleTimeout      = 2 * time.Second
	DefaultBackoff          = time.Second
	DefaultMaxBackoff       = 30 * time.Second
	DefaultMaxResponseBytes = 16 << 20
)

// maxEndpoints keeps the set of endpoints tried by one call in a uint64.
const maxEndpoints = 64

// Client sends requests to ClickHouse's HTTP interface, spread round robin over the
// endpoints that are up. It is safe for concurrent use.
type Client struct {
	opts      Options
	hc        *http.Client
	transport *http.Transport
	endpoints []*endpoint
	next      atomic.Uint64 // round-robin position
	closed    atomic.Bool
	user, key string // header values; empty user means no credentials
	now       func() time.Time
}

// endpoint is one server and its health.
type endpoint struct {
	name string // scheme://host[:port][/path], the form errors show
	base string // name + "/" when the path is empty, used to build URLs

	downUntil atomic.Int64 // unix nanoseconds; 0 or past means up
	failures  atomic.Int64 // consecutive failed attempts
	requests  atomic.Uint64
	errors    atomic.Uint64
}

// New checks opts and returns a Client. It opens no connection: the first request does.
func New(opts Options) (*Client, error) {
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("chinsert: no endpoints")
	}
	if len(opts.Endpoints) > maxEndpoints {
		return nil, fmt.Errorf("chinsert: %d endpoints, at most %d", len(opts.Endpoints), maxEndpoints)
	}
	if opts.DialTimeout < 0 || opts.RequestTimeout < 0 || opts.IdleTimeout < 0 || opts.Backoff < 0 ||
		opts.MaxBackoff < 0 || opts.MaxConns < 0 || opts.MaxResponseBytes < 0 {
		return nil, errors.New("chinsert: negative timeout, backoff or size")
	}
	setDefault(&opts.DialTimeout, DefaultDialTimeout)
	setDefault(&opts.RequestTimeout, DefaultRequestTimeout)
	setDefault(&opts.IdleTimeout, DefaultIdleTimeout)
	setDefault(&opts.Backoff, DefaultBackoff)
	setDefault(&opts.MaxBackoff, DefaultMaxBackoff)
	setDefault(&opts.MaxConns, DefaultMaxConns)
	setDefault(&opts.MaxResponseBytes, DefaultMaxResponseBytes)
	if opts.MaxBackoff < opts.Backoff {
		opts.MaxBackoff = opts.Backoff
	}

	c := &Client{opts: opts, now: opts.Now}
	if c.now == nil {
		c.now = time.Now
	}
	var errs []error
	seen := map[string]bool{}
	for _, raw := range opts.Endpoints {
		ep, err := parseEndpoint(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[ep.name] {
			errs = append(errs, fmt.Errorf("chinsert: endpoint %s listed twice", ep.name))
			continue
		}
		seen[ep.name] = true
		c.endpoints = append(c.endpoints, ep)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.Username != "" || opts.Password != "" {
		c.user, c.key = opts.Username, opts.Password
		if c.user == "" {
			c.user = "default"
		}
	}

	dialer := &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}
	c.transport = &http.Transport{
		// No proxy from the environment: a ClickHouse endpoint is reached as configured.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       opts.TLS,
		TLSHandshakeTimeout:   opts.DialTimeout,
		MaxConnsPerHost:       opts.MaxConns,
		MaxIdleConnsPerHost:   opts.MaxConns,
		MaxIdleConns:          opts.MaxConns * len(c.endpoints),
		IdleConnTimeout:       opts.IdleTimeout,
		DisableCompression:    true, // bodies are framed by the caller; no gzip negotiation
		ExpectContinueTimeout: 0,
		ResponseHeaderTimeout: 0, // the server answers after the insert: RequestTimeout bounds it
		ForceAttemptHTTP2:     false,
	}
	c.hc = &http.Client{
		Transport: c.transport,
		// A redirect would resend the body somewhere else: never follow one.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// parseEndpoint checks one Options.Endpoints entry. Its errors never repeat a password.
func parseEndpoint(raw string) (*endpoint, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// url.Parse's error quotes the input, which could hold a password.
		return nil, errors.New("chinsert: an endpoint is not a URL")
	}
	if u.User != nil {
		return nil, fmt.Errorf("chinsert: endpoint %s://%s: put credentials in username and password, not in the URL", u.Scheme, u.Host)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("chinsert: endpoint %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("chinsert: endpoint %q: no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("chinsert: endpoint %s://%s%s: no query string or fragment", u.Scheme, u.Host, u.EscapedPath())
	}
	name := u.Scheme + "://" + u.Host + strings.TrimSuffix(u.EscapedPath(), "/")
	return &endpoint{name: name, base: name + "/"}, nil
}

// Close releases the idle connections. Calls made after Close return ErrClosed; calls in
// flight finish, and their connections close when they are done. Close is idempotent.
func (c *Client) Close() error {
	c.closed.Store(true)
	c.transport.CloseIdleConnections()
	return nil
}

// EndpointStatus is one endpoint's health, for telemetry and logs.
type EndpointStatus struct {
	// Endpoint is the URL without credentials.
	Endpoint string
	// Up is false while the endpoint is skipped after a failure.
	Up bool
	// DownUntil is when a down endpoint is tried again.
	DownUntil time.Time
	// Failures counts consecutive failed attempts; a success resets it.
	Failures int64
	// Requests and Errors count attempts against this endpoint and those that failed, of
	// any kind, since New.
	Requests, Errors uint64
}

// Endpoints returns the health of every endpoint, in Options.Endpoints order.
func (c *Client) Endpoints() []EndpointStatus {
	now := c.now().UnixNano()
	out := make([]EndpointStatus, len(c.endpoints))
	for i, ep := range c.endpoints {
		du := ep.downUntil.Load()
		out[i] = EndpointStatus{
			Endpoint: ep.name,
			Up:       du <= now,
			Failures: ep.failures.Load(),
			Requests: ep.requests.Load(),
			Errors:   ep.errors.Load(),
		}
		if du > now {
			out[i].DownUntil = time.Unix(0, du)
		}
	}
	return out
}

// pick returns the index of the endpoint to try next among those not in tried: the first
// that is up, in round-robin order from start. If none is up and the call has not tried any
// endpoint yet, it returns the one whose backoff ends first, so a call reaches a server when
// one may be back, while a call never spends more than one attempt on endpoints that are
// down. It returns -1 when there is nothing left to try.
func (c *Client) pick(start int, tried uint64, now int64) int {
	n := len(c.endpoints)
	best, bestUntil := -1, int64(0)
	for k := range n {
		i := (start + k) % n
		if tried&(1<<i) != 0 {
			continue
		}
		du := c.endpoints[i].downUntil.Load()
		if du <= now {
			return i
		}
		if best < 0 || du < bestUntil {
			best, bestUntil = i, du
		}
	}
	if tried != 0 {
		return -1
	}
	return best
}

// markDown records a failed attempt and skips the endpoint for a backoff that doubles with
// consecutive failures.
func (c *Client) markDown(ep *endpoint) {
	f := ep.failures.Add(1)
	d := c.opts.Backoff
	for i := int64(1); i < f && d < c.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.opts.MaxBackoff)
	ep.downUntil.Store(c.now().Add(d).UnixNano())
}

// markUp records that the endpoint answered.
func (c *Client) markUp(ep *endpoint) {
	if ep.failures.Load() != 0 {
		ep.failures.Store(0)
	}
	if ep.downUntil.Load() != 0 {
		ep.downUntil.Store(0)
	}
}

// start returns the round-robin position for a new call.
func (c *Client) start() int {
	return int((c.next.Add(1) - 1) % uint64(len(c.endpoints)))
}

// setAuth adds the credential headers.
func (c *Client) setAuth(h http.Header) {
	if c.user != "" {
		h["X-Clickhouse-User"] = []string{c.user}
		if c.key != "" {
			h["X-Clickhouse-Key"] = []string{c.key}
		}
	}
}
