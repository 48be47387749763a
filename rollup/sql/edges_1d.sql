-- edges_1d: calls, errors and latency per service-graph edge; one-day rows computed by the rollup job from edges_1h.
CREATE TABLE IF NOT EXISTS {{.DB}}.edges_1d ({{template "edge_columns" .}}
) ENGINE = MergeTree
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (Client, Server, Timestamp)
SETTINGS index_granularity = 8192
