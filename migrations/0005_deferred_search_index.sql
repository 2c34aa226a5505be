-- Bulk loads (an import, a large pull) index their new partners in one statement.
--
-- FTS5 writes its pending index data to disk at the start of every statement
-- of a transaction (each statement opens a savepoint), so inserting rows one
-- statement at a time wrote one tiny index segment per row and then spent most
-- of the load merging them. While a row sits in `search_index_deferred`, the
-- triggers leave partners with rowid >= since_rowid out of the index; the same
-- transaction then indexes them all at once and deletes the row. The table is
-- only ever non-empty inside that transaction.
CREATE TABLE search_index_deferred (since_rowid INTEGER NOT NULL);

DROP TRIGGER partners_fts_insert;
DROP TRIGGER partners_fts_delete;
DROP TRIGGER partners_fts_update;

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

-- The UNIQUE constraint on server_id has its own index, which answers lookups
-- by server id; this second one only made every pulled row cost one more write.
DROP INDEX partners_by_server_id;
