-- trace_index_mv_drop: migration 7. The clickhouse exporter writes trace_index itself, from
-- rows it aggregates per trace in Go (TraceIndexWriter, trace_index_insert.sql): on 18.16
-- under parallel DDL the view sometimes stored nothing. Dropping it also keeps a span from
-- being counted twice, once by the view and once by the exporter.
DROP TABLE IF EXISTS {{.DB}}.trace_index_mv{{onCluster}}
