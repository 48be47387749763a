-- metrics_sum: one row per sum data point, with temporality and monotonicity.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{local "metrics_sum"}}{{onCluster}} ({{template "metric_head" .}}
    AggregationTemporality      UInt8,
    IsMonotonic                 UInt8,
    ValueType                   UInt8,
    DoubleValue                 Float64{{codec "Gorilla, ZSTD(1)"}},
    IntValue                    Int64{{codec "ZSTD(1)"}},{{template "metric_tail" (named . "metrics_sum")}}
