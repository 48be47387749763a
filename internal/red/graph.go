package red

import (
	"context"
	"encoding/binary"
	"math/bits"
	"time"

	"github.com/weirhq/weir/internal/model"
)

// Connection types of an edge.
const (
	connDirect    = ""          // a client span paired with the server span of the callee
	connMessaging = "messaging" // a producer paired with a consumer, or a client of a broker
	connDatabase  = "database"  // a client span with db.system and no server span
	connVirtual   = "virtual"   // a client span naming a peer that sends no spans
)

// hash mixes the key into 64 bits: trace and span IDs are random, so their words xored and
// multiplied spread well.
func (k halfKey) hash() uint64 {
	a := binary.LittleEndian.Uint64(k.trace[:8])
	b := binary.LittleEndian.Uint64(k.trace[8:])
	c := binary.LittleEndian.Uint64(k.span[:])
	return (a ^ bits.RotateLeft64(b, 31) ^ c*0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9
}

// halfKey identifies an edge by the client (or producer) span: the server side finds it
// through its parent span ID.
type halfKey struct {
	trace [16]byte
	span  [8]byte
}

// half is one side of an edge waiting for the other.
type half struct {
	key      halfKey
	isClient bool
	service  string
	peer     *peer // for clients: the virtual node to use if no server answers
	peerType string
	producer bool
	failed   bool
	// inMap: pending holds this half under its key's hash. A later half under the same key
	// takes the entry (inMap false here then), so expiring this one must not delete it, and
	// knowing that saves the lookup that would tell.
	inMap   bool
	dur     float64
	w       float64
	end     int64
	arrived time.Time
	gen     uint32 // moves on each time the half is released, outdating its order entries
}

// orderRef is a half in arrival order; stale once the half was released (paired or expired).
type orderRef struct {
	h   *half
	gen uint32
}

func (r orderRef) live() bool { return r.h.gen == r.gen }

// peer is a virtual node name (an interned attribute value) and what the graph has learned
// of the calls that name it.
type peer struct {
	name string
	// unanswered counts the client halves naming this peer settled in a row without a server
	// half. At SilentPeerAfter the peer is silent: nothing answers it, and its calls become
	// virtual edges as they arrive instead of after wait_time in pending.
	unanswered int
	calls      uint32 // calls while silent, to pick the probes
	// The edge this peer's last silent call went to, valid while edgeGen is the graph's:
	// calls of one client in one window find it without hashing the edge's key.
	edgeKey edgeKey
	edge    *hist
	edgeGen uint32
}

// probeEvery: one call in probeEvery to a silent peer still waits in pending, so that a peer
// that starts answering (newly instrumented, or named differently from its service) is heard
// within probeEvery x SilentPeerAfter calls at most.
const probeEvery = 64

type edgeKey struct {
	window int64
	client string
	server string
	conn   string
	failed bool
}

// graph pairs client and server spans into edges. Not safe for concurrent use: the
// connector's mutex guards it.
type graph struct {
	cfg    *ServiceGraphConfig
	window int64
	// pending is by the key's hash (halfKey.hash): a 64-bit key takes the map's fast path and
	// half the memory of the 24-byte key, and these lookups are most of RED's cost. The half
	// holds its full key; a hash that matches another key (about 1 in 2^64) is no pair.
	pending map[uint64]*half
	order   []orderRef // arrival order, for expiry
	head    int
	free    []*half // released halves, for reuse: no allocation per half edge in the steady state
	freeLow int     // the fewest free halves since the last expire: those below were not needed
	edges   map[edgeKey]*hist
	edgeGen uint32           // moves on at each emit, outdating the peers' cached edges
	peers   map[string]*peer // virtual peer names, interned, with what is learned of each
	// Half edges settled without their other half since the last flush, by side: counted
	// once per flush rather than one telemetry call each.
	unpairedClient, unpairedServer int64
	evicted                        int64 // half edges settled early at max_pending since the last flush
	silentCalls                    int64 // client halves to silent peers, recorded at once (tests)
}

func newGraph(cfg *ServiceGraphConfig, window time.Duration) *graph {
	return &graph{cfg: cfg, window: int64(window), pending: map[uint64]*half{}, edges: map[edgeKey]*hist{},
		peers: map[string]*peer{}}
}

// peerOf is the virtual node a client or producer span names (peerOf its attributes), nil
// for other spans.
func (g *graph) peerOf(a *Aggregator, sp *span) (*peer, string) {
	switch sp.kind {
	case model.SpanKindClient, model.SpanKindProducer:
		return g.virtualPeer(a, sp.attrs, a.cfg.ServiceGraph.VirtualNodeAttributes, sp.kind == model.SpanKindProducer)
	}
	return nil, ""
}

// add takes one span of service, whose peer (peerOf) is p of type peerType.
func (g *graph) add(sp *span, service string, now time.Time, p *peer, peerType string) {
	var h half
	switch sp.kind {
	case model.SpanKindClient, model.SpanKindProducer:
		h.key = halfKey{sp.traceID, sp.spanID}
		h.isClient = true
		h.producer = sp.kind == model.SpanKindProducer
		h.peer, h.peerType = p, peerType
	case model.SpanKindServer, model.SpanKindConsumer:
		if p := g.peers[service]; p != nil {
			// A service answering under the name its callers give it is not silent.
			p.unanswered = 0
		}
		if sp.parentID == ([8]byte{}) {
			return // called from outside the traced world
		}
		h.key = halfKey{sp.traceID, sp.parentID}
		h.producer = sp.kind == model.SpanKindConsumer
	default:
		return
	}
	h.service = service
	h.failed = sp.status == statusError
	h.dur = float64(int64(sp.end) - int64(sp.start))
	h.w = sp.weight
	h.end = int64(sp.end)
	h.arrived = now
	if p := h.peer; p != nil && g.cfg.SilentPeerAfter > 0 && p.unanswered >= g.cfg.SilentPeerAfter {
		// Calls to a database, a cache or an external API never pair: waiting wait_time in
		// pending for each (a map of rate x wait_time entries, every access a cache miss)
		// was most of RED's cost, to produce the same virtual edge in the same window.
		if p.calls++; p.calls%probeEvery != 0 {
			k := g.edgeKey(&h, p.name, h.peerType, h.failed)
			if p.edge == nil || p.edgeGen != g.edgeGen || p.edgeKey != k {
				p.edge, p.edgeKey, p.edgeGen = g.edgeFor(k), k, g.edgeGen
			}
			p.edge.add(h.dur, h.w)
			g.silentCalls++
			return
		}
	}

	hk := h.key.hash()
	if other, ok := g.pending[hk]; ok && other.isClient != h.isClient && other.key == h.key {
		client, server := other, &h
		if h.isClient {
			client, server = &h, other
		}
		conn := connDirect
		if client.producer || server.producer {
			conn = connMessaging
		}
		g.record(client, server.service, conn, client.failed || server.failed)
		if client.peer != nil {
			client.peer.unanswered = 0
		}
		delete(g.pending, hk)
		g.release(other)
		return
	} else if ok {
		other.inMap = false // the entry is this half's from here on
	}
	// Half edges that waited wait_time are settled as new ones come, a few at a time, so that
	// pending stays near rate x wait_time between flushes; max_pending evicts only beyond that.
	g.settle(now, false, 4, 4096)
	for len(g.pending) >= g.cfg.MaxPending {
		// An evicted client half with a peer becomes the same virtual edge that a silent
		// peer's call does, so it counts as unanswered: at the rates that fill pending (a
		// client span rate over max_pending / wait_time, 50k/s by default) no half lives
		// wait_time, and without this no peer would turn silent exactly when the pending
		// map costs most (at 500k spans/s it was most of RED's CPU).
		g.evicted++
		g.expireOne(true)
	}
	hp := g.newHalf()
	h.gen = hp.gen
	h.inMap = true
	*hp = h
	g.pending[hk] = hp
	g.order = append(g.order, orderRef{hp, hp.gen})
}

// record adds one call of client to server, weighted by the client span's weight, in the
// window of the client span's end time.
func (g *graph) record(client *half, server, conn string, failed bool) {
	g.edgeFor(g.edgeKey(client, server, conn, failed)).add(client.dur, client.w)
}

func (g *graph) edgeKey(client *half, server, conn string, failed bool) edgeKey {
	return edgeKey{window: client.end - client.end%g.window, client: client.service, server: server, conn: conn, failed: failed}
}

// edgeFor is the histogram of edge k since the last emit.
func (g *graph) edgeFor(k edgeKey) *hist {
	e, ok := g.edges[k]
	if !ok {
		e = &hist{}
		g.edges[k] = e
	}
	return e
}

// expire settles half edges that waited wait_time (all of them when final): a client with a
// peer attribute becomes an edge to a virtual node, anything else is counted unpaired.
func (g *graph) expire(now time.Time, final bool, tel *telemetry) {
	g.settle(now, final, -1, 1024)
	// Drop the free halves no half edge needed since the last expire (after a burst), all
	// but a few: they are at the bottom of the stack.
	if g.unpairedClient > 0 {
		tel.unpaired("client", g.unpairedClient)
	}
	if g.unpairedServer > 0 {
		tel.unpaired("server", g.unpairedServer)
	}
	if g.evicted > 0 {
		tel.pendingEvicted.Add(context.Background(), g.evicted)
	}
	g.unpairedClient, g.unpairedServer, g.evicted = 0, 0, 0
	if drop := min(g.freeLow, len(g.free)-1024); drop > 0 {
		n := copy(g.free, g.free[drop:])
		clear(g.free[n:])
		g.free = g.free[:n]
	}
	g.freeLow = len(g.free)
}

// settle expires, oldest first, up to limit (all when negative) half edges that waited
// wait_time, or every one when final, then drops the order's settled front once more than
// compactAt entries and half of it are.
func (g *graph) settle(now time.Time, final bool, limit, compactAt int) {
	for settled := 0; (limit < 0 || settled < limit) && g.head < len(g.order); {
		r := g.order[g.head]
		if !r.live() {
			g.order[g.head] = orderRef{}
			g.head++
			continue
		}
		waited := now.Sub(r.h.arrived) >= g.cfg.WaitTime
		if !final && !waited {
			break
		}
		g.expireOne(waited)
		settled++
	}
	if g.head > compactAt && g.head > len(g.order)/2 {
		n := copy(g.order, g.order[g.head:])
		clear(g.order[n:])
		g.order, g.head = g.order[:n], 0
	}
}

// newHalf is a zero half, reused if one is free.
func (g *graph) newHalf() *half {
	n := len(g.free)
	if n == 0 {
		g.freeLow = 0
		return new(half)
	}
	h := g.free[n-1]
	g.free = g.free[:n-1]
	g.freeLow = min(g.freeLow, n-1)
	return h
}

// release makes h, settled and out of pending, free for reuse; its order entry goes stale.
func (g *graph) release(h *half) {
	*h = half{gen: h.gen + 1}
	g.free = append(g.free, h)
}

// expireOne settles the oldest half edge. unanswered: it waited wait_time for its other
// half, or was evicted at max_pending, and a client's peer counts it as unanswered (one
// settled at shutdown tells nothing of the peer).
func (g *graph) expireOne(unanswered bool) {
	for g.head < len(g.order) {
		r := g.order[g.head]
		g.order[g.head] = orderRef{}
		g.head++
		if !r.live() {
			continue
		}
		h := r.h
		// Another half may wait under the same key (two consumers of one producer, a span
		// sent twice): only this half's own entry goes.
		if h.inMap {
			delete(g.pending, h.key.hash())
		}
		switch {
		case h.isClient && h.peer != nil:
			if unanswered {
				h.peer.unanswered++
			}
			g.record(h, h.peer.name, h.peerType, h.failed)
		case h.isClient:
			g.unpairedClient++
		default:
			g.unpairedServer++
		}
		g.release(h)
		return
	}
}

// virtualPeer names the node a client span calls when that node sends no spans: the first
// of keys the span has, not empty. Names are interned: a half edge keeps its peer.
func (g *graph) virtualPeer(a *Aggregator, at attrs, keys []string, producer bool) (*peer, string) {
	for _, k := range keys {
		t, ok := a.get(at, k)
		if !ok || len(t) == 0 {
			continue
		}
		p, ok := g.peers[bstr(t)]
		if !ok {
			if len(g.peers) >= maxPeers {
				clear(g.peers) // a runaway attribute: start over rather than grow
			}
			p = &peer{name: string(t)}
			g.peers[p.name] = p
		}
		switch {
		case k == "db.system":
			return p, connDatabase
		case k == "messaging.system" || producer:
			return p, connMessaging
		default:
			return p, connVirtual
		}
	}
	return nil, ""
}

// maxPeers bounds the interned peer names.
const maxPeers = 100_000

// statusError is opentelemetry.proto.trace.v1.Status.StatusCode STATUS_CODE_ERROR.
const statusError = 2

// emit gives the accumulated edges to out and resets them.
func (g *graph) emit(out Output, hist *Histogram) int {
	for k, h := range g.edges {
		h.export(hist)
		out.Edge(&EdgeRow{Window: k.window, Client: k.client, Server: k.server, Conn: k.conn, Failed: k.failed, Hist: hist})
	}
	n := len(g.edges)
	clear(g.edges)
	g.edgeGen++
	return n
}
