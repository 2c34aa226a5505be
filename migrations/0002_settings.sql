-- Non-secret settings as JSON documents by name. Secrets (client secret, API
-- key, tokens) never go here: they live in the OS keychain.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
