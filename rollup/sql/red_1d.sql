-- red_1d: requests, errors and latency per service, operation, kind and status; one-day rows computed by the rollup job from red_1h.
CREATE TABLE IF NOT EXISTS {{.DB}}.red_1d ({{template "red_columns" .}}
) ENGINE = MergeTree
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (ServiceName, SpanName, Timestamp)
SETTINGS index_granularity = 8192
