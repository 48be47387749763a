-- series_1m: count, sum, min, max, last value and histogram buckets per metric series; one-minute rows written by the clickhouse exporter.
CREATE TABLE IF NOT EXISTS {{.DB}}.series_1m ({{template "series_columns" .}}
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, MetricName, Timestamp, SeriesHash)
SETTINGS index_granularity = 8192
