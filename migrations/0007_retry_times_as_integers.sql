-- Retry times as integer milliseconds since 1970 (UTC), not RFC 3339 text.
--
-- As text, SQL compared them as strings while Rust parsed them as dates, and
-- the two disagreed: a server's `Retry-After: 300000000000` was stored as
-- '+11476-05-05T…', which sorts before '2026-…' (so SQL called it due) and
-- which the date parser refused (so reading the outbox failed, and with it
-- sync, the outbox list, Retry and Discard). An integer compares the same
-- way in both. A time SQLite cannot read (a year past 9999) becomes NULL:
-- the change is due now.
ALTER TABLE outbox ADD COLUMN next_attempt_ms INTEGER;
UPDATE outbox
   SET next_attempt_ms = CAST(round((julianday(next_attempt_at) - 2440587.5) * 86400000.0) AS INTEGER)
 WHERE next_attempt_at IS NOT NULL;
ALTER TABLE outbox DROP COLUMN next_attempt_at;
