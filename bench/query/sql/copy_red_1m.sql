-- copy_red_1m: the one-minute rows of [From, To) again, Shift seconds earlier, those that land
-- at or after HistoryFrom: older weeks of the same traffic, so that the tiers hold a month
-- without a month of raw spans on disk.
INSERT INTO {{.DB}}.red_1m (Timestamp, ServiceName, SpanName, SpanKind, StatusCode, DimKeys, DimValues,
                            Requests, DurationSumNano, ZeroCount, BucketIndexes, BucketCounts)
SELECT Timestamp - {{.Shift}}, ServiceName, SpanName, SpanKind, StatusCode, DimKeys, DimValues,
       Requests, DurationSumNano, ZeroCount, BucketIndexes, BucketCounts
FROM {{.DB}}.red_1m
WHERE Timestamp >= toDateTime({{.From}}) AND Timestamp < toDateTime({{.To}})
  AND Timestamp >= toDateTime({{.HistoryFrom}} + {{.Shift}})
