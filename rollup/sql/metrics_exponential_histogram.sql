-- metrics_exponential_histogram: one row per base-2 exponential histogram data point.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{local "metrics_exponential_histogram"}}{{onCluster}} ({{template "metric_head" .}}
    AggregationTemporality      UInt8,
    Count                       UInt64,
    Sum                         Float64,
    HasSum                      UInt8,
    Min                         Float64,
    HasMin                      UInt8,
    Max                         Float64,
    HasMax                      UInt8,
    Scale                       Int32,
    ZeroCount                   UInt64,
    ZeroThreshold               Float64,
    PositiveOffset              Int32,
    PositiveBucketCounts        Array(UInt64),
    NegativeOffset              Int32,
    NegativeBucketCounts        Array(UInt64),{{template "metric_tail" (named . "metrics_exponential_histogram")}}
