-- database
CREATE DATABASE IF NOT EXISTS weir;

-- schema_migrations
CREATE TABLE IF NOT EXISTS weir.schema_migrations (
    Version   UInt32,
    Name      String,
    AppliedAt DateTime,
    Binary    String
) ENGINE = MergeTree
ORDER BY Version;

-- spans
CREATE TABLE IF NOT EXISTS weir.spans (
    Timestamp                   DateTime CODEC(DoubleDelta, ZSTD(1)),
    StartTimeUnixNano           UInt64 CODEC(Delta, ZSTD(1)),
    DurationNano                Int64 CODEC(ZSTD(1)),
    ServiceName                 LowCardinality(String),
    SpanName                    LowCardinality(String),
    SpanKind                    UInt8,
    TraceId                     FixedString(16),
    SpanId                      FixedString(8),
    ParentSpanId                FixedString(8),
    TraceState                  String,
    Flags                       UInt32,
    StatusCode                  UInt8,
    StatusMessage               String,
    SampleWeight                Float64,
    SpanAttributeKeys           Array(LowCardinality(String)),
    SpanAttributeValues         Array(String) CODEC(ZSTD(1)),
    SpanAttributeTypes          Array(UInt8),
    DroppedAttributesCount      UInt32,
    ResourceAttributeKeys       Array(LowCardinality(String)),
    ResourceAttributeValues     Array(String) CODEC(ZSTD(1)),
    ResourceAttributeTypes      Array(UInt8),
    ResourceDroppedAttributesCount UInt32,
    ResourceSchemaUrl           LowCardinality(String),
    ScopeName                   LowCardinality(String),
    ScopeVersion                LowCardinality(String),
    ScopeAttributeKeys          Array(LowCardinality(String)),
    ScopeAttributeValues        Array(String),
    ScopeAttributeTypes         Array(UInt8),
    ScopeDroppedAttributesCount UInt32,
    ScopeSchemaUrl              LowCardinality(String),
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
    DroppedLinksCount           UInt32,
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, Timestamp)
SETTINGS index_granularity = 8192;

-- metrics_gauge
CREATE TABLE IF NOT EXISTS weir.metrics_gauge (
    Timestamp                   DateTime CODEC(DoubleDelta, ZSTD(1)),
    TimeUnixNano                UInt64 CODEC(Delta, ZSTD(1)),
    StartTimeUnixNano           UInt64 CODEC(Delta, ZSTD(1)),
    ServiceName                 LowCardinality(String),
    MetricName                  LowCardinality(String),
    MetricDescription           LowCardinality(String),
    MetricUnit                  LowCardinality(String),
    SeriesHash                  UInt64,
    AttributeKeys               Array(LowCardinality(String)),
    AttributeValues             Array(String),
    AttributeTypes              Array(UInt8),
    Flags                       UInt32,
    ValueType                   UInt8,
    DoubleValue                 Float64 CODEC(Gorilla, ZSTD(1)),
    IntValue                    Int64 CODEC(ZSTD(1)),
    MetricMetadataKeys          Array(String),
    MetricMetadataValues        Array(String),
    MetricMetadataTypes         Array(UInt8),
    ResourceAttributeKeys       Array(LowCardinality(String)),
    ResourceAttributeValues     Array(String) CODEC(ZSTD(1)),
    ResourceAttributeTypes      Array(UInt8),
    ResourceDroppedAttributesCount UInt32,
    ResourceSchemaUrl           LowCardinality(String),
    ScopeName                   LowCardinality(String),
    ScopeVersion                LowCardinality(String),
    ScopeAttributeKeys          Array(LowCardinality(String)),
    ScopeAttributeValues        Array(String),
    ScopeAttributeTypes         Array(UInt8),
    ScopeDroppedAttributesCount UInt32,
    ScopeSchemaUrl              LowCardinality(String),
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
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, MetricName, toStartOfHour(Timestamp), SeriesHash, Timestamp)
SETTINGS index_granularity = 8192;

-- metrics_sum
CREATE TABLE IF NOT EXISTS weir.metrics_sum (
    Timestamp                   DateTime CODEC(DoubleDelta, ZSTD(1)),
    TimeUnixNano                UInt64 CODEC(Delta, ZSTD(1)),
    StartTimeUnixNano           UInt64 CODEC(Delta, ZSTD(1)),
    ServiceName                 LowCardinality(String),
    MetricName                  LowCardinality(String),
    MetricDescription           LowCardinality(String),
    MetricUnit                  LowCardinality(String),
    SeriesHash                  UInt64,
    AttributeKeys               Array(LowCardinality(String)),
    AttributeValues             Array(String),
    AttributeTypes              Array(UInt8),
    Flags                       UInt32,
    AggregationTemporality      UInt8,
    IsMonotonic                 UInt8,
    ValueType                   UInt8,
    DoubleValue                 Float64 CODEC(Gorilla, ZSTD(1)),
    IntValue                    Int64 CODEC(ZSTD(1)),
    MetricMetadataKeys          Array(String),
    MetricMetadataValues        Array(String),
    MetricMetadataTypes         Array(UInt8),
    ResourceAttributeKeys       Array(LowCardinality(String)),
    ResourceAttributeValues     Array(String) CODEC(ZSTD(1)),
    ResourceAttributeTypes      Array(UInt8),
    ResourceDroppedAttributesCount UInt32,
    ResourceSchemaUrl           LowCardinality(String),
    ScopeName                   LowCardinality(String),
    ScopeVersion                LowCardinality(String),
    ScopeAttributeKeys          Array(LowCardinality(String)),
    ScopeAttributeValues        Array(String),
    ScopeAttributeTypes         Array(UInt8),
    ScopeDroppedAttributesCount UInt32,
    ScopeSchemaUrl              LowCardinality(String),
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
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, MetricName, toStartOfHour(Timestamp), SeriesHash, Timestamp)
SETTINGS index_granularity = 8192;

-- metrics_histogram
CREATE TABLE IF NOT EXISTS weir.metrics_histogram (
    Timestamp                   DateTime CODEC(DoubleDelta, ZSTD(1)),
    TimeUnixNano                UInt64 CODEC(Delta, ZSTD(1)),
    StartTimeUnixNano           UInt64 CODEC(Delta, ZSTD(1)),
    ServiceName                 LowCardinality(String),
    MetricName                  LowCardinality(String),
    MetricDescription           LowCardinality(String),
    MetricUnit                  LowCardinality(String),
    SeriesHash                  UInt64,
    AttributeKeys               Array(LowCardinality(String)),
    AttributeValues             Array(String),
    AttributeTypes              Array(UInt8),
    Flags                       UInt32,
    AggregationTemporality      UInt8,
    Count                       UInt64,
    Sum                         Float64,
    HasSum                      UInt8,
    Min                         Float64,
    HasMin                      UInt8,
    Max                         Float64,
    HasMax                      UInt8,
    BucketCounts                Array(UInt64),
    ExplicitBounds              Array(Float64),
    MetricMetadataKeys          Array(String),
    MetricMetadataValues        Array(String),
    MetricMetadataTypes         Array(UInt8),
    ResourceAttributeKeys       Array(LowCardinality(String)),
    ResourceAttributeValues     Array(String) CODEC(ZSTD(1)),
    ResourceAttributeTypes      Array(UInt8),
    ResourceDroppedAttributesCount UInt32,
    ResourceSchemaUrl           LowCardinality(String),
    ScopeName                   LowCardinality(String),
    ScopeVersion                LowCardinality(String),
    ScopeAttributeKeys          Array(LowCardinality(String)),
    ScopeAttributeValues        Array(String),
    ScopeAttributeTypes         Array(UInt8),
    ScopeDroppedAttributesCount UInt32,
    ScopeSchemaUrl              LowCardinality(String),
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
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, MetricName, toStartOfHour(Timestamp), SeriesHash, Timestamp)
SETTINGS index_granularity = 8192;

-- metrics_exponential_histogram
CREATE TABLE IF NOT EXISTS weir.metrics_exponential_histogram (
    Timestamp                   DateTime CODEC(DoubleDelta, ZSTD(1)),
    TimeUnixNano                UInt64 CODEC(Delta, ZSTD(1)),
    StartTimeUnixNano           UInt64 CODEC(Delta, ZSTD(1)),
    ServiceName                 LowCardinality(String),
    MetricName                  LowCardinality(String),
    MetricDescription           LowCardinality(String),
    MetricUnit                  LowCardinality(String),
    SeriesHash                  UInt64,
    AttributeKeys               Array(LowCardinality(String)),
    AttributeValues             Array(String),
    AttributeTypes              Array(UInt8),
    Flags                       UInt32,
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
    NegativeBucketCounts        Array(UInt64),
    MetricMetadataKeys          Array(String),
    MetricMetadataValues        Array(String),
    MetricMetadataTypes         Array(UInt8),
    ResourceAttributeKeys       Array(LowCardinality(String)),
    ResourceAttributeValues     Array(String) CODEC(ZSTD(1)),
    ResourceAttributeTypes      Array(UInt8),
    ResourceDroppedAttributesCount UInt32,
    ResourceSchemaUrl           LowCardinality(String),
    ScopeName                   LowCardinality(String),
    ScopeVersion                LowCardinality(String),
    ScopeAttributeKeys          Array(LowCardinality(String)),
    ScopeAttributeValues        Array(String),
    ScopeAttributeTypes         Array(UInt8),
    ScopeDroppedAttributesCount UInt32,
    ScopeSchemaUrl              LowCardinality(String),
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
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, MetricName, toStartOfHour(Timestamp), SeriesHash, Timestamp)
SETTINGS index_granularity = 8192;

-- metrics_summary
CREATE TABLE IF NOT EXISTS weir.metrics_summary (
    Timestamp                   DateTime CODEC(DoubleDelta, ZSTD(1)),
    TimeUnixNano                UInt64 CODEC(Delta, ZSTD(1)),
    StartTimeUnixNano           UInt64 CODEC(Delta, ZSTD(1)),
    ServiceName                 LowCardinality(String),
    MetricName                  LowCardinality(String),
    MetricDescription           LowCardinality(String),
    MetricUnit                  LowCardinality(String),
    SeriesHash                  UInt64,
    AttributeKeys               Array(LowCardinality(String)),
    AttributeValues             Array(String),
    AttributeTypes              Array(UInt8),
    Flags                       UInt32,
    Count                       UInt64,
    Sum                         Float64,
    Quantiles Nested (
        Quantile                Float64,
        Value                   Float64
    ),
    MetricMetadataKeys          Array(String),
    MetricMetadataValues        Array(String),
    MetricMetadataTypes         Array(UInt8),
    ResourceAttributeKeys       Array(LowCardinality(String)),
    ResourceAttributeValues     Array(String) CODEC(ZSTD(1)),
    ResourceAttributeTypes      Array(UInt8),
    ResourceDroppedAttributesCount UInt32,
    ResourceSchemaUrl           LowCardinality(String),
    ScopeName                   LowCardinality(String),
    ScopeVersion                LowCardinality(String),
    ScopeAttributeKeys          Array(LowCardinality(String)),
    ScopeAttributeValues        Array(String),
    ScopeAttributeTypes         Array(UInt8),
    ScopeDroppedAttributesCount UInt32,
    ScopeSchemaUrl              LowCardinality(String),
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
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, MetricName, toStartOfHour(Timestamp), SeriesHash, Timestamp)
SETTINGS index_granularity = 8192;

-- trace_index
CREATE TABLE IF NOT EXISTS weir.trace_index (
    TraceId       FixedString(16),
    Day           Date,
    StartUnixNano AggregateFunction(min, UInt64),
    EndUnixNano   AggregateFunction(max, UInt64),
    Services      AggregateFunction(groupUniqArray, String),
    SpanCount     AggregateFunction(count)
) ENGINE = AggregatingMergeTree
PARTITION BY Day
ORDER BY TraceId
SETTINGS index_granularity = 8192;

-- trace_index_mv
CREATE MATERIALIZED VIEW IF NOT EXISTS weir.trace_index_mv TO weir.trace_index AS
SELECT
    TraceId,
    toDate(Timestamp) AS Day,
    minState(StartTimeUnixNano) AS StartUnixNano,
    maxState(toUInt64(StartTimeUnixNano + DurationNano)) AS EndUnixNano,
    groupUniqArrayState(toString(ServiceName)) AS Services,
    countState() AS SpanCount
FROM weir.spans
GROUP BY TraceId, Day;

-- red_1m
CREATE TABLE IF NOT EXISTS weir.red_1m (
    Timestamp       DateTime CODEC(DoubleDelta, ZSTD(1)),
    ServiceName     LowCardinality(String),
    SpanName        LowCardinality(String),
    SpanKind        UInt8,
    StatusCode      UInt8,
    DimKeys         Array(LowCardinality(String)),
    DimValues       Array(String),
    Requests        UInt64,
    DurationSumNano Float64,
    ZeroCount       UInt64,
    BucketIndexes   Array(Int32),
    BucketCounts    Array(UInt64)
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, Timestamp)
SETTINGS index_granularity = 8192;

-- red_1h
CREATE TABLE IF NOT EXISTS weir.red_1h (
    Timestamp       DateTime CODEC(DoubleDelta, ZSTD(1)),
    ServiceName     LowCardinality(String),
    SpanName        LowCardinality(String),
    SpanKind        UInt8,
    StatusCode      UInt8,
    DimKeys         Array(LowCardinality(String)),
    DimValues       Array(String),
    Requests        UInt64,
    DurationSumNano Float64,
    ZeroCount       UInt64,
    BucketIndexes   Array(Int32),
    BucketCounts    Array(UInt64)
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, Timestamp)
SETTINGS index_granularity = 8192;

-- red_1d
CREATE TABLE IF NOT EXISTS weir.red_1d (
    Timestamp       DateTime CODEC(DoubleDelta, ZSTD(1)),
    ServiceName     LowCardinality(String),
    SpanName        LowCardinality(String),
    SpanKind        UInt8,
    StatusCode      UInt8,
    DimKeys         Array(LowCardinality(String)),
    DimValues       Array(String),
    Requests        UInt64,
    DurationSumNano Float64,
    ZeroCount       UInt64,
    BucketIndexes   Array(Int32),
    BucketCounts    Array(UInt64)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (ServiceName, SpanName, Timestamp)
SETTINGS index_granularity = 8192;

-- edges_1m
CREATE TABLE IF NOT EXISTS weir.edges_1m (
    Timestamp       DateTime CODEC(DoubleDelta, ZSTD(1)),
    Client          LowCardinality(String),
    Server          LowCardinality(String),
    ConnectionType  LowCardinality(String),
    Failed          UInt8,
    Calls           UInt64,
    DurationSumNano Float64,
    ZeroCount       UInt64,
    BucketIndexes   Array(Int32),
    BucketCounts    Array(UInt64)
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (Client, Server, Timestamp)
SETTINGS index_granularity = 8192;

-- edges_1h
CREATE TABLE IF NOT EXISTS weir.edges_1h (
    Timestamp       DateTime CODEC(DoubleDelta, ZSTD(1)),
    Client          LowCardinality(String),
    Server          LowCardinality(String),
    ConnectionType  LowCardinality(String),
    Failed          UInt8,
    Calls           UInt64,
    DurationSumNano Float64,
    ZeroCount       UInt64,
    BucketIndexes   Array(Int32),
    BucketCounts    Array(UInt64)
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (Client, Server, Timestamp)
SETTINGS index_granularity = 8192;

-- edges_1d
CREATE TABLE IF NOT EXISTS weir.edges_1d (
    Timestamp       DateTime CODEC(DoubleDelta, ZSTD(1)),
    Client          LowCardinality(String),
    Server          LowCardinality(String),
    ConnectionType  LowCardinality(String),
    Failed          UInt8,
    Calls           UInt64,
    DurationSumNano Float64,
    ZeroCount       UInt64,
    BucketIndexes   Array(Int32),
    BucketCounts    Array(UInt64)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (Client, Server, Timestamp)
SETTINGS index_granularity = 8192;

-- series_1m
CREATE TABLE IF NOT EXISTS weir.series_1m (
    Timestamp        DateTime CODEC(DoubleDelta, ZSTD(1)),
    ServiceName      LowCardinality(String),
    MetricName       LowCardinality(String),
    MetricUnit       LowCardinality(String),
    MetricType       UInt8,
    SeriesHash       UInt64,
    AttributeKeys    Array(LowCardinality(String)),
    AttributeValues  Array(String),
    Count            UInt64,
    Sum              Float64,
    Min              Float64,
    Max              Float64,
    Last             Float64,
    LastTimeUnixNano UInt64,
    BucketBounds     Array(Float64),
    BucketCounts     Array(UInt64)
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, MetricName, Timestamp, SeriesHash)
SETTINGS index_granularity = 8192;

-- series_1h
CREATE TABLE IF NOT EXISTS weir.series_1h (
    Timestamp        DateTime CODEC(DoubleDelta, ZSTD(1)),
    ServiceName      LowCardinality(String),
    MetricName       LowCardinality(String),
    MetricUnit       LowCardinality(String),
    MetricType       UInt8,
    SeriesHash       UInt64,
    AttributeKeys    Array(LowCardinality(String)),
    AttributeValues  Array(String),
    Count            UInt64,
    Sum              Float64,
    Min              Float64,
    Max              Float64,
    Last             Float64,
    LastTimeUnixNano UInt64,
    BucketBounds     Array(Float64),
    BucketCounts     Array(UInt64)
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, MetricName, Timestamp, SeriesHash)
SETTINGS index_granularity = 8192;

-- series_1d
CREATE TABLE IF NOT EXISTS weir.series_1d (
    Timestamp        DateTime CODEC(DoubleDelta, ZSTD(1)),
    ServiceName      LowCardinality(String),
    MetricName       LowCardinality(String),
    MetricUnit       LowCardinality(String),
    MetricType       UInt8,
    SeriesHash       UInt64,
    AttributeKeys    Array(LowCardinality(String)),
    AttributeValues  Array(String),
    Count            UInt64,
    Sum              Float64,
    Min              Float64,
    Max              Float64,
    Last             Float64,
    LastTimeUnixNano UInt64,
    BucketBounds     Array(Float64),
    BucketCounts     Array(UInt64)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (ServiceName, MetricName, Timestamp, SeriesHash)
SETTINGS index_granularity = 8192;

-- spend
CREATE TABLE IF NOT EXISTS weir.spend (
    BillingPeriodStart DateTime('UTC'),
    BillingPeriodEnd   DateTime('UTC'),
    ChargePeriodStart  DateTime('UTC'),
    ChargePeriodEnd    DateTime('UTC'),
    Date               Date,
    Provider           LowCardinality(String),
    HostProvider       LowCardinality(String),
    Publisher          LowCardinality(String),
    InvoiceIssuer      LowCardinality(String),
    BillingAccountId   String,
    BillingAccountName String,
    BillingAccountType LowCardinality(String),
    SubAccountId       String,
    SubAccountName     String,
    SubAccountType     LowCardinality(String),
    InvoiceId          String,
    ServiceCategory    LowCardinality(String),
    ServiceSubcategory LowCardinality(String),
    ServiceName        LowCardinality(String),
    ResourceId         String,
    ResourceName       String,
    ResourceType       LowCardinality(String),
    RegionId           LowCardinality(String),
    RegionName         LowCardinality(String),
    AvailabilityZone   LowCardinality(String),
    SkuId              String,
    SkuPriceId         String,
    ChargeCategory     LowCardinality(String),
    ChargeClass        LowCardinality(String),
    ChargeFrequency    LowCardinality(String),
    ChargeDescription  String,
    PricingCategory    LowCardinality(String),
    BillingCurrency    LowCardinality(String),
    BilledCost         Float64,
    EffectiveCost      Float64,
    ListCost           Float64,
    ContractedCost     Float64,
    ConsumedQuantity   Float64,
    ConsumedUnit       LowCardinality(String),
    PricingQuantity    Float64,
    PricingUnit        LowCardinality(String),
    TagKeys            Array(LowCardinality(String)),
    TagValues          Array(String),
    ExtraKeys          Array(LowCardinality(String)),
    ExtraValues        Array(String),
    Source             String,
    ImportId           String,
    LineNumber         UInt64
) ENGINE = MergeTree
PARTITION BY (toYYYYMM(BillingPeriodStart), cityHash64(BillingAccountId))
ORDER BY (ServiceName, Date, ChargePeriodStart)
SETTINGS index_granularity = 8192;

-- allocation
CREATE TABLE IF NOT EXISTS weir.allocation (
    WindowStart           DateTime('UTC'),
    WindowEnd             DateTime('UTC'),
    Date                  Date,
    Name                  String,
    Cluster               LowCardinality(String),
    Node                  String,
    Namespace             LowCardinality(String),
    ControllerKind        LowCardinality(String),
    Controller            String,
    Pod                   String,
    Container             String,
    IsIdle                UInt8,
    Minutes               Float64,
    CpuCoreRequestAverage Float64,
    CpuCoreUsageAverage   Float64,
    RamByteRequestAverage Float64,
    RamByteUsageAverage   Float64,
    CpuCost               Float64,
    GpuCost               Float64,
    RamCost               Float64,
    PvCost                Float64,
    NetworkCost           Float64,
    LoadBalancerCost      Float64,
    SharedCost            Float64,
    ExternalCost          Float64,
    TotalCost             Float64,
    CpuEfficiency         Float64,
    RamEfficiency         Float64,
    TotalEfficiency       Float64,
    LabelKeys             Array(LowCardinality(String)),
    LabelValues           Array(String),
    Source                String,
    ImportId              String
) ENGINE = MergeTree
PARTITION BY (toYYYYMM(WindowStart), cityHash64(Cluster))
ORDER BY (Cluster, Namespace, WindowStart)
SETTINGS index_granularity = 8192;

-- service_cost_1d
CREATE TABLE IF NOT EXISTS weir.service_cost_1d (
    Week        Date,
    Date        Date,
    Service     String,
    Currency    LowCardinality(String),
    Spend       Float64,
    Requests    UInt64,
    Errors      UInt64,
    GeneratedAt DateTime('UTC')
) ENGINE = MergeTree
PARTITION BY Week
ORDER BY (Date, Service)
SETTINGS index_granularity = 8192;

-- hotspots
CREATE TABLE IF NOT EXISTS weir.hotspots (
    Week                  Date,
    GeneratedAt           DateTime('UTC'),
    Rank                  UInt32,
    Rule                  LowCardinality(String),
    Service               String,
    Operation             String,
    Severity              LowCardinality(String),
    Currency              LowCardinality(String),
    ImpactPerWeek         Float64,
    AvoidableCallsPerWeek Float64,
    CostPerCall           Float64,
    Evidence              String,
    ExampleTraceIds       Array(String),
    Recommendation        String
) ENGINE = MergeTree
PARTITION BY Week
ORDER BY (Week, Rank)
SETTINGS index_granularity = 8192;

-- trace_index_mv_drop
DROP TABLE IF EXISTS weir.trace_index_mv;

-- insert_id (only while spans has no column InsertId)
ALTER TABLE weir.spans ADD COLUMN InsertId UInt64 DEFAULT 0;

-- insert_id (only while red_1m has no column InsertId)
ALTER TABLE weir.red_1m ADD COLUMN InsertId UInt64 DEFAULT 0;

-- insert_id (only while edges_1m has no column InsertId)
ALTER TABLE weir.edges_1m ADD COLUMN InsertId UInt64 DEFAULT 0;

-- insert_id (only while series_1m has no column InsertId)
ALTER TABLE weir.series_1m ADD COLUMN InsertId UInt64 DEFAULT 0;

-- insert_id (only while metrics_gauge has no column InsertId)
ALTER TABLE weir.metrics_gauge ADD COLUMN InsertId UInt64 DEFAULT 0;

-- insert_id (only while metrics_sum has no column InsertId)
ALTER TABLE weir.metrics_sum ADD COLUMN InsertId UInt64 DEFAULT 0;

-- insert_id (only while metrics_histogram has no column InsertId)
ALTER TABLE weir.metrics_histogram ADD COLUMN InsertId UInt64 DEFAULT 0;

-- insert_id (only while metrics_exponential_histogram has no column InsertId)
ALTER TABLE weir.metrics_exponential_histogram ADD COLUMN InsertId UInt64 DEFAULT 0;

-- insert_id (only while metrics_summary has no column InsertId)
ALTER TABLE weir.metrics_summary ADD COLUMN InsertId UInt64 DEFAULT 0;

-- red_service_1h
CREATE TABLE IF NOT EXISTS weir.red_service_1h (
    Timestamp       DateTime CODEC(DoubleDelta, ZSTD(1)),
    ServiceName     LowCardinality(String),
    Requests        UInt64,
    Errors          UInt64,
    DurationSumNano Float64,
    ZeroCount       UInt64,
    BucketOffset    Int32,
    BucketCounts    Array(UInt64),
    P50Nano         Float64,
    P95Nano         Float64,
    P99Nano         Float64
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, Timestamp)
SETTINGS index_granularity = 256;

-- red_service_1d
CREATE TABLE IF NOT EXISTS weir.red_service_1d (
    Timestamp       DateTime CODEC(DoubleDelta, ZSTD(1)),
    ServiceName     LowCardinality(String),
    Requests        UInt64,
    Errors          UInt64,
    DurationSumNano Float64,
    ZeroCount       UInt64,
    BucketOffset    Int32,
    BucketCounts    Array(UInt64),
    P50Nano         Float64,
    P95Nano         Float64,
    P99Nano         Float64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (ServiceName, Timestamp)
SETTINGS index_granularity = 256;

