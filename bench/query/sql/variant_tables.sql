{{/* variant_tables: copies of red_1h that test two changes to the hourly tier's layout, built
from red_1h itself. red_1h_g256: the same rows with index_granularity 256 instead of 8192, so a
one-service read touches a few hundred wide rows instead of whole 8192-row granules.
red_1h_s4: the same rows with the histogram at scale 4 (bucket i at scale 6 goes to
floor(i/4)): a quarter of the buckets, relative error 2.2% instead of 0.55%.
red_1h_s4g256: both. One statement per chunk, separated by ";;". */ -}}
DROP TABLE IF EXISTS {{.DB}}.red_1h_g256;;
CREATE TABLE {{.DB}}.red_1h_g256 AS {{.DB}}.red_1h
ENGINE = MergeTree PARTITION BY toDate(Timestamp) ORDER BY (ServiceName, SpanName, Timestamp)
SETTINGS index_granularity = 256;;
INSERT INTO {{.DB}}.red_1h_g256 SELECT * FROM {{.DB}}.red_1h;;
DROP TABLE IF EXISTS {{.DB}}.red_1h_s4;;
CREATE TABLE {{.DB}}.red_1h_s4 AS {{.DB}}.red_1h;;
INSERT INTO {{.DB}}.red_1h_s4
SELECT Timestamp, ServiceName, SpanName, SpanKind, StatusCode, DimKeys, DimValues, Requests,
       DurationSumNano, ZeroCount,
       (sumMap(arrayMap(i -> toInt32(floor(i / 4)), BucketIndexes), BucketCounts) AS m).1, m.2
FROM {{.DB}}.red_1h
GROUP BY Timestamp, ServiceName, SpanName, SpanKind, StatusCode, DimKeys, DimValues, Requests,
         DurationSumNano, ZeroCount;;
DROP TABLE IF EXISTS {{.DB}}.red_1h_s4g256;;
CREATE TABLE {{.DB}}.red_1h_s4g256 AS {{.DB}}.red_1h_g256;;
INSERT INTO {{.DB}}.red_1h_s4g256 SELECT * FROM {{.DB}}.red_1h_s4
