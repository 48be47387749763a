-- red_service_1d: requests, errors and latency per service; one-day rows computed by the rollup job from red_1d.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{local "red_service_1d"}}{{onCluster}} ({{template "red_service_columns" .}}
) ENGINE = {{engine "MergeTree" "red_service_1d"}}
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (ServiceName, Timestamp)
SETTINGS index_granularity = 256
{{- distributed "red_service_1d" "cityHash64(ServiceName)"}}
