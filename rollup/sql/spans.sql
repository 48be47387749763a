-- spans: every sampled span, one row each. See rollup/SCHEMA.md.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{local "spans"}}{{onCluster}} (
    Timestamp                   DateTime{{codec "DoubleDelta, ZSTD(1)"}},
    StartTimeUnixNano           UInt64{{codec "Delta, ZSTD(1)"}},
    DurationNano                Int64{{codec "ZSTD(1)"}},
    ServiceName                 {{lc}},
    SpanName                    {{lc}},
    SpanKind                    UInt8,
    TraceId                     FixedString(16),
    SpanId                      FixedString(8),
    ParentSpanId                FixedString(8),
    TraceState                  String,
    Flags                       UInt32,
    StatusCode                  UInt8,
    StatusMessage               String,
    SampleWeight                Float64,
    SpanAttributeKeys           Array({{lc}}),
    SpanAttributeValues         Array(String){{codec "ZSTD(1)"}},
    SpanAttributeTypes          Array(UInt8),
    DroppedAttributesCount      UInt32,
    ResourceAttributeKeys       Array({{lc}}),
    ResourceAttributeValues     Array(String){{codec "ZSTD(1)"}},
    ResourceAttributeTypes      Array(UInt8),
    ResourceDroppedAttributesCount UInt32,
    ResourceSchemaUrl           {{lc}},
    ScopeName                   {{lc}},
    ScopeVersion                {{lc}},
    ScopeAttributeKeys          Array({{lc}}),
    ScopeAttributeValues        Array(String),
    ScopeAttributeTypes         Array(UInt8),
    ScopeDroppedAttributesCount UInt32,
    ScopeSchemaUrl              {{lc}},
    Events Nested (
        TimeUnixNano            UInt64,
        Name                    String,
        AttributeKeys           Array(String),
        AttributeValues         Array(String),
        AttributeTypes          Array(UInt8),
        DroppedAttributesCount  UInt32
    ),
    DroppedEventsCount          UInt32,
    Links Nested (
        TraceId                 FixedString(16),
        SpanId                  FixedString(8),
        TraceState              String,
        Flags                   UInt32,
        AttributeKeys           Array(String),
        AttributeValues         Array(String),
        AttributeTypes          Array(UInt8),
        DroppedAttributesCount  UInt32
    ),
    DroppedLinksCount           UInt32{{if .SkipIndexes}},
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1{{end}}
) ENGINE = {{engine "MergeTree" "spans"}}
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, Timestamp)
SETTINGS index_granularity = 8192
{{- distributed "spans" "cityHash64(TraceId)"}}
