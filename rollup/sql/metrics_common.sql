{{- /* Columns shared by every metric_* table: identity, resource, scope, point times, exemplars;
   metric_tail takes (named . "<table>") for the engine. On a cluster the points are sharded by
   series, as the series tiers are. */ -}}
{{define "metric_head"}}
    Timestamp                   DateTime{{codec "DoubleDelta, ZSTD(1)"}},
    TimeUnixNano                UInt64{{codec "Delta, ZSTD(1)"}},
    StartTimeUnixNano           UInt64{{codec "Delta, ZSTD(1)"}},
    ServiceName                 {{lc}},
    MetricName                  {{lc}},
    MetricDescription           {{lc}},
    MetricUnit                  {{lc}},
    SeriesHash                  UInt64,
    AttributeKeys               Array({{lc}}),
    AttributeValues             Array(String),
    AttributeTypes              Array(UInt8),
    Flags                       UInt32,
{{- end}}
{{define "metric_tail"}}
    MetricMetadataKeys          Array(String),
    MetricMetadataValues        Array(String),
    MetricMetadataTypes         Array(UInt8),
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
    Exemplars Nested (
        TimeUnixNano            UInt64,
        ValueType               UInt8,
        DoubleValue             Float64,
        IntValue                Int64,
        TraceId                 FixedString(16),
        SpanId                  FixedString(8),
        FilteredAttributeKeys   Array(String),
        FilteredAttributeValues Array(String),
        FilteredAttributeTypes  Array(UInt8)
    )
) ENGINE = {{engine "MergeTree" .Table}}
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, MetricName, toStartOfHour(Timestamp), SeriesHash, Timestamp)
SETTINGS index_granularity = 8192
{{- distributed .Table "SeriesHash"}}
{{- end}}
