-- edges_1m: calls, errors and latency per service-graph edge; one-minute rows written by the clickhouse exporter from weir_red's service graph.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{local "edges_1m"}}{{onCluster}} ({{template "edge_columns" .}}
) ENGINE = {{engine "MergeTree" "edges_1m"}}
PARTITION BY toDate(Timestamp)
ORDER BY (Client, Server, Timestamp)
SETTINGS index_granularity = 8192
{{- distributed "edges_1m" "cityHash64(Client)"}}
