-- load_spans: spans k in [Offset, Offset+Count) of a synthetic stream, generated server-side.
-- Span k starts at FromNs + k*StepNs plus a jitter below StepNs, so the stream is evenly
-- spread over the period and each INSERT covers about one day partition. It belongs to the
-- service that k % Units picks ({{.Services}}: each service's share of the stream is its
-- spans per week). Everything else is a hash of k: one of 8 operations (5 server, 3 client),
-- 1% errors, lognormal durations (Box-Muller; median 5 ms to 55 ms by operation, sigma 1),
-- random IDs. Attribute, event and link columns stay empty to keep the table small.
INSERT INTO {{.DB}}.spans (Timestamp, StartTimeUnixNano, DurationNano, ServiceName, SpanName,
                           SpanKind, TraceId, SpanId, StatusCode, SampleWeight)
SELECT toDateTime(intDiv(start_ns, 1000000000)), start_ns, dur,
       {{.Services}}, op_name, op_kind, trace_id, span_id, status, 1
FROM (
    SELECT number AS k,
           k % {{.Units}} AS u,
           {{.FromNs}} + k * {{.StepNs}} + cityHash64(k, 5) % {{.StepNs}} AS start_ns,
           cityHash64(k, 4) % 8 AS op,
           arrayElement(['GET /api/cart', 'POST /api/cart', 'GET /api/product', 'GET /api/search',
                         'POST /api/checkout', 'SELECT orders', 'HTTP GET payments', 'redis GET'], op + 1) AS op_name,
           toUInt8(if(op < 5, 2, 3)) AS op_kind,
           (cityHash64(k, 1) % 1000000 + 0.5) / 1000000 AS u1,
           (cityHash64(k, 2) % 1000000 + 0.5) / 1000000 AS u2,
           greatest(toInt64(1), toInt64(exp(log(5000000) + 0.35 * op + sqrt(-2 * log(u1)) * cos(2 * pi() * u2)))) AS dur,
           toUInt8(if(cityHash64(k, 6) % 100 = 0, 2, 0)) AS status,
           toFixedString(concat(toFixedString(reinterpretAsString(cityHash64(k, 3)), 8),
                                toFixedString(reinterpretAsString(sipHash64(k)), 8)), 16) AS trace_id,
           toFixedString(reinterpretAsString(sipHash64(k, 9)), 8) AS span_id
    FROM numbers({{.Offset}}, {{.Count}})
)
