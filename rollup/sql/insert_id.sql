-- insert_id: migration 8. Every table weir fills with whole blocks gets the id of the block
-- that wrote each row (constant within a block, so it costs next to nothing on disk). After
-- a crash weir asks whether a block it had sent arrived (SELECT ... WHERE InsertId = ?)
-- before sending it again, so a block is stored once. The tiers above one minute are
-- rebuilt, not appended, and trace_index merges its states: neither needs it.
-- unless column spans InsertId
ALTER TABLE {{.DB}}.spans ADD COLUMN InsertId UInt64 DEFAULT 0
;
-- unless column red_1m InsertId
ALTER TABLE {{.DB}}.red_1m ADD COLUMN InsertId UInt64 DEFAULT 0
;
-- unless column edges_1m InsertId
ALTER TABLE {{.DB}}.edges_1m ADD COLUMN InsertId UInt64 DEFAULT 0
;
-- unless column series_1m InsertId
ALTER TABLE {{.DB}}.series_1m ADD COLUMN InsertId UInt64 DEFAULT 0
;
-- unless column metrics_gauge InsertId
ALTER TABLE {{.DB}}.metrics_gauge ADD COLUMN InsertId UInt64 DEFAULT 0
;
-- unless column metrics_sum InsertId
ALTER TABLE {{.DB}}.metrics_sum ADD COLUMN InsertId UInt64 DEFAULT 0
;
-- unless column metrics_histogram InsertId
ALTER TABLE {{.DB}}.metrics_histogram ADD COLUMN InsertId UInt64 DEFAULT 0
;
-- unless column metrics_exponential_histogram InsertId
ALTER TABLE {{.DB}}.metrics_exponential_histogram ADD COLUMN InsertId UInt64 DEFAULT 0
;
-- unless column metrics_summary InsertId
ALTER TABLE {{.DB}}.metrics_summary ADD COLUMN InsertId UInt64 DEFAULT 0
