-- edges_1d: calls, errors and latency per service-graph edge; one-day rows computed by the rollup job from edges_1h.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{local "edges_1d"}}{{onCluster}} ({{template "edge_columns" .}}
) ENGINE = {{engine "MergeTree" "edges_1d"}}
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (Client, Server, Timestamp)
SETTINGS index_granularity = 8192
{{- distributed "edges_1d" "cityHash64(Client)"}}
