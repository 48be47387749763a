{{- /* Columns of the per-service RED tiers (migration 9): one series per service (every span
name, kind and status together), errors as a counter, and the latency distribution as a dense
run of bucket counts at scale 5 starting at bucket BucketOffset, which a merge adds element by
element (sumForEach); and the 50th, 95th and 99th percentile of that distribution, which a
query whose buckets are the tier's windows reads instead of walking the buckets. */ -}}
{{define "red_service_columns"}}
    Timestamp       DateTime{{codec "DoubleDelta, ZSTD(1)"}},
    ServiceName     {{lc}},
    Requests        UInt64,
    Errors          UInt64,
    DurationSumNano Float64,
    ZeroCount       UInt64,
    BucketOffset    Int32,
    BucketCounts    Array(UInt64),
    P50Nano         Float64,
    P95Nano         Float64,
    P99Nano         Float64
{{- end}}
