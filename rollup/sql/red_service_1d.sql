-- red_service_1d: requests, errors and latency per service; one-day rows computed by the rollup job from red_1d.
CREATE TABLE IF NOT EXISTS {{.DB}}.red_service_1d ({{template "red_service_columns" .}}
) ENGINE = MergeTree
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (ServiceName, Timestamp)
SETTINGS index_granularity = 256
