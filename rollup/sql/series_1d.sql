-- series_1d: count, sum, min, max, last value and histogram buckets per metric series; one-day rows rolled up from series_1h.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{local "series_1d"}}{{onCluster}} ({{template "series_columns" .}}
) ENGINE = {{engine "MergeTree" "series_1d"}}
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (ServiceName, MetricName, Timestamp, SeriesHash)
SETTINGS index_granularity = 8192
{{- distributed "series_1d" "SeriesHash"}}
