-- edges_1m: calls, errors and latency per service-graph edge; one-minute rows written by the clickhouse exporter from weir_red's service graph.
CREATE TABLE IF NOT EXISTS {{.DB}}.edges_1m ({{template "edge_columns" .}}
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (Client, Server, Timestamp)
SETTINGS index_granularity = 8192
