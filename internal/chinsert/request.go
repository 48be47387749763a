package chinsert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// body is what each attempt sends: a slice, a ReaderAt read from offset 0, or a stream read
// once.
type body struct {
	b      []byte
	at     io.ReaderAt
	stream io.Reader
	size   int64 // -1: unknown (a stream), sent chunked
}

func (b *body) rereadable() bool { return b.stream == nil }

// reader returns a reader positioned at the start of the body.
func (b *body) reader() io.Reader {
	switch {
	case b.b != nil:
		return bytes.NewReader(b.b)
	case b.at != nil:
		return io.NewSectionReader(b.at, 0, b.size)
	default:
		return b.stream
	}
}

// tracker follows the request bodies of one attempt: how many bytes the transport read from
// them, and whether it closed all of them. The transport reads and closes a body from its
// own goroutine, possibly after Do returned; waiting for the close keeps the caller's buffer
// the caller's once a call returns.
type tracker struct {
	read atomic.Int64

	mu   sync.Mutex
	open int
	idle chan struct{} // made by wait, closed when open drops to 0
}

// trackedBody is one request body handed to the transport.
type trackedBody struct {
	t      *tracker
	r      io.Reader
	closed bool // guarded by t.mu
}

func (t *tracker) wrap(r io.Reader) io.ReadCloser {
	t.mu.Lock()
	t.open++
	t.mu.Unlock()
	return &trackedBody{t: t, r: r}
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.t.read.Add(int64(n))
	return n, err
}

// Close releases the body; it never closes the caller's reader.
func (b *trackedBody) Close() error {
	t := b.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	t.open--
	if t.open == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
	return nil
}

// bodyCloseWait bounds wait. The transport closes a body as soon as its connection fails or
// its write ends, which the attempt's own timeout forces; this only guards against a hang.
const bodyCloseWait = 30 * time.Second

// wait returns once the transport closed every body, or after bodyCloseWait.
func (t *tracker) wait() {
	t.mu.Lock()
	if t.open == 0 {
		t.mu.Unlock()
		return
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	idle := t.idle
	t.mu.Unlock()
	timer := time.NewTimer(bodyCloseWait)
	defer timer.Stop()
	select {
	case <-idle:
	case <-timer.C:
	}
}

// Limits on what an attempt keeps of an answer.
const (
	// errorBodyLimit bounds what is read of an error answer: exception texts are short.
	errorBodyLimit = 64 << 10
	// insertBodyLimit bounds a successful INSERT's answer, normally empty.
	insertBodyLimit = 64 << 10
)

// result is one attempt's outcome.
type result struct {
	data []byte
	err  error
	// sent is true when the transport read some of the body: the server may have it.
	sent bool
	// endpointDown is true when the endpoint, not the request, failed: no connection, no
	// answer, or a 5xx without a ClickHouse code.
	endpointDown bool
}

// send makes one attempt against ep. limit bounds the answer kept on success; insert says
// the request is an INSERT.
func (c *Client) send(ctx context.Context, ep *endpoint, rawQuery string, bd *body, queryID string, limit int64, insert bool) result {
	actx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	t := &tracker{}
	req, err := http.NewRequestWithContext(actx, http.MethodPost, ep.base+"?"+rawQuery, nil)
	if err != nil {
		return result{err: fmt.Errorf("%w: %v", ErrInvalidRequest, err)}
	}
	req.Body = t.wrap(bd.reader())
	req.ContentLength = bd.size
	if bd.rereadable() {
		// Lets the transport resend on a kept-alive connection that turns out closed before
		// anything was written to it.
		req.GetBody = func() (io.ReadCloser, error) { return t.wrap(bd.reader()), nil }
	}
	c.setAuth(req.Header)
	ep.requests.Add(1)

	resp, err := c.hc.Do(req)
	if err != nil {
		cancel()
		t.wait()
		return result{err: c.netError(ctx, actx, ep, t, err), sent: t.read.Load() > 0, endpointDown: true}
	}
	success := resp.StatusCode >= 200 && resp.StatusCode < 300
	keep := limit
	if !success {
		keep = errorBodyLimit
	}
	data, tooLong, rerr := readAtMost(resp.Body, keep, resp.ContentLength)
	_ = resp.Body.Close()
	cancel()
	t.wait()
	sent := t.read.Load() > 0
	if rerr != nil {
		return result{err: c.netError(ctx, actx, ep, t, rerr), sent: sent, endpointDown: true}
	}
	if !success {
		e := parseError(ep.name, resp.StatusCode, resp.Header, data)
		e.QueryID = queryID
		return result{err: e, sent: sent, endpointDown: e.Code == 0 && e.Status >= 500}
	}
	if tooLong && !insert {
		return result{err: fmt.Errorf("%w: %s answered more than %d bytes", ErrResponseTooLarge, ep.name, limit), sent: sent}
	}
	// Settings such as send_progress_in_http_headers make the server send its headers
	// early; an exception then follows in the body of a 200. An INSERT answers nothing
	// else. (Query asks for wait_end_of_query=1, which holds the answer until the end.)
	if insert && len(data) > 0 {
		if _, _, ok := parseException(data); ok {
			e := parseError(ep.name, resp.StatusCode, resp.Header, data)
			e.QueryID = queryID
			return result{err: e, sent: sent}
		}
	}
	return result{data: data, sent: sent}
}

// readAtMost reads r to its end, keeping at most limit bytes; tooLong says there were more
// (and r was not read to the end).
func readAtMost(r io.Reader, limit, contentLength int64) (data []byte, tooLong bool, err error) {
	var buf bytes.Buffer
	if contentLength > 0 && contentLength <= limit {
		buf.Grow(int(contentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, false, err
	}
	if n > limit {
		return buf.Bytes()[:limit], true, nil
	}
	return buf.Bytes(), false, nil
}

// netError describes an attempt that got no answer. ctx is the caller's context, actx the
// attempt's (ctx plus RequestTimeout).
func (c *Client) netError(ctx, actx context.Context, ep *endpoint, t *tracker, err error) *NetError {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its message repeats the whole URL, query included
	}
	ne := &NetError{Endpoint: ep.name, Sent: t.read.Load() > 0, Err: err}
	switch {
	case ctx.Err() != nil:
		ne.Err = ctx.Err()
		ne.Timeout = errors.Is(ctx.Err(), context.DeadlineExceeded)
	case errors.Is(actx.Err(), context.DeadlineExceeded):
		ne.Timeout = true
		ne.Err = fmt.Errorf("no answer within %v: %w", c.opts.RequestTimeout, context.DeadlineExceeded)
	default:
		var nerr net.Error
		if errors.As(err, &nerr) && nerr.Timeout() {
			ne.Timeout = true
		}
	}
	return ne
}

// run sends the request to one endpoint after another until one answers. It moves on to the
// next endpoint only after an endpoint failure (no connection, no answer, a codeless 5xx),
// and then only if the body can be sent again: it is re-readable (or a stream not yet read)
// and either this attempt cannot have delivered it or resend allows a duplicate. Each
// endpoint is tried at most once per call.
func (c *Client) run(ctx context.Context, rawQuery string, bd *body, queryID string, limit int64, insert, resend bool) ([]byte, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	start := c.start()
	var tried uint64
	var earlier []string
	var last error
	for {
		i := c.pick(start, tried, c.now().UnixNano())
		if i < 0 {
			break
		}
		tried |= 1 << i
		ep := c.endpoints[i]
		r := c.send(ctx, ep, rawQuery, bd, queryID, limit, insert)
		if r.err == nil {
			c.markUp(ep)
			return r.data, nil
		}
		ep.errors.Add(1)
		last = r.err
		if ctx.Err() != nil {
			break // the caller gave up; the endpoint is not to blame
		}
		if !r.endpointDown {
			if _, ok := r.err.(*Error); ok {
				c.markUp(ep) // it answered
			}
			break
		}
		c.markDown(ep)
		if r.sent && (!resend || !bd.rereadable()) {
			break
		}
		earlier = append(earlier, r.err.Error())
	}
	if len(earlier) > 0 {
		return nil, fmt.Errorf("%w (after: %s)", last, strings.Join(earlier, "; "))
	}
	return nil, last
}
