-- series_1m: count, sum, min, max, last value and histogram buckets per metric series; one-minute rows written by the clickhouse exporter.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{local "series_1m"}}{{onCluster}} ({{template "series_columns" .}}
) ENGINE = {{engine "MergeTree" "series_1m"}}
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, MetricName, Timestamp, SeriesHash)
SETTINGS index_granularity = 8192
{{- distributed "series_1m" "SeriesHash"}}
