package opencost

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readAll reads every allocation, copying each, and collects the entry errors.
func readAll(t *testing.T, in io.Reader) ([]Allocation, []*EntryError, error) {
	t.Helper()
	rd, err := NewReader(in)
	if err != nil {
		return nil, nil, err
	}
	defer rd.Close()
	var out []Allocation
	var bad []*EntryError
	for {
		a, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out, bad, nil
		}
		var ee *EntryError
		if errors.As(err, &ee) {
			bad = append(bad, ee)
			continue
		}
		if err != nil {
			return out, bad, err
		}
		c := *a
		c.LabelKeys = append([]string(nil), a.LabelKeys...)
		c.LabelValues = append([]string(nil), a.LabelValues...)
		out = append(out, c)
	}
}

func TestReader_Fixture(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/allocation_namespace.json")
	require.NoError(t, err)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(data)
	require.NoError(t, zw.Close())
	for name, in := range map[string][]byte{"plain": data, "gzip": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			allocs, bad, err := readAll(t, bytes.NewReader(in))
			require.NoError(t, err)
			assert.Empty(t, bad)
			require.Len(t, allocs, 6)
			d1 := time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC)
			byName := map[string]Allocation{}
			var total float64
			for _, a := range allocs {
				total += a.TotalCost
				if a.WindowStart.Equal(d1) {
					byName[a.Name] = a
				}
			}
			assert.InDelta(t, 12.4, total, 1e-9)
			shop := byName["shop"]
			assert.Equal(t, Allocation{
				Name: "shop", WindowStart: d1, WindowEnd: d1.Add(24 * time.Hour),
				Cluster: "cluster-one", Node: "node-a", Namespace: "shop",
				Minutes: 1440, CPUCoreRequestAverage: 0.5, CPUCoreUsageAverage: 0.175,
				RAMByteRequestAverage: 536870912, RAMByteUsageAverage: 375809638,
				CPUCost: 1.2, RAMCost: 0.8, PVCost: 0.2, NetworkCost: 0.1, LoadBalancerCost: 0.15, SharedCost: 0.05,
				TotalCost: 2.5, CPUEfficiency: 0.35, RAMEfficiency: 0.7, TotalEfficiency: 0.525,
				LabelKeys: []string{"app", "team"}, LabelValues: []string{"shop", "web"},
			}, shop)
			idle := byName["__idle__"]
			assert.True(t, idle.IsIdle)
			assert.False(t, shop.IsIdle)
			assert.Equal(t, 0.0, idle.CPUEfficiency, "null efficiency reads as 0")
			assert.InDelta(t, 3.0, idle.TotalCost, 1e-9)
			assert.Empty(t, idle.Namespace)
		})
	}
}

func TestReader_Shapes(t *testing.T) {
	t.Parallel()
	entry := `{"name": "%s", "properties": {"cluster": "c", "namespace": "n", "controller": "web", "controllerKind": "deployment",
		"pod": "web-1", "container": "app", "allocationLabels": {"b": "2", "a": "1"}},
		"window": {"start": "2024-09-01T00:00:00Z", "end": "2024-09-01T01:00:00Z"}, "totalCost": 1.5, "pvs": {"x": {}}}`
	one := func(name string) string { return strings.Replace(entry, "%s", name, 1) }
	for name, in := range map[string]string{
		"code after data":   `{"data": [{"c/n/web-1": ` + one("c/n/web-1") + `}], "code": 200, "status": "success"}`,
		"bare data array":   `[null, {"c/n/web-1": ` + one("c/n/web-1") + `}]`,
		"data is one set":   `{"code": 200, "data": {"c/n/web-1": ` + one("c/n/web-1") + `}}`,
		"name from the key": `{"code": 200, "data": [{"c/n/web-1": ` + one("") + `}]}`,
	} {
		allocs, bad, err := readAll(t, strings.NewReader(in))
		require.NoError(t, err, name)
		assert.Empty(t, bad, name)
		require.Len(t, allocs, 1, name)
		a := allocs[0]
		assert.Equal(t, "c/n/web-1", a.Name, name)
		assert.Equal(t, []string{"deployment", "web", "web-1", "app"}, []string{a.ControllerKind, a.Controller, a.Pod, a.Container}, name)
		assert.Equal(t, []string{"a", "b"}, a.LabelKeys, name)
		assert.Equal(t, []string{"1", "2"}, a.LabelValues, name)
		assert.Equal(t, time.Hour, a.WindowEnd.Sub(a.WindowStart), name)
	}

	allocs, _, err := readAll(t, strings.NewReader(`{"code":200,"data":[{"cluster-one/__idle__": `+one("cluster-one/__idle__")+
		`, "__unallocated__": `+one("__unallocated__")+`}]}`))
	require.NoError(t, err)
	require.Len(t, allocs, 2)
	assert.True(t, allocs[0].IsIdle, "cluster/__idle__ is idle")
	assert.False(t, allocs[1].IsIdle)

	// Bad entries are skipped with a reason; the rest are kept.
	in := `{"code": 200, "data": [{"a": ` + one("a") + `, "b": {"name": "b", "window": {"start": "yesterday", "end": null}},
		"c": {"name": "c", "totalCost": "lots"}, "d": {"name": "d", "window": {"start": "2024-09-02T00:00:00Z", "end": "2024-09-01T00:00:00Z"}},
		"e": ` + one("e") + `}]}`
	allocs, bad, err := readAll(t, strings.NewReader(in))
	require.NoError(t, err)
	assert.Len(t, allocs, 2)
	var reasons []string
	for _, e := range bad {
		reasons = append(reasons, e.Error())
	}
	assert.Equal(t, []string{
		`set 0, allocation "b": window start: "yesterday" is not an RFC 3339 time`,
		`set 0, allocation "c": json: cannot unmarshal string into Go struct field allocationJSON.totalCost of type float64`,
		`set 0, allocation "d": window ends before it starts`,
	}, reasons)
}

func TestReader_Errors(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ in, want string }{
		"empty":          {"", "not an OpenCost allocation response: the input is empty"},
		"CSV":            {"a,b\n1,2\n", "not an OpenCost allocation response"},
		"no data":        {`{"code": 200}`, "no data member"},
		"error response": {`{"code": 400, "message": "window: invalid", "data": null}`, "OpenCost answered code 400: window: invalid"},
		"truncated":      {`{"code": 200, "data": [{"a": {"name": "a", "window": {"sta`, "unexpected EOF"},
		"data is text":   {`{"code": 200, "data": "nope"}`, "data is neither an array nor an object"},
	} {
		_, _, err := readAll(t, strings.NewReader(tc.in))
		assert.ErrorContains(t, err, tc.want, name)
	}
}
