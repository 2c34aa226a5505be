-- Fewer index entries for every partner written, without a lookup losing its index.
--
-- * server_id: the UNIQUE column constraint indexed every local partner not yet
--   on the server under NULL. A partial unique index holds linked partners only,
--   with the same uniqueness; SQLite cannot change a column constraint in
--   place, so the table is rebuilt (same columns, rowids, checks).
-- * sync state: the index holds only rejected partners and those in conflict.
--   Synced is what most partners are (a filter on it reads the list in name
--   order); a pending partner is one with a change in the outbox, which the
--   outbox's own index finds. Queries repeat the index's condition so that the
--   planner uses it (src/store/partners.rs, `Selection`).
--
-- From this version on, `search_index_deferred` also marks partners saved one
-- at a time: their search indexing waits for the next search or bulk load
-- (src/store/search.rs), so the table may hold a row between transactions.

CREATE TABLE partners_rebuilt (
    rowid                 INTEGER PRIMARY KEY,
    key                   TEXT    NOT NULL UNIQUE,
    target_org_id         TEXT,
    company_name          TEXT    NOT NULL,
    sales_amount          INTEGER NOT NULL CHECK (sales_amount BETWEEN 0 AND 2147483647),
    partner_type          TEXT    NOT NULL CHECK (partner_type IN ('customer', 'supplier')),
    email                 TEXT    NOT NULL,
    frequency             TEXT    NOT NULL,
    payment_terms         TEXT    NOT NULL,
    -- Set by the central API.
    server_id             TEXT,
    server_created_at     TEXT,
    server_updated_at     TEXT,
    invitation_status     TEXT    CHECK (invitation_status IN ('invited', 'accepted')),
    guest_organization_id TEXT,
    -- Local bookkeeping.
    sync_state            TEXT    NOT NULL DEFAULT 'pending'
                                  CHECK (sync_state IN ('pending', 'synced', 'rejected', 'conflict')),
    sync_error            TEXT,   -- JSON: {message, fields: [{field, code, message}]}
    created_at            TEXT    NOT NULL,
    updated_at            TEXT    NOT NULL,
    deleted_at            TEXT,
    sync_base             TEXT    -- JSON: the fields as last agreed with the central API
);
INSERT INTO partners_rebuilt SELECT * FROM partners;

-- The search index keeps its rows: the rowids do not change, and without its
-- triggers dropping the old table does not touch it.
DROP TRIGGER partners_fts_insert;
DROP TRIGGER partners_fts_delete;
DROP TRIGGER partners_fts_update;
DROP TABLE partners;
ALTER TABLE partners_rebuilt RENAME TO partners;

CREATE UNIQUE INDEX partners_by_server_id ON partners (server_id) WHERE server_id IS NOT NULL;
CREATE INDEX partners_by_name  ON partners (company_name COLLATE NOCASE) WHERE deleted_at IS NULL;
CREATE INDEX partners_by_email ON partners (email COLLATE NOCASE);
CREATE INDEX partners_by_state ON partners (sync_state)
    WHERE deleted_at IS NULL AND sync_state IN ('rejected', 'conflict');

CREATE TRIGGER partners_fts_insert AFTER INSERT ON partners
WHEN NOT EXISTS (SELECT 1 FROM search_index_deferred WHERE new.rowid >= since_rowid) BEGIN
    INSERT INTO partners_fts (rowid, company_name, email) VALUES (new.rowid, new.company_name, new.email);
END;
CREATE TRIGGER partners_fts_delete AFTER DELETE ON partners
WHEN NOT EXISTS (SELECT 1 FROM search_index_deferred WHERE old.rowid >= since_rowid) BEGIN
    INSERT INTO partners_fts (partners_fts, rowid, company_name, email)
        VALUES ('delete', old.rowid, old.company_name, old.email);
END;
CREATE TRIGGER partners_fts_update AFTER UPDATE OF company_name, email ON partners
WHEN NOT EXISTS (SELECT 1 FROM search_index_deferred WHERE old.rowid >= since_rowid) BEGIN
    INSERT INTO partners_fts (partners_fts, rowid, company_name, email)
        VALUES ('delete', old.rowid, old.company_name, old.email);
    INSERT INTO partners_fts (rowid, company_name, email) VALUES (new.rowid, new.company_name, new.email);
END;
