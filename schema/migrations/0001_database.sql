-- The database and the ledger of applied migrations live first; every later file is
-- recorded there once it has run.
CREATE DATABASE IF NOT EXISTS microx;

CREATE TABLE IF NOT EXISTS microx.schema_migrations
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY version;
