-- red_1d: requests, errors and latency per service, operation, kind and status; one-day rows computed by the rollup job from red_1h.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{local "red_1d"}}{{onCluster}} ({{template "red_columns" .}}
) ENGINE = {{engine "MergeTree" "red_1d"}}
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (ServiceName, SpanName, Timestamp)
SETTINGS index_granularity = 8192
{{- distributed "red_1d" "cityHash64(ServiceName)"}}
