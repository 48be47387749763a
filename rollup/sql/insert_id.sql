-- insert_id: migration 8. Every table weir fills with whole blocks gets the id of the block
-- that wrote each row (constant within a block, so it costs next to nothing on disk). After
-- a crash weir asks whether a block it had sent arrived (SELECT ... WHERE InsertId = ?)
-- before sending it again, so a block is stored once. The tiers above one minute are
-- rebuilt, not appended, and trace_index merges its states: neither needs it.
{{template "add_column" (addColumn . "spans" "InsertId" "UInt64 DEFAULT 0")}}
;
{{template "add_column" (addColumn . "red_1m" "InsertId" "UInt64 DEFAULT 0")}}
;
{{template "add_column" (addColumn . "edges_1m" "InsertId" "UInt64 DEFAULT 0")}}
;
{{template "add_column" (addColumn . "series_1m" "InsertId" "UInt64 DEFAULT 0")}}
;
{{template "add_column" (addColumn . "metrics_gauge" "InsertId" "UInt64 DEFAULT 0")}}
;
{{template "add_column" (addColumn . "metrics_sum" "InsertId" "UInt64 DEFAULT 0")}}
;
{{template "add_column" (addColumn . "metrics_histogram" "InsertId" "UInt64 DEFAULT 0")}}
;
{{template "add_column" (addColumn . "metrics_exponential_histogram" "InsertId" "UInt64 DEFAULT 0")}}
;
{{template "add_column" (addColumn . "metrics_summary" "InsertId" "UInt64 DEFAULT 0")}}
