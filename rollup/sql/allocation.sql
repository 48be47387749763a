-- allocation: OpenCost allocations (Kubernetes cost per namespace, controller or pod and window), written by `weir spend import` (rollup.AllocationWriter). An import replaces whole (window, cluster) pairs. See rollup/SCHEMA.md.
CREATE TABLE IF NOT EXISTS {{.DB}}.allocation{{onCluster}} (
    WindowStart           DateTime('UTC'),
    WindowEnd             DateTime('UTC'),
    Date                  Date,
    Name                  String,
    Cluster               {{lc}},
    Node                  String,
    Namespace             {{lc}},
    ControllerKind        {{lc}},
    Controller            String,
    Pod                   String,
    Container             String,
    IsIdle                UInt8,
    Minutes               Float64,
    CpuCoreRequestAverage Float64,
    CpuCoreUsageAverage   Float64,
    RamByteRequestAverage Float64,
    RamByteUsageAverage   Float64,
    CpuCost               Float64,
    GpuCost               Float64,
    RamCost               Float64,
    PvCost                Float64,
    NetworkCost           Float64,
    LoadBalancerCost      Float64,
    SharedCost            Float64,
    ExternalCost          Float64,
    TotalCost             Float64,
    CpuEfficiency         Float64,
    RamEfficiency         Float64,
    TotalEfficiency       Float64,
    LabelKeys             Array({{lc}}),
    LabelValues           Array(String),
    Source                String,
    ImportId              String
) ENGINE = {{everywhere "MergeTree" "allocation"}}
PARTITION BY (toYYYYMM(WindowStart), cityHash64(Cluster))
ORDER BY (Cluster, Namespace, WindowStart)
SETTINGS index_granularity = 8192
