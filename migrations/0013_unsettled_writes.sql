-- Update bodies sent whose answer was lost: each may still land on the
-- server, later than any window promises, and overwrite a newer change
-- (the API has no conditional update). A pull that finds the server holding
-- one of these bodies knows it as this side's own old write, not as news,
-- and sends the newer fields again (found by the model test with writes
-- later than the settle window: a local edit was silently lost that way).
-- Rows older than an hour are forgotten (see plan::LATE_WRITE_HORIZON).
CREATE TABLE unsettled_writes (
    entity      TEXT    NOT NULL,
    record_key  TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    sent_at_ms  INTEGER NOT NULL
);
CREATE INDEX unsettled_writes_by_record ON unsettled_writes (entity, record_key);
