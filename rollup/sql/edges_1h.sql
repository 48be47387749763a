-- edges_1h: calls, errors and latency per service-graph edge; one-hour rows computed by the rollup job from edges_1m.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{local "edges_1h"}}{{onCluster}} ({{template "edge_columns" .}}
) ENGINE = {{engine "MergeTree" "edges_1h"}}
PARTITION BY toDate(Timestamp)
ORDER BY (Client, Server, Timestamp)
SETTINGS index_granularity = 8192
{{- distributed "edges_1h" "cityHash64(Client)"}}
