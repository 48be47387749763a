-- red_1m: requests, errors and latency per service, operation, kind and status; one-minute rows written by the clickhouse exporter from weir_red's metrics.
CREATE TABLE IF NOT EXISTS {{.DB}}.red_1m ({{template "red_columns" .}}
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, Timestamp)
SETTINGS index_granularity = 8192
