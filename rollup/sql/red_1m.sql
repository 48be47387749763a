-- red_1m: requests, errors and latency per service, operation, kind and status; one-minute rows written by the clickhouse exporter from weir_red's metrics.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{local "red_1m"}}{{onCluster}} ({{template "red_columns" .}}
) ENGINE = {{engine "MergeTree" "red_1m"}}
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, Timestamp)
SETTINGS index_granularity = 8192
{{- distributed "red_1m" "cityHash64(ServiceName)"}}
