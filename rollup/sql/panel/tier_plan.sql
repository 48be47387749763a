{{- /*
The tier plan of panel SQL (panel.go): PlanQuery's choice of tiers, made by the server when the
query runs, since only then are the range and the step known.

"plan" is a one-row SELECT over system.parts (metadata only). On a cluster the tiers are
Distributed tables, which have no parts: their rows are in the local tables (the tier's name
with "_local"), and a Distributed table sends this condition, subquery and all, to every
shard, where the plan reads that shard's own parts. Each shard thus reads each window of its
own rows once, from the coarsest tier it holds for it, and the shards together answer as one
server would. For each coarse tier t, coarsest first:
  t_use         the step is whole windows of t and the server's windows of t start on epoch
                multiples at both ends of the range (PlanQuery's rule for the top tier), or a
                coarser tier is in use;
  t_held        t has rows;
  t_from, t_to  the start of t's oldest window and the end of its newest (min_time and
                max_time of its parts, as Querier.Availability reads them).
Then one node per call of PlanQuery's serve, parents first. The root, of the coarsest tier,
is handed [lo, hi); a coarse node n serves [n_a, n_b), the whole windows of what it is handed
that its tier holds ([Hi, Hi): nothing, when its tier is not in use or holds none of them), and
hands what lies left and right of them to two nodes of the next finer tier; a node of the
finest tier serves what it is handed. Every node serves the n_n windows from n_s on, so every
minute of [lo, hi) is read once, from the tier PlanQuery reads it from. The nodes of a tier are
one SELECT around those of the coarser tiers, around the aggregate over system.parts; since every
node's windows depend on an aggregate, 18.16 keeps that SELECT an aggregate (one row) when it
drops the columns nobody reads.

"where" picks the rows of a tier: those in [From, To) whose window is one its nodes serve. A
coarse tier's rows are at the start of their window; the finest tier's anywhere in it. One
subquery per tier, run once, whose set also prunes parts and granules. (A scalar subquery
referenced through an alias would be copied, and run, at every reference on 18.16; and 18.16
loses a subquery's columns that only a lambda reads, hence ARRAY JOIN.)
*/ -}}
{{define "plan" -}}
{{- range $lv := .Levels}}SELECT *
{{- range .Nodes}}
{{- if .Tier}},
{{$lv.Indent}}       greatest(intDiv({{.Lo}} + {{.Last}}, {{.Width}}) * {{.Width}}, {{.Tier}}_from) AS {{.Name}}_a0,
{{$lv.Indent}}       least(intDiv({{.Hi}}, {{.Width}}) * {{.Width}}, {{.Tier}}_to) AS {{.Name}}_b0,
{{$lv.Indent}}       {{.Tier}}_use AND {{.Tier}}_held AND {{.Name}}_a0 < {{.Name}}_b0 AS {{.Name}}_on,
{{$lv.Indent}}       if({{.Name}}_on, {{.Name}}_a0, {{.Hi}}) AS {{.A}},
{{$lv.Indent}}       if({{.Name}}_on, {{.Name}}_b0, {{.Hi}}) AS {{.B}}
{{- end}},
{{$lv.Indent}}       intDiv({{.A}}, {{.Width}}) * {{.Width}} AS {{.Name}}_s,
{{$lv.Indent}}       if({{.B}} > {{.A}}, intDiv({{.B}} - {{.Name}}_s + {{.Last}}, {{.Width}}), 0) AS {{.Name}}_n
{{- end}}
{{$lv.Indent}}FROM (
{{$lv.Indent}}    {{end}}SELECT toUInt64(toUInt32({{.From}})) AS lo,
{{.Indent}}       toUInt64(toUInt32({{.To}})) AS hi,
{{.Indent}}       {{.Step}} AS step
{{- range .Tiers}},
{{$.Indent}}       {{if .Coarser}}{{.Coarser}}_use OR {{end}}(step % {{.Width}} = 0 AND toUInt32({{.StartOf}}({{$.From}})) % {{.Width}} = 0 AND toUInt32({{.StartOf}}({{$.To}})) % {{.Width}} = 0) AS {{.Name}}_use,
{{$.Indent}}       countIf(table IN ({{.Holders}})) > 0 AS {{.Name}}_held,
{{$.Indent}}       toUInt64(toUInt32({{.StartOf}}(minIf(min_time, table IN ({{.Holders}}))))) AS {{.Name}}_from,
{{$.Indent}}       toUInt64(toUInt32({{.StartOf}}(maxIf(max_time, table IN ({{.Holders}}))))) + {{.Width}} AS {{.Name}}_to
{{- end}}
{{.Indent}}FROM system.parts
{{.Indent}}WHERE database = '{{.Database}}' AND {{.Parts}} AND table IN ({{range $i, $t := .Tiers}}{{if $i}}, {{end}}{{$t.Holders}}{{end}}){{range .Levels}}){{end}}
{{- end}}

{{define "where" -}}
Timestamp >= {{.Plan.From}} AND Timestamp < {{.Plan.To}}
      AND {{.StartOf}}(Timestamp) IN (
          SELECT toDateTime(s + i * {{.Width}}) FROM (
              SELECT s, n FROM (
                  {{template "plan" .Plan}})
              ARRAY JOIN [{{range $i, $n := .Nodes}}{{if $i}}, {{end}}{{$n.Name}}_s{{end}}] AS s,
                         [{{range $i, $n := .Nodes}}{{if $i}}, {{end}}{{$n.Name}}_n{{end}}] AS n)
          ARRAY JOIN range(toUInt32(n)) AS i)
{{- end}}
