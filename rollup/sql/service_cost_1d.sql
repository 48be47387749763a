-- service_cost_1d: each service's spend, requests and errors per day, as the weekly report (`weir report`, rollup.WriteAnalysis) computed them; "(unmapped)" and "(idle)" rows carry the spend no rule gave a service, so a day's rows add up to the bill. A report replaces its whole week. See rollup/SCHEMA.md.
CREATE TABLE IF NOT EXISTS {{.DB}}.service_cost_1d{{onCluster}} (
    Week        Date,
    Date        Date,
    Service     String,
    Currency    {{lc}},
    Spend       Float64,
    Requests    UInt64,
    Errors      UInt64,
    GeneratedAt DateTime('UTC')
) ENGINE = {{everywhere "MergeTree" "service_cost_1d"}}
PARTITION BY Week
ORDER BY (Date, Service)
SETTINGS index_granularity = 8192
