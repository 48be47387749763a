-- series_1h: count, sum, min, max, last value and histogram buckets per metric series; one-hour rows rolled up from series_1m.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{local "series_1h"}}{{onCluster}} ({{template "series_columns" .}}
) ENGINE = {{engine "MergeTree" "series_1h"}}
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, MetricName, Timestamp, SeriesHash)
SETTINGS index_granularity = 8192
{{- distributed "series_1h" "SeriesHash"}}
