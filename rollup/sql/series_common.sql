{{- /* Columns of every metric series tier: the series, then aggregates that merge across rows. */ -}}
{{define "series_columns"}}
    Timestamp        DateTime{{codec "DoubleDelta, ZSTD(1)"}},
    ServiceName      {{lc}},
    MetricName       {{lc}},
    MetricUnit       {{lc}},
    MetricType       UInt8,
    SeriesHash       UInt64,
    AttributeKeys    Array({{lc}}),
    AttributeValues  Array(String),
    Count            UInt64,
    Sum              Float64,
    Min              Float64,
    Max              Float64,
    Last             Float64,
    LastTimeUnixNano UInt64,
    BucketBounds     Array(Float64),
    BucketCounts     Array(UInt64)
{{- end}}
