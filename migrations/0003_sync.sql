-- Sync bookkeeping.
-- `sync_base` holds a record's fields as last agreed with the central API (JSON,
-- in the API's shape), so a pull can tell what changed here, there, or on both sides.
ALTER TABLE partners ADD COLUMN sync_base TEXT;
ALTER TABLE organizations ADD COLUMN sync_base TEXT;
CREATE INDEX partners_by_server_id ON partners (server_id) WHERE server_id IS NOT NULL;

-- A change the server cannot take yet (an operation it does not offer) waits
-- here with the reason, without blocking any other record.
ALTER TABLE outbox ADD COLUMN hold TEXT;

-- Fields changed here and on the server since the last sync: the user chooses.
CREATE TABLE conflicts (
    id           INTEGER PRIMARY KEY,
    entity       TEXT NOT NULL CHECK (entity IN ('partner', 'organization')),
    record_key   TEXT NOT NULL,
    -- A field name, or `_possible_duplicate` / `_deleted_remotely` for whole-record questions.
    field        TEXT NOT NULL,
    base_value   TEXT,  -- JSON
    local_value  TEXT,  -- JSON
    remote_value TEXT,  -- JSON
    detected_at  TEXT NOT NULL,
    resolved_at  TEXT,
    resolution   TEXT CHECK (resolution IN ('mine', 'theirs'))
);
CREATE INDEX conflicts_open ON conflicts (entity, record_key) WHERE resolved_at IS NULL;
