package costmap

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weirhq/weir/rollup"
)

// Amount is money in whole nano-units (1e-9) of the bill's currency. Sums of Amounts are
// exact, which is what lets a Result balance to the last unit.
type Amount int64

// AmountScale is how many Amount units make one unit of currency.
const AmountScale = 1e9

// ToAmount rounds f units of currency to the nearest Amount. ok is false when f is not
// finite or does not fit (about ±9.2e9 units).
func ToAmount(f float64) (a Amount, ok bool) {
	v := math.Round(f * AmountScale)
	if math.IsNaN(v) || v >= math.MaxInt64 || v <= math.MinInt64 {
		return 0, false
	}
	return Amount(v), true
}

// Float64 is a in units of currency.
func (a Amount) Float64() float64 { return float64(a) / AmountScale }

// String formats a in units of currency with up to nine decimals.
func (a Amount) String() string { return strconv.FormatFloat(a.Float64(), 'f', -1, 64) }

// Result is the spend of a window given to services.
type Result struct {
	From, To time.Time
	// Cost is the spend column that was summed.
	Cost string
	// Currencies are the distinct BillingCurrency values of the window's spend rows; more
	// than one means the amounts add different currencies.
	Currencies []string
	// Services, by Total descending then name.
	Services []ServiceCost
	// Unmapped is cost no rule gave to a service (including shared pools without callers);
	// UnmappedTop lists the largest unmapped items (by absolute cost), UnmappedItems
	// counts them all.
	Unmapped      Amount
	UnmappedTop   []UnmappedItem
	UnmappedItems int
	// Idle is the idle cost of the Kubernetes clusters (allocations marked IsIdle).
	Idle Amount
	// Shared describes how each shared resource was split.
	Shared []SharedSplit
	// Spend is the bill in the window, Kubernetes the allocations (idle included), Total
	// their sum. sum(Services[i].Total) + Unmapped + Idle == Total, exactly.
	Spend, Kubernetes, Total Amount
	// Workloads are the non-idle allocations with their costs and efficiencies, each with
	// the service a rule gave it ("" when none did), as the allocation rows group them.
	// AllocateTotals leaves it nil.
	Workloads []Workload
}

// Workload is one non-idle Kubernetes allocation of the window.
type Workload struct {
	Service                                        string
	Cluster, Namespace, ControllerKind, Controller string
	Cost, CPUCost, RAMCost                         float64
	CPUEfficiency, RAMEfficiency                   float64 // usage / request; 0 when unknown
	// Core- and byte-minutes used and requested, whose ratios are the efficiencies; they
	// add up across rows of one controller.
	CPUUsageMinutes, CPURequestMinutes, RAMUsageMinutes, RAMRequestMinutes float64
}

// ServiceCost is what one service is charged.
type ServiceCost struct {
	Service string
	// Direct is spend mapped by a rule, Shared its part of shared resources, Kubernetes its
	// workloads' allocations; Total their sum.
	Direct, Shared, Kubernetes, Total Amount
}

// UnmappedItem is a resource (spend) or workload (allocation) whose cost went unmapped.
type UnmappedItem struct {
	Source string // "spend" or "kubernetes"
	// Spend: the resource.
	ResourceID, ResourceName, CloudService, SubAccountID string
	// Kubernetes: the workload.
	Cluster, Namespace, Controller string
	Reason                         string
	Cost                           Amount
}

// SharedSplit is the split of one shared resource's pool.
type SharedSplit struct {
	Name, Node, SplitBy string
	Cost                Amount // the pool: every matching spend row
	Resources           int    // distinct matching resource IDs
	Shares              []Share
	// Unallocated says why the pool went to Unmapped; empty when it was split.
	Unallocated string
}

// Share is one service's part of a shared resource.
type Share struct {
	Service string
	Weight  uint64 // calls, requests, or 1 (even)
	Cost    Amount
}

// Allocate gives the spend and Kubernetes allocations of [from, to) to services by cfg (see
// the package doc). It reads through rollup: SpendByResource, AllocationByController,
// CallsToNode and RequestsByService.
func Allocate(ctx context.Context, conn driver.Conn, database string, cfg Config, from, to time.Time) (Result, error) {
	return allocate(ctx, conn, database, cfg, from, to, true)
}

// AllocateTotals is Allocate without Result.Workloads, for a caller that reads only what
// each service is charged (a report's days and its previous week).
func AllocateTotals(ctx context.Context, conn driver.Conn, database string, cfg Config, from, to time.Time) (Result, error) {
	return allocate(ctx, conn, database, cfg, from, to, false)
}

func allocate(ctx context.Context, conn driver.Conn, database string, cfg Config, from, to time.Time, workloads bool) (Result, error) {
	cc, err := cfg.compile()
	if err != nil {
		return Result{}, err
	}
	if !from.Before(to) {
		return Result{}, fmt.Errorf("costmap: empty window [%s, %s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	spend, err := rollup.SpendByResource(ctx, conn, database, cc.cost, from, to)
	if err != nil {
		return Result{}, err
	}
	allocs, err := rollup.AllocationByController(ctx, conn, database, from, to)
	if err != nil {
		return Result{}, err
	}
	a := newAllocation(cc, from, to)
	a.workloads = workloads
	if err := a.addSpend(spend); err != nil {
		return Result{}, err
	}
	if err := a.addAllocations(allocs); err != nil {
		return Result{}, err
	}
	if err := a.splitShared(ctx, conn, database); err != nil {
		return Result{}, err
	}
	return a.result(), nil
}

// allocation is the state of one Allocate call.
type allocation struct {
	cc       *compiled
	res      Result
	services map[string]*ServiceCost
	unmapped map[UnmappedItem]Amount // key has Cost 0
	pools    []*pool
	currency map[string]bool
	// workloads says whether res.Workloads is filled.
	workloads bool
}

type pool struct {
	cs        *compiledShared
	cost      Amount
	resources map[string]bool
	items     map[UnmappedItem]Amount // for Unmapped when the pool has no callers
}

func newAllocation(cc *compiled, from, to time.Time) *allocation {
	a := &allocation{
		cc:       cc,
		res:      Result{From: from, To: to, Cost: cc.cost},
		services: map[string]*ServiceCost{},
		unmapped: map[UnmappedItem]Amount{},
		currency: map[string]bool{},
	}
	for i := range cc.shared {
		a.pools = append(a.pools, &pool{cs: &cc.shared[i], resources: map[string]bool{}, items: map[UnmappedItem]Amount{}})
	}
	return a
}

func (a *allocation) service(name string) *ServiceCost {
	s := a.services[name]
	if s == nil {
		s = &ServiceCost{Service: name}
		a.services[name] = s
	}
	return s
}

func (a *allocation) addSpend(rows []rollup.SpendResource) error {
	for i := range rows {
		r := &rows[i]
		amt, ok := ToAmount(r.Cost)
		if !ok {
			return fmt.Errorf("costmap: cost %g of resource %q does not fit an Amount", r.Cost, r.ResourceID)
		}
		a.res.Spend += amt
		if r.BillingCurrency != "" {
			a.currency[r.BillingCurrency] = true
		}
		item := UnmappedItem{Source: "spend", ResourceID: r.ResourceID, ResourceName: r.ResourceName,
			CloudService: r.ServiceName, SubAccountID: r.SubAccountID, Reason: "no rule matched"}
		if p := a.sharedPool(r); p != nil {
			p.cost += amt
			p.resources[r.ResourceID] = true
			p.items[item] += amt
			continue
		}
		if svc := a.mapSpend(r); svc != "" {
			a.service(svc).Direct += amt
			continue
		}
		a.unmapped[item] += amt
	}
	return nil
}

func (a *allocation) sharedPool(r *rollup.SpendResource) *pool {
	for _, p := range a.pools {
		cs := p.cs
		if cs.resource != nil && (cs.resource.MatchString(r.ResourceID) || (r.ResourceName != "" && cs.resource.MatchString(r.ResourceName))) {
			return p
		}
		if cs.Tag != nil {
			if v, ok := lookup(r.TagKeys, r.TagValues, cs.Tag.Key); ok && v != "" && (cs.tagValue == nil || cs.tagValue.MatchString(v)) {
				return p
			}
		}
	}
	return nil
}

func (a *allocation) mapSpend(r *rollup.SpendResource) string {
	for i := range a.cc.rules {
		rule := &a.cc.rules[i]
		switch rule.kind {
		case "tag":
			if v := firstTag(r.TagKeys, r.TagValues, rule.keys); v != "" {
				return v
			}
		case "resource":
			var s string
			if rule.field == FieldResourceID || rule.field == FieldAny {
				s = rule.serviceFrom(r.ResourceID, false)
			}
			if s == "" && (rule.field == FieldResourceName || rule.field == FieldAny) && r.ResourceName != "" {
				s = rule.serviceFrom(r.ResourceName, false)
			}
			if s != "" {
				return s
			}
		}
	}
	return ""
}

func (a *allocation) addAllocations(rows []rollup.AllocationCost) error {
	for i := range rows {
		r := &rows[i]
		amt, ok := ToAmount(r.Cost)
		if !ok {
			return fmt.Errorf("costmap: allocation cost %g of %s/%s does not fit an Amount", r.Cost, r.Namespace, r.Controller)
		}
		a.res.Kubernetes += amt
		if r.IsIdle {
			a.res.Idle += amt
			continue
		}
		svc := a.mapAllocation(r)
		if a.workloads {
			a.res.Workloads = append(a.res.Workloads, Workload{Service: svc, Cluster: r.Cluster, Namespace: r.Namespace,
				ControllerKind: r.ControllerKind, Controller: r.Controller, Cost: r.Cost, CPUCost: r.CPUCost, RAMCost: r.RAMCost,
				CPUEfficiency: r.CPUEfficiency(), RAMEfficiency: r.RAMEfficiency(),
				CPUUsageMinutes: r.CPUUsageMinutes, CPURequestMinutes: r.CPURequestMinutes,
				RAMUsageMinutes: r.RAMUsageMinutes, RAMRequestMinutes: r.RAMRequestMinutes})
		}
		if svc != "" {
			a.service(svc).Kubernetes += amt
			continue
		}
		a.unmapped[UnmappedItem{Source: "kubernetes", Cluster: r.Cluster, Namespace: r.Namespace,
			Controller: r.Controller, Reason: "no rule matched"}] += amt
	}
	return nil
}

func (a *allocation) mapAllocation(r *rollup.AllocationCost) string {
	for i := range a.cc.rules {
		rule := &a.cc.rules[i]
		switch rule.kind {
		case "tag":
			if v := firstTag(r.LabelKeys, r.LabelValues, rule.keys); v != "" {
				return v
			}
		case "kubernetes":
			if rule.cluster != nil && !rule.cluster.MatchString(r.Cluster) {
				continue
			}
			name := r.Namespace
			if rule.by == ByController {
				name = r.Controller
			}
			if name == "" {
				continue
			}
			if s := rule.serviceFrom(name, true); s != "" {
				return s
			}
		}
	}
	return ""
}

func (a *allocation) splitShared(ctx context.Context, conn driver.Conn, database string) error {
	for _, p := range a.pools {
		cs := p.cs
		sp := SharedSplit{Name: cs.Name, Node: cs.Node, SplitBy: cs.SplitBy, Cost: p.cost, Resources: len(p.resources)}
		if len(p.items) == 0 {
			a.res.Shared = append(a.res.Shared, sp)
			continue
		}
		weights, err := a.weights(ctx, conn, database, cs)
		if err != nil {
			return err
		}
		var total uint64
		for _, w := range weights {
			total += w.Weight
		}
		if total == 0 {
			sp.Unallocated = fmt.Sprintf("no %s to split by: no calls to %q in the window", cs.SplitBy, cs.Node)
			if cs.SplitBy != SplitByCalls && len(cs.Services) > 0 {
				sp.Unallocated = fmt.Sprintf("no %s of %v in the window", cs.SplitBy, cs.Services)
			}
			for it, amt := range p.items {
				it.Reason = "shared " + cs.Name + ": " + sp.Unallocated
				a.unmapped[it] += amt
			}
			a.res.Shared = append(a.res.Shared, sp)
			continue
		}
		parts := splitAmount(p.cost, weights)
		for i, w := range weights {
			if w.Weight == 0 {
				continue
			}
			sp.Shares = append(sp.Shares, Share{Service: w.Service, Weight: w.Weight, Cost: parts[i]})
			a.service(w.Service).Shared += parts[i]
		}
		a.res.Shared = append(a.res.Shared, sp)
	}
	return nil
}

// weights are the candidate services of a shared resource and their weights, sorted by name.
func (a *allocation) weights(ctx context.Context, conn driver.Conn, database string, cs *compiledShared) ([]Share, error) {
	var callers []rollup.NodeCaller
	if cs.Node != "" && (cs.SplitBy == SplitByCalls || len(cs.Services) == 0) {
		var err error
		if callers, err = rollup.CallsToNode(ctx, conn, database, cs.Node, a.res.From, a.res.To); err != nil {
			return nil, fmt.Errorf("costmap: shared %s: %w", cs.Name, err)
		}
	}
	if cs.SplitBy == SplitByCalls {
		var out []Share
		for _, c := range callers {
			if len(cs.Services) == 0 || contains(cs.Services, c.Client) {
				out = append(out, Share{Service: c.Client, Weight: c.Calls})
			}
		}
		return out, nil
	}
	names := cs.Services
	if len(names) == 0 {
		for _, c := range callers {
			names = append(names, c.Client)
		}
	}
	names = dedupSorted(names)
	out := make([]Share, len(names))
	var reqs map[string]uint64
	if cs.SplitBy == SplitByRequests && len(names) > 0 {
		var err error
		if reqs, err = rollup.RequestsByService(ctx, conn, database, names, a.res.From, a.res.To); err != nil {
			return nil, fmt.Errorf("costmap: shared %s: %w", cs.Name, err)
		}
	}
	for i, n := range names {
		out[i] = Share{Service: n, Weight: 1}
		if reqs != nil {
			out[i].Weight = reqs[n]
		}
	}
	return out, nil
}

// splitAmount splits total in proportion to the weights (not all zero), rounding to whole
// units by the largest remainder (ties to the earlier share), so the parts add up to total.
func splitAmount(total Amount, weights []Share) []Amount {
	neg := total < 0
	abs := new(big.Int).SetInt64(int64(total))
	abs.Abs(abs)
	var sum big.Int
	for _, w := range weights {
		sum.Add(&sum, new(big.Int).SetUint64(w.Weight))
	}
	parts := make([]Amount, len(weights))
	rems := make([]*big.Int, len(weights))
	var given big.Int
	for i, w := range weights {
		q, r := new(big.Int), new(big.Int)
		q.QuoRem(new(big.Int).Mul(abs, new(big.Int).SetUint64(w.Weight)), &sum, r)
		parts[i] = Amount(q.Int64())
		rems[i] = r
		given.Add(&given, q)
	}
	left := new(big.Int).Sub(abs, &given).Int64() // < len(weights)
	order := make([]int, len(weights))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool { return rems[order[x]].Cmp(rems[order[y]]) > 0 })
	for k := 0; int64(k) < left; k++ {
		parts[order[k]]++
	}
	if neg {
		for i := range parts {
			parts[i] = -parts[i]
		}
	}
	return parts
}

func (a *allocation) result() Result {
	res := a.res
	res.Total = res.Spend + res.Kubernetes
	for c := range a.currency {
		res.Currencies = append(res.Currencies, c)
	}
	sort.Strings(res.Currencies)
	for _, s := range a.services {
		s.Total = s.Direct + s.Shared + s.Kubernetes
		res.Services = append(res.Services, *s)
	}
	sort.Slice(res.Services, func(i, j int) bool {
		x, y := res.Services[i], res.Services[j]
		if x.Total != y.Total {
			return x.Total > y.Total
		}
		return x.Service < y.Service
	})
	var items []UnmappedItem
	for it, amt := range a.unmapped {
		res.Unmapped += amt
		it.Cost = amt
		items = append(items, it)
	}
	res.UnmappedItems = len(items)
	sort.Slice(items, func(i, j int) bool {
		x, y := abs(items[i].Cost), abs(items[j].Cost)
		if x != y {
			return x > y
		}
		return items[i].key() < items[j].key()
	})
	if a.cc.top > 0 && len(items) > a.cc.top {
		items = items[:a.cc.top]
	}
	if a.cc.top > 0 {
		res.UnmappedTop = items
	}
	return res
}

func (it UnmappedItem) key() string {
	return it.Source + "\x00" + it.ResourceID + "\x00" + it.ResourceName + "\x00" + it.CloudService + "\x00" +
		it.SubAccountID + "\x00" + it.Cluster + "\x00" + it.Namespace + "\x00" + it.Controller + "\x00" + it.Reason
}

func abs(a Amount) Amount {
	if a < 0 {
		return -a
	}
	return a
}

func lookup(keys, vals []string, key string) (string, bool) {
	for i, k := range keys {
		if k == key && i < len(vals) {
			return vals[i], true
		}
	}
	return "", false
}

// firstTag is the first non-empty value among keys, in the order of keys.
func firstTag(tk, tv []string, keys []string) string {
	for _, k := range keys {
		if v, ok := lookup(tk, tv, k); ok {
			if v = trim(v); v != "" {
				return v
			}
		}
	}
	return ""
}

func trim(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func dedupSorted(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	w := 0
	for i, s := range out {
		if i == 0 || s != out[w-1] {
			out[w] = s
			w++
		}
	}
	return out[:w]
}
