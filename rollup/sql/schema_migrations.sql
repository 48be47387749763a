-- schema_migrations: one row per applied migration; the highest Version is the schema version.
CREATE TABLE IF NOT EXISTS {{.DB}}.schema_migrations{{onCluster}} (
    Version   UInt32,
    Name      String,
    AppliedAt DateTime,
    Binary    String
) ENGINE = {{everywhere "MergeTree" "schema_migrations"}}
ORDER BY Version
