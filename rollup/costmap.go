package rollup

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weirhq/weir/internal/model"
)

// Cost columns of the spend table that SpendByResource can sum. EffectiveCost (amortized:
// commitment purchases spread over the usage they cover) is what FOCUS recommends for
// allocation; BilledCost is the invoice.
const (
	CostEffective  = "EffectiveCost"
	CostBilled     = "BilledCost"
	CostList       = "ListCost"
	CostContracted = "ContractedCost"
)

// SpendCostColumns lists the columns SpendByResource accepts.
var SpendCostColumns = []string{CostEffective, CostBilled, CostList, CostContracted}

// SpendResource is the spend of one resource (with one set of tags, in one account, of one
// cloud service and currency) over a window: the rows of the spend table summed.
type SpendResource struct {
	ResourceID, ResourceName, ResourceType string
	// ServiceName is the cloud service (FOCUS ServiceName), e.g. "Amazon RDS".
	ServiceName        string
	SubAccountID       string
	BillingCurrency    string
	TagKeys, TagValues []string // same length
	Cost               float64  // the sum of the chosen cost column
	Rows               uint64
}

// SpendByResource sums the spend rows whose ChargePeriodStart lies in [from, to) per
// resource, tag set, sub account, cloud service and currency. costColumn is one of
// SpendCostColumns ("" means CostEffective). A charge period that starts before from is not
// counted, even when it ends inside the window: windows should be whole charge periods
// (hours or days for usage-based bills).
func SpendByResource(ctx context.Context, conn driver.Conn, database, costColumn string, from, to time.Time) ([]SpendResource, error) {
	if err := ValidateDatabase(database); err != nil {
		return nil, err
	}
	if costColumn == "" {
		costColumn = CostEffective
	}
	if !validCostColumn(costColumn) {
		return nil, fmt.Errorf("spend by resource: cost column %q is not one of %v", costColumn, SpendCostColumns)
	}
	q := "SELECT ResourceId, ResourceName, ResourceType, ServiceName, SubAccountId, BillingCurrency, TagKeys, TagValues,\n" +
		"       sum(" + costColumn + ") AS cost, count() AS rows\n" +
		"FROM " + database + "." + TableSpend + "\n" +
		"WHERE ChargePeriodStart >= " + sqlTime(from) + " AND ChargePeriodStart < " + sqlTime(to) + "\n" +
		"GROUP BY ResourceId, ResourceName, ResourceType, ServiceName, SubAccountId, BillingCurrency, TagKeys, TagValues\n" +
		"ORDER BY ResourceId, ResourceName, ServiceName, SubAccountId, BillingCurrency, TagKeys, TagValues"
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("spend by resource: %w", err)
	}
	defer rows.Close()
	var out []SpendResource
	for rows.Next() {
		var r SpendResource
		if err := rows.Scan(&r.ResourceID, &r.ResourceName, &r.ResourceType, &r.ServiceName, &r.SubAccountID,
			&r.BillingCurrency, &r.TagKeys, &r.TagValues, &r.Cost, &r.Rows); err != nil {
			return nil, fmt.Errorf("spend by resource: scan: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("spend by resource: %w", err)
	}
	return out, nil
}

func validCostColumn(c string) bool {
	for _, s := range SpendCostColumns {
		if c == s {
			return true
		}
	}
	return false
}

// AllocationCost is the Kubernetes cost of one controller (or namespace, or pod, whatever
// the import was aggregated by) over a window: the allocation rows summed.
type AllocationCost struct {
	Cluster, Namespace, ControllerKind, Controller string
	IsIdle                                         bool
	LabelKeys, LabelValues                         []string // same length
	Cost                                           float64  // sum of TotalCost
	Rows                                           uint64
	// CPUCost and RAMCost are the sums of CpuCost and RamCost; the usage and request
	// figures are core- and byte-minutes (averages times Minutes, summed), whose ratios are
	// the efficiencies over the window.
	CPUCost, RAMCost                   float64
	CPUUsageMinutes, CPURequestMinutes float64
	RAMUsageMinutes, RAMRequestMinutes float64
}

// CPUEfficiency is CPU usage / request over the window (0 without requests).
func (r AllocationCost) CPUEfficiency() float64 { return ratio(r.CPUUsageMinutes, r.CPURequestMinutes) }

// RAMEfficiency is memory usage / request over the window (0 without requests).
func (r AllocationCost) RAMEfficiency() float64 { return ratio(r.RAMUsageMinutes, r.RAMRequestMinutes) }

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// AllocationByController sums TotalCost of the allocation rows whose WindowStart lies in
// [from, to) per cluster, namespace, controller, idleness and label set.
func AllocationByController(ctx context.Context, conn driver.Conn, database string, from, to time.Time) ([]AllocationCost, error) {
	if err := ValidateDatabase(database); err != nil {
		return nil, err
	}
	q := "SELECT Cluster, Namespace, ControllerKind, Controller, IsIdle, LabelKeys, LabelValues,\n" +
		"       sum(TotalCost) AS cost, count() AS rows, sum(CpuCost), sum(RamCost),\n" +
		"       sum(CpuCoreUsageAverage * Minutes), sum(CpuCoreRequestAverage * Minutes),\n" +
		"       sum(RamByteUsageAverage * Minutes), sum(RamByteRequestAverage * Minutes)\n" +
		"FROM " + database + "." + TableAllocation + "\n" +
		"WHERE WindowStart >= " + sqlTime(from) + " AND WindowStart < " + sqlTime(to) + "\n" +
		"GROUP BY Cluster, Namespace, ControllerKind, Controller, IsIdle, LabelKeys, LabelValues\n" +
		"ORDER BY Cluster, Namespace, ControllerKind, Controller, IsIdle, LabelKeys, LabelValues"
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("allocation by controller: %w", err)
	}
	defer rows.Close()
	var out []AllocationCost
	for rows.Next() {
		var r AllocationCost
		var idle uint8
		if err := rows.Scan(&r.Cluster, &r.Namespace, &r.ControllerKind, &r.Controller, &idle,
			&r.LabelKeys, &r.LabelValues, &r.Cost, &r.Rows, &r.CPUCost, &r.RAMCost,
			&r.CPUUsageMinutes, &r.CPURequestMinutes, &r.RAMUsageMinutes, &r.RAMRequestMinutes); err != nil {
			return nil, fmt.Errorf("allocation by controller: scan: %w", err)
		}
		r.IsIdle = idle != 0
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("allocation by controller: %w", err)
	}
	return out, nil
}

// NodeCaller is a client of a service-graph node and how many calls it made to it.
type NodeCaller struct {
	Client string
	Calls  uint64
}

// costStep is the bucket width for window totals: the day tier when the window is made of
// whole UTC days (a report's weeks and days), the hour tier for whole hours, minutes
// otherwise. Buckets are summed, so only the tier choice matters; the day tier reads about
// 24 times fewer rows for the same totals.
func costStep(from, to time.Time) time.Duration {
	switch {
	case from.Unix()%86400 == 0 && to.Unix()%86400 == 0:
		return 24 * time.Hour
	case from.Unix()%3600 == 0 && to.Unix()%3600 == 0:
		return time.Hour
	}
	return time.Minute
}

// CallsToNode sums the calls to the service-graph node server (a service, or a virtual node
// such as a database "postgresql") over [from, to) per client, reading the edges tiers
// through a Querier (edges_1h where rolled up, edges_1m for the rest). Clients are sorted by
// name; clients with no calls are left out.
func CallsToNode(ctx context.Context, conn driver.Conn, database, server string, from, to time.Time) ([]NodeCaller, error) {
	q := Querier{Conn: conn, Database: database}
	res, err := q.Query(ctx, Query{
		Signal: SignalEdges, From: from, To: to, Step: costStep(from, to),
		Servers: []string{server}, GroupBy: []string{GroupClient},
	})
	if err != nil {
		return nil, fmt.Errorf("calls to %q: %w", server, err)
	}
	sums := map[string]uint64{}
	for _, r := range res.Rows {
		sums[r.Series.Client] += r.Requests
	}
	return sortedCallers(sums), nil
}

// RequestsByService sums the requests (server and consumer spans) of each of services over
// [from, to) from the RED tiers. Services without requests are left out.
func RequestsByService(ctx context.Context, conn driver.Conn, database string, services []string, from, to time.Time) (map[string]uint64, error) {
	out := map[string]uint64{}
	if len(services) == 0 {
		return out, nil
	}
	q := Querier{Conn: conn, Database: database}
	res, err := q.Query(ctx, Query{
		Signal: SignalRED, From: from, To: to, Step: costStep(from, to),
		ServiceNames: services, SpanKinds: model.RequestKinds, GroupBy: []string{GroupService},
	})
	if err != nil {
		return nil, fmt.Errorf("requests by service: %w", err)
	}
	for _, r := range res.Rows {
		if r.Requests > 0 {
			out[r.Series.ServiceName] += r.Requests
		}
	}
	return out, nil
}

func sortedCallers(sums map[string]uint64) []NodeCaller {
	out := make([]NodeCaller, 0, len(sums))
	for c, n := range sums {
		if n > 0 {
			out = append(out, NodeCaller{Client: c, Calls: n})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Client < out[j].Client })
	return out
}
