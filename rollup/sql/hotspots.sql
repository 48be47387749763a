-- hotspots: the findings of a weekly report (`weir report`, rollup.WriteAnalysis), ranked by estimated weekly cost impact. Evidence is the finding's evidence as JSON. A report replaces its whole week. See rollup/SCHEMA.md.
CREATE TABLE IF NOT EXISTS {{.DB}}.hotspots{{onCluster}} (
    Week                  Date,
    GeneratedAt           DateTime('UTC'),
    Rank                  UInt32,
    Rule                  {{lc}},
    Service               String,
    Operation             String,
    Severity              {{lc}},
    Currency              {{lc}},
    ImpactPerWeek         Float64,
    AvoidableCallsPerWeek Float64,
    CostPerCall           Float64,
    Evidence              String,
    ExampleTraceIds       Array(String),
    Recommendation        String
) ENGINE = {{everywhere "MergeTree" "hotspots"}}
PARTITION BY Week
ORDER BY (Week, Rank)
SETTINGS index_granularity = 8192
