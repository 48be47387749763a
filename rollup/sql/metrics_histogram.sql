-- metrics_histogram: one row per explicit-bucket histogram data point.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{local "metrics_histogram"}}{{onCluster}} ({{template "metric_head" .}}
    AggregationTemporality      UInt8,
    Count                       UInt64,
    Sum                         Float64,
    HasSum                      UInt8,
    Min                         Float64,
    HasMin                      UInt8,
    Max                         Float64,
    HasMax                      UInt8,
    BucketCounts                Array(UInt64),
    ExplicitBounds              Array(Float64),{{template "metric_tail" (named . "metrics_histogram")}}
