-- What the central system has said this side may not do, kept until it can
-- work: across restarts, and alike for the command line and the window.
--
-- An API whose sign-in was refused (the token endpoint said no, or a 401
-- outlived a new token) makes no request until the credentials change, the
-- user presses "Try again", or the hourly probe comes due. The credentials
-- are remembered only as an HMAC-SHA256 keyed by this database's own random
-- salt (settings row 'credentials_salt'): never the secret, never a plain
-- hash that a list of leaked secrets could be checked against.
CREATE TABLE sign_in_pauses (
    api             TEXT    PRIMARY KEY,  -- the entity its API serves: 'partner' | 'organization'
    reason          TEXT    NOT NULL,
    credentials_mac TEXT    NOT NULL,
    paused_at_ms    INTEGER NOT NULL,
    probe_at_ms     INTEGER NOT NULL
);

-- Connected organizations that refused a write to their partners (403):
-- read-only here, with the server's reason, until the credentials or the
-- sync settings change (then a held change is tried once more).
CREATE TABLE read_only_organizations (
    org_id       TEXT    PRIMARY KEY,
    reason       TEXT    NOT NULL,
    settings_mac TEXT    NOT NULL,
    since_ms     INTEGER NOT NULL
);

-- What each list held at its last full read, for the cheap check between
-- full pulls (sync::cadence): a one-item request reads the list's total, and
-- a total that moved other than by this side's own linked records means
-- someone else added or deleted there. `list` is 'organization' or
-- 'partner:<organization id>'.
CREATE TABLE list_totals (
    list         TEXT    PRIMARY KEY,
    server_total INTEGER NOT NULL,
    local_linked INTEGER NOT NULL
);
