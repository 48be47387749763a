{{- /* add_column: ALTER TABLE ... ADD COLUMN for a migration, given (addColumn . "<table>"
   "<column>" "<type and default>"). Each ALTER runs only while its table lacks the column
   (18.16 has no ADD COLUMN IF NOT EXISTS).
   On a cluster the replicated <table>_local is altered on one replica of each shard, and
   replication alters the others. Not ON CLUSTER: 18.16's DDL worker lets two replicas of a
   shard race for such an ALTER, and the loser's worker thread stops for good ("Node exists"
   on .../executed), so every later ON CLUSTER query waits for that server. The Distributed
   table, not replicated, goes ON CLUSTER the cluster of every server: 18.16 refuses its
   ALTER through a cluster with replicas (code 371). Its guard asks every server. */ -}}
{{define "add_column" -}}
-- unless column {{local .Table}} {{.Column}}
{{- if .Cluster}}
-- on each shard
{{- end}}
ALTER TABLE {{.DB}}.{{local .Table}} ADD COLUMN {{.Column}} {{.Type}}
{{- if .Cluster}}
;
-- unless column {{.Table}} {{.Column}}
ALTER TABLE {{.DB}}.{{.Table}} ON CLUSTER {{.Servers}} ADD COLUMN {{.Column}} {{.Type}}
{{- end}}
{{- end}}
