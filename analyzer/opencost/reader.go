// Package opencost reads OpenCost allocation API responses (GET /allocation or
// /allocation/compute, saved as JSON, plain or gzip) as a stream of allocations:
//
//	{"code": 200, "data": [                       one set per step of the query window
//	  {"kube-system": {"name": "kube-system",
//	                   "properties": {"cluster": "...", "node": "...", "namespace": "...",
//	                                  "controller": "...", "controllerKind": "...", "pod": "...",
//	                                  "container": "...", "labels": {"app": "..."}},
//	                   "window": {"start": "2024-09-01T00:00:00Z", "end": "2024-09-02T00:00:00Z"},
//	                   "minutes": 1440, "cpuCost": 1.2, "gpuCost": 0, "ramCost": 0.4, "pvCost": 0.1,
//	                   "networkCost": 0, "loadBalancerCost": 0, "sharedCost": 0, "externalCost": 0,
//	                   "totalCost": 1.7, "cpuEfficiency": 0.3, "ramEfficiency": 0.6, "totalEfficiency": 0.4,
//	                   ...},
//	   "__idle__": {...}}]}
//
// The allocation named __idle__ (or ending in /__idle__ when aggregated by cluster or node)
// is the cluster's idle cost: Allocation.IsIdle. Numbers OpenCost could not compute are
// null (NaN on its side) and read as 0; fields the reader does not know are ignored. The
// response is decoded token by token, one allocation at a time, so memory does not grow
// with its size. A response whose code is not 200 is an error carrying its message.
package opencost

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/weirhq/weir/rollup"
)

// ErrNotOpenCost is returned for JSON that is not an allocation response.
var ErrNotOpenCost = errors.New("not an OpenCost allocation response")

// Allocation is one allocation of one window: the allocation table's row, which package
// rollup declares. The reader sets every field but Source, which the caller names. Times
// are UTC.
type Allocation = rollup.AllocationRow

// EntryError is an allocation that was skipped; Reader.Next returns it and goes on.
type EntryError struct {
	Set    int    // the index of its set in data, from 0
	Name   string // its key in the set
	Reason string
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("set %d, allocation %q: %s", e.Set, e.Name, e.Reason)
}

// Reader reads allocations from an OpenCost response. It is not safe for concurrent use.
type Reader struct {
	dec     *json.Decoder
	gz      *gzip.Reader
	state   int // where the decoder is, see next
	set     int
	bare    bool // the input is the data array alone
	single  bool // data is one set, not an array of sets
	sawData bool
	code    *int
	message string
	alloc   Allocation
	raw     allocationJSON
}

const (
	stTop  = iota // between members of the top-level object
	stData        // inside the data array, between sets
	stSet         // inside a set object, between allocations
	stDone
)

// NewReader starts reading r (gzip-compressed or not). Close releases the decompressor; it
// does not close r.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var gz *gzip.Reader
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		var err error
		if gz, err = gzip.NewReader(br); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
	}
	var in io.Reader = br
	if gz != nil {
		in = gz
	}
	rd := &Reader{dec: json.NewDecoder(in), gz: gz}
	tok, err := rd.dec.Token()
	if err != nil {
		rd.Close()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the input is empty", ErrNotOpenCost)
		}
		return nil, fmt.Errorf("%w: %v", ErrNotOpenCost, err)
	}
	switch tok {
	case json.Delim('{'):
		rd.state = stTop
	case json.Delim('['): // the data array on its own
		rd.state, rd.bare, rd.sawData = stData, true, true
	default:
		rd.Close()
		return nil, fmt.Errorf("%w: it does not start with { or [", ErrNotOpenCost)
	}
	return rd, nil
}

// Close releases the gzip decompressor, if any.
func (r *Reader) Close() error {
	if r.gz != nil {
		return r.gz.Close()
	}
	return nil
}

// Next returns the next allocation. The Allocation and its slices belong to the Reader and
// are overwritten by the next call. A malformed allocation yields an *EntryError, after
// which Next can be called again; io.EOF ends the response; any other error (malformed
// JSON, an error response, a failing input) ends it too.
func (r *Reader) Next() (*Allocation, error) {
	for {
		switch r.state {
		case stDone:
			return nil, io.EOF
		case stTop:
			if !r.dec.More() {
				if _, err := r.dec.Token(); err != nil { // the closing }
					return nil, r.syntax(err)
				}
				r.state = stDone
				if err := r.checkCode(); err != nil {
					return nil, err
				}
				if !r.sawData {
					return nil, fmt.Errorf("%w: no data member", ErrNotOpenCost)
				}
				continue
			}
			key, err := r.key()
			if err != nil {
				return nil, err
			}
			switch key {
			case "code":
				var c int
				if err := r.dec.Decode(&c); err != nil {
					return nil, r.syntax(err)
				}
				r.code = &c // checked at data and at the end, when the message may be known
			case "message":
				var m any
				if err := r.dec.Decode(&m); err != nil {
					return nil, r.syntax(err)
				}
				if s, ok := m.(string); ok {
					r.message = s
				}
			case "data":
				tok, err := r.dec.Token()
				if err != nil {
					return nil, r.syntax(err)
				}
				r.sawData = true
				if tok != nil {
					if err := r.checkCode(); err != nil {
						return nil, err
					}
				}
				switch tok {
				case json.Delim('['):
					r.state = stData
				case json.Delim('{'): // a single set
					r.state, r.single = stSet, true
				case nil:
				default:
					return nil, fmt.Errorf("%w: data is neither an array nor an object", ErrNotOpenCost)
				}
			default:
				if err := r.skip(); err != nil {
					return nil, err
				}
			}
		case stData:
			if !r.dec.More() {
				if _, err := r.dec.Token(); err != nil { // the closing ]
					return nil, r.syntax(err)
				}
				r.state = stTop
				if r.bare {
					r.state = stDone
				}
				continue
			}
			tok, err := r.dec.Token()
			if err != nil {
				return nil, r.syntax(err)
			}
			switch tok {
			case json.Delim('{'):
				r.state = stSet
			case nil: // an empty step
				r.set++
			default:
				return nil, fmt.Errorf("%w: a set in data is not an object", ErrNotOpenCost)
			}
		case stSet:
			if !r.dec.More() {
				if _, err := r.dec.Token(); err != nil { // the set's closing }
					return nil, r.syntax(err)
				}
				r.set++
				r.state = stData
				if r.single {
					r.state = stTop
				}
				continue
			}
			name, err := r.key()
			if err != nil {
				return nil, err
			}
			r.raw = allocationJSON{}
			if err := r.dec.Decode(&r.raw); err != nil {
				var te *json.UnmarshalTypeError
				if errors.As(err, &te) {
					// The value was consumed; only this allocation is lost.
					return nil, &EntryError{Set: r.set, Name: name, Reason: err.Error()}
				}
				return nil, r.syntax(err)
			}
			if err := r.convert(name); err != nil {
				return nil, err
			}
			return &r.alloc, nil
		}
	}
}

// key reads an object member's name.
func (r *Reader) key() (string, error) {
	tok, err := r.dec.Token()
	if err != nil {
		return "", r.syntax(err)
	}
	k, ok := tok.(string)
	if !ok {
		return "", r.syntax(fmt.Errorf("unexpected %v", tok))
	}
	return k, nil
}

// skip consumes one value.
func (r *Reader) skip() error {
	var v json.RawMessage
	if err := r.dec.Decode(&v); err != nil {
		return r.syntax(err)
	}
	return nil
}

func (r *Reader) checkCode() error {
	if r.code != nil && *r.code != 200 {
		msg := r.message
		if msg == "" {
			msg = "no message"
		}
		return fmt.Errorf("OpenCost answered code %d: %s", *r.code, msg)
	}
	return nil
}

func (r *Reader) syntax(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("OpenCost response at byte %d: %w", r.dec.InputOffset(), err)
}

// allocationJSON is the part of OpenCost's AllocationJSON that weir keeps.
type allocationJSON struct {
	Name       string `json:"name"`
	Properties *struct {
		Cluster          string            `json:"cluster"`
		Node             string            `json:"node"`
		Container        string            `json:"container"`
		Controller       string            `json:"controller"`
		ControllerKind   string            `json:"controllerKind"`
		Namespace        string            `json:"namespace"`
		Pod              string            `json:"pod"`
		Labels           map[string]string `json:"labels"`
		AllocationLabels map[string]string `json:"allocationLabels"` // older releases
	} `json:"properties"`
	Window struct {
		Start *string `json:"start"`
		End   *string `json:"end"`
	} `json:"window"`
	Start string `json:"start"`
	End   string `json:"end"`

	Minutes               *float64 `json:"minutes"`
	CPUCoreRequestAverage *float64 `json:"cpuCoreRequestAverage"`
	CPUCoreUsageAverage   *float64 `json:"cpuCoreUsageAverage"`
	RAMByteRequestAverage *float64 `json:"ramByteRequestAverage"`
	RAMByteUsageAverage   *float64 `json:"ramByteUsageAverage"`
	CPUCost               *float64 `json:"cpuCost"`
	GPUCost               *float64 `json:"gpuCost"`
	RAMCost               *float64 `json:"ramCost"`
	PVCost                *float64 `json:"pvCost"`
	NetworkCost           *float64 `json:"networkCost"`
	LoadBalancerCost      *float64 `json:"loadBalancerCost"`
	SharedCost            *float64 `json:"sharedCost"`
	ExternalCost          *float64 `json:"externalCost"`
	TotalCost             *float64 `json:"totalCost"`
	CPUEfficiency         *float64 `json:"cpuEfficiency"`
	RAMEfficiency         *float64 `json:"ramEfficiency"`
	TotalEfficiency       *float64 `json:"totalEfficiency"`
}

// IdleName is the name OpenCost gives idle cost (alone, or after "cluster/" or "node/").
const IdleName = "__idle__"

// convert fills r.alloc from r.raw.
func (r *Reader) convert(key string) error {
	j := &r.raw
	a := &r.alloc
	*a = Allocation{LabelKeys: a.LabelKeys[:0], LabelValues: a.LabelValues[:0]}
	a.Name = j.Name
	if a.Name == "" {
		a.Name = key
	}
	start, end := j.Start, j.End
	if j.Window.Start != nil {
		start = *j.Window.Start
	}
	if j.Window.End != nil {
		end = *j.Window.End
	}
	var err error
	if a.WindowStart, err = parseTime(start); err != nil {
		return &EntryError{Set: r.set, Name: key, Reason: "window start: " + err.Error()}
	}
	if a.WindowEnd, err = parseTime(end); err != nil {
		return &EntryError{Set: r.set, Name: key, Reason: "window end: " + err.Error()}
	}
	if a.WindowEnd.Before(a.WindowStart) {
		return &EntryError{Set: r.set, Name: key, Reason: "window ends before it starts"}
	}
	if p := j.Properties; p != nil {
		a.Cluster, a.Node, a.Namespace = p.Cluster, p.Node, p.Namespace
		a.ControllerKind, a.Controller, a.Pod, a.Container = p.ControllerKind, p.Controller, p.Pod, p.Container
		labels := p.Labels
		if len(labels) == 0 {
			labels = p.AllocationLabels
		}
		for k := range labels {
			a.LabelKeys = append(a.LabelKeys, k)
		}
		sort.Strings(a.LabelKeys)
		for _, k := range a.LabelKeys {
			a.LabelValues = append(a.LabelValues, labels[k])
		}
	}
	a.IsIdle = a.Name == IdleName || strings.HasSuffix(a.Name, "/"+IdleName)
	for _, f := range []struct {
		dst *float64
		src *float64
	}{
		{&a.Minutes, j.Minutes},
		{&a.CPUCoreRequestAverage, j.CPUCoreRequestAverage}, {&a.CPUCoreUsageAverage, j.CPUCoreUsageAverage},
		{&a.RAMByteRequestAverage, j.RAMByteRequestAverage}, {&a.RAMByteUsageAverage, j.RAMByteUsageAverage},
		{&a.CPUCost, j.CPUCost}, {&a.GPUCost, j.GPUCost}, {&a.RAMCost, j.RAMCost}, {&a.PVCost, j.PVCost},
		{&a.NetworkCost, j.NetworkCost}, {&a.LoadBalancerCost, j.LoadBalancerCost},
		{&a.SharedCost, j.SharedCost}, {&a.ExternalCost, j.ExternalCost}, {&a.TotalCost, j.TotalCost},
		{&a.CPUEfficiency, j.CPUEfficiency}, {&a.RAMEfficiency, j.RAMEfficiency}, {&a.TotalEfficiency, j.TotalEfficiency},
	} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	return nil
}

// parseTime parses an OpenCost window bound (RFC 3339) into UTC within DateTime's range.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("missing")
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
	}
	t = t.UTC()
	if t.Unix() < 0 || t.Year() > 2105 {
		return time.Time{}, fmt.Errorf("%q is outside 1970 to 2105", s)
	}
	return t, nil
}
