{{- /* Columns of every RED tier: the series, then the mergeable latency distribution. */ -}}
{{define "red_columns"}}
    Timestamp       DateTime{{codec "DoubleDelta, ZSTD(1)"}},
    ServiceName     {{lc}},
    SpanName        {{lc}},
    SpanKind        UInt8,
    StatusCode      UInt8,
    DimKeys         Array({{lc}}),
    DimValues       Array(String),
    Requests        UInt64,
    DurationSumNano Float64,
    ZeroCount       UInt64,
    BucketIndexes   Array(Int32),
    BucketCounts    Array(UInt64)
{{- end}}
{{define "edge_columns"}}
    Timestamp       DateTime{{codec "DoubleDelta, ZSTD(1)"}},
    Client          {{lc}},
    Server          {{lc}},
    ConnectionType  {{lc}},
    Failed          UInt8,
    Calls           UInt64,
    DurationSumNano Float64,
    ZeroCount       UInt64,
    BucketIndexes   Array(Int32),
    BucketCounts    Array(UInt64)
{{- end}}
