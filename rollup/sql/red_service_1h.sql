-- red_service_1h: requests, errors and latency per service; one-hour rows computed by the rollup job from red_1h.
-- Granules of 256 rows: a service's week is 168 wide rows, and 8192-row granules would make a
-- one-service read decompress every service's arrays.
CREATE TABLE IF NOT EXISTS {{.DB}}.{{local "red_service_1h"}}{{onCluster}} ({{template "red_service_columns" .}}
) ENGINE = {{engine "MergeTree" "red_service_1h"}}
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, Timestamp)
SETTINGS index_granularity = 256
{{- distributed "red_service_1h" "cityHash64(ServiceName)"}}
