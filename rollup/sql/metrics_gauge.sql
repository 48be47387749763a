-- metrics_gauge: one row per gauge data point.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{local "metrics_gauge"}}{{onCluster}} ({{template "metric_head" .}}
    ValueType                   UInt8,
    DoubleValue                 Float64{{codec "Gorilla, ZSTD(1)"}},
    IntValue                    Int64{{codec "ZSTD(1)"}},{{template "metric_tail" (named . "metrics_gauge")}}
