-- edges_1h: calls, errors and latency per service-graph edge; one-hour rows computed by the rollup job from edges_1m.
CREATE TABLE IF NOT EXISTS {{.DB}}.edges_1h ({{template "edge_columns" .}}
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (Client, Server, Timestamp)
SETTINGS index_granularity = 8192
