package rollup

import "time"

// AllocationRow is one OpenCost allocation (a namespace's, controller's or pod's cost over
// one window) as the allocation table stores it, and as analyzer/opencost reads it
// (opencost.Allocation). Times are UTC.
type AllocationRow struct {
	WindowStart, WindowEnd time.Time
	// Name is the allocation's aggregate key, e.g. "kube-system" or "cluster-one/__idle__".
	Name                                                 string
	Cluster, Node, Namespace, ControllerKind, Controller string
	Pod, Container                                       string
	// IsIdle marks the idle cost of a cluster (or node): Name is __idle__ or ends in /__idle__.
	IsIdle                                                bool
	Minutes                                               float64
	CPUCoreRequestAverage, CPUCoreUsageAverage            float64
	RAMByteRequestAverage, RAMByteUsageAverage            float64
	CPUCost, GPUCost, RAMCost, PVCost, NetworkCost        float64
	LoadBalancerCost, SharedCost, ExternalCost, TotalCost float64
	CPUEfficiency, RAMEfficiency, TotalEfficiency         float64
	// LabelKeys and LabelValues are the Kubernetes labels, sorted by key; same length.
	LabelKeys, LabelValues []string
	Source                 string // the file it came from
}

// allocationTable is the allocation table's columns in the order of sql/allocation.sql.
var allocationTable = newRowTable(
	stagedTable{
		table:     TableAllocation,
		partition: "toYYYYMM(WindowStart), cityHash64(Cluster)",
		scope:     "WindowStart, WindowEnd, Cluster",
	},
	[]rowColumn[AllocationRow]{
		timeColumn("WindowStart", func(r *AllocationRow) *time.Time { return &r.WindowStart }),
		timeColumn("WindowEnd", func(r *AllocationRow) *time.Time { return &r.WindowEnd }),
		dayColumn("Date", func(r *AllocationRow) *time.Time { return &r.WindowStart }),
		stringColumn("Name", func(r *AllocationRow) *string { return &r.Name }),
		stringColumn("Cluster", func(r *AllocationRow) *string { return &r.Cluster }),
		stringColumn("Node", func(r *AllocationRow) *string { return &r.Node }),
		stringColumn("Namespace", func(r *AllocationRow) *string { return &r.Namespace }),
		stringColumn("ControllerKind", func(r *AllocationRow) *string { return &r.ControllerKind }),
		stringColumn("Controller", func(r *AllocationRow) *string { return &r.Controller }),
		stringColumn("Pod", func(r *AllocationRow) *string { return &r.Pod }),
		stringColumn("Container", func(r *AllocationRow) *string { return &r.Container }),
		boolColumn("IsIdle", func(r *AllocationRow) *bool { return &r.IsIdle }),
		float64Column("Minutes", func(r *AllocationRow) *float64 { return &r.Minutes }),
		float64Column("CpuCoreRequestAverage", func(r *AllocationRow) *float64 { return &r.CPUCoreRequestAverage }),
		float64Column("CpuCoreUsageAverage", func(r *AllocationRow) *float64 { return &r.CPUCoreUsageAverage }),
		float64Column("RamByteRequestAverage", func(r *AllocationRow) *float64 { return &r.RAMByteRequestAverage }),
		float64Column("RamByteUsageAverage", func(r *AllocationRow) *float64 { return &r.RAMByteUsageAverage }),
		float64Column("CpuCost", func(r *AllocationRow) *float64 { return &r.CPUCost }),
		float64Column("GpuCost", func(r *AllocationRow) *float64 { return &r.GPUCost }),
		float64Column("RamCost", func(r *AllocationRow) *float64 { return &r.RAMCost }),
		float64Column("PvCost", func(r *AllocationRow) *float64 { return &r.PVCost }),
		float64Column("NetworkCost", func(r *AllocationRow) *float64 { return &r.NetworkCost }),
		float64Column("LoadBalancerCost", func(r *AllocationRow) *float64 { return &r.LoadBalancerCost }),
		float64Column("SharedCost", func(r *AllocationRow) *float64 { return &r.SharedCost }),
		float64Column("ExternalCost", func(r *AllocationRow) *float64 { return &r.ExternalCost }),
		float64Column("TotalCost", func(r *AllocationRow) *float64 { return &r.TotalCost }),
		float64Column("CpuEfficiency", func(r *AllocationRow) *float64 { return &r.CPUEfficiency }),
		float64Column("RamEfficiency", func(r *AllocationRow) *float64 { return &r.RAMEfficiency }),
		float64Column("TotalEfficiency", func(r *AllocationRow) *float64 { return &r.TotalEfficiency }),
	},
	pairColumns("LabelKeys", "LabelValues", func(r *AllocationRow) ([]string, []string) { return r.LabelKeys, r.LabelValues }),
	[]rowColumn[AllocationRow]{
		stringColumn("Source", func(r *AllocationRow) *string { return &r.Source }),
		importIDColumn[AllocationRow]("ImportId"),
	},
)

func (AllocationRow) table() *rowTable[AllocationRow] { return allocationTable }

// AllocationBlock is a columnar block of allocation rows on its way to ClickHouse (see
// Block).
type AllocationBlock = Block[AllocationRow]
