-- schema_migrations: one row per applied migration; the highest Version is the schema version.
CREATE TABLE IF NOT EXISTS {{.DB}}.schema_migrations (
    Version   UInt32,
    Name      String,
    AppliedAt DateTime,
    Binary    String
) ENGINE = MergeTree
ORDER BY Version
