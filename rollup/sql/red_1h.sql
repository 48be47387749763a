-- red_1h: requests, errors and latency per service, operation, kind and status; one-hour rows computed by the rollup job from red_1m.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{local "red_1h"}}{{onCluster}} ({{template "red_columns" .}}
) ENGINE = {{engine "MergeTree" "red_1h"}}
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, Timestamp)
SETTINGS index_granularity = 8192
{{- distributed "red_1h" "cityHash64(ServiceName)"}}
