-- red_1h: requests, errors and latency per service, operation, kind and status; one-hour rows computed by the rollup job from red_1m.
CREATE TABLE IF NOT EXISTS {{.DB}}.red_1h ({{template "red_columns" .}}
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, Timestamp)
SETTINGS index_granularity = 8192
