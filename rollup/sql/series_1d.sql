-- series_1d: count, sum, min, max, last value and histogram buckets per metric series; one-day rows rolled up from series_1h.
CREATE TABLE IF NOT EXISTS {{.DB}}.series_1d ({{template "series_columns" .}}
) ENGINE = MergeTree
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (ServiceName, MetricName, Timestamp, SeriesHash)
SETTINGS index_granularity = 8192
