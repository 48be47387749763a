{{- /* Service map, nodes frame of the node graph: every service at either end of a selected
edge. mainstat is the calls per second it served, secondarystat the share of them that failed;
a node that only calls (a client outside the traced services) serves 0.
.Edges is the tier-aware edges query grouped by client and server. */ -}}
SELECT node AS id,
       node AS title,
       sumIf(calls_total, is_server = 1) / {{rangeSeconds}} AS mainstat,
       if(sumIf(calls_total, is_server = 1) = 0, 0,
          sumIf(errors_total, is_server = 1) / sumIf(calls_total, is_server = 1)) AS secondarystat
FROM (
    SELECT client, server, sum(calls) AS calls_total, sum(errors) AS errors_total
    FROM (
{{.Edges}}
    )
    GROUP BY client, server
)
ARRAY JOIN [client, server] AS node, [0, 1] AS is_server
WHERE client IN (${service:singlequote}) OR server IN (${service:singlequote})
GROUP BY node
ORDER BY node
