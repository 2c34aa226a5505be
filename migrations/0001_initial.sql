-- Partnerbook schema, version 1.
-- Times are RFC 3339 UTC text; local keys are UUID v7 text (time-ordered).
-- Every local change also writes an `outbox` row in the same transaction.

CREATE TABLE partners (
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
    server_id             TEXT    UNIQUE,
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
    deleted_at            TEXT
);
CREATE INDEX partners_by_name  ON partners (company_name COLLATE NOCASE) WHERE deleted_at IS NULL;
CREATE INDEX partners_by_state ON partners (sync_state) WHERE deleted_at IS NULL;
CREATE INDEX partners_by_email ON partners (email COLLATE NOCASE);

-- Type-ahead search: prefix match on any word of the company name or email.
CREATE VIRTUAL TABLE partners_fts USING fts5(
    company_name, email,
    content = 'partners', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2', prefix = '1 2 3'
);
CREATE TRIGGER partners_fts_insert AFTER INSERT ON partners BEGIN
    INSERT INTO partners_fts (rowid, company_name, email) VALUES (new.rowid, new.company_name, new.email);
END;
CREATE TRIGGER partners_fts_delete AFTER DELETE ON partners BEGIN
    INSERT INTO partners_fts (partners_fts, rowid, company_name, email)
        VALUES ('delete', old.rowid, old.company_name, old.email);
END;
CREATE TRIGGER partners_fts_update AFTER UPDATE OF company_name, email ON partners BEGIN
    INSERT INTO partners_fts (partners_fts, rowid, company_name, email)
        VALUES ('delete', old.rowid, old.company_name, old.email);
    INSERT INTO partners_fts (rowid, company_name, email) VALUES (new.rowid, new.company_name, new.email);
END;

CREATE TABLE organizations (
    rowid             INTEGER PRIMARY KEY,
    key               TEXT    NOT NULL UNIQUE, -- also the client-chosen `id` sent to the central API
    name              TEXT    NOT NULL,
    org_type          TEXT    NOT NULL CHECK (org_type IN ('F', 'S', 'B', 'R', 'V')),
    address           TEXT    NOT NULL,
    address2          TEXT,
    city              TEXT,
    province          TEXT,
    postal            TEXT,
    country           TEXT    NOT NULL CHECK (length(country) = 2),
    phone             TEXT    NOT NULL,
    billing_email     TEXT,
    office_id         TEXT,
    linked_to         TEXT,
    description       TEXT,
    latitude          REAL    CHECK (latitude BETWEEN -90 AND 90),
    longitude         REAL    CHECK (longitude BETWEEN -180 AND 180),
    server_created_at TEXT,
    server_updated_at TEXT,
    sync_state        TEXT    NOT NULL DEFAULT 'pending'
                              CHECK (sync_state IN ('pending', 'synced', 'rejected', 'conflict')),
    sync_error        TEXT,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL,
    deleted_at        TEXT,
    CHECK ((latitude IS NULL) = (longitude IS NULL))
);
CREATE INDEX organizations_by_name  ON organizations (name COLLATE NOCASE) WHERE deleted_at IS NULL;
CREATE INDEX organizations_by_state ON organizations (sync_state) WHERE deleted_at IS NULL;

CREATE TABLE contacts (
    org_rowid  INTEGER NOT NULL REFERENCES organizations (rowid) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    first_name TEXT    NOT NULL,
    last_name  TEXT,
    email      TEXT,
    phone      TEXT,
    work_phone TEXT,
    PRIMARY KEY (org_rowid, position)
) WITHOUT ROWID;

CREATE VIRTUAL TABLE organizations_fts USING fts5(
    name, billing_email, city,
    content = 'organizations', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2', prefix = '1 2 3'
);
CREATE TRIGGER organizations_fts_insert AFTER INSERT ON organizations BEGIN
    INSERT INTO organizations_fts (rowid, name, billing_email, city)
        VALUES (new.rowid, new.name, new.billing_email, new.city);
END;
CREATE TRIGGER organizations_fts_delete AFTER DELETE ON organizations BEGIN
    INSERT INTO organizations_fts (organizations_fts, rowid, name, billing_email, city)
        VALUES ('delete', old.rowid, old.name, old.billing_email, old.city);
END;
CREATE TRIGGER organizations_fts_update AFTER UPDATE OF name, billing_email, city ON organizations BEGIN
    INSERT INTO organizations_fts (organizations_fts, rowid, name, billing_email, city)
        VALUES ('delete', old.rowid, old.name, old.billing_email, old.city);
    INSERT INTO organizations_fts (rowid, name, billing_email, city)
        VALUES (new.rowid, new.name, new.billing_email, new.city);
END;

-- The durable queue that sync drains, in `seq` order per record.
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    entity          TEXT    NOT NULL CHECK (entity IN ('partner', 'organization')),
    record_key      TEXT    NOT NULL,
    op              TEXT    NOT NULL CHECK (op IN ('create', 'update', 'delete')),
    payload         TEXT    NOT NULL, -- JSON body as it will be sent
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'rejected')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
);
CREATE INDEX outbox_by_record ON outbox (entity, record_key, seq);
