-- metrics_summary: one row per summary data point.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{local "metrics_summary"}}{{onCluster}} ({{template "metric_head" .}}
    Count                       UInt64,
    Sum                         Float64,
    Quantiles Nested (
        Quantile                Float64,
        Value                   Float64
    ),{{template "metric_tail" (named . "metrics_summary")}}
