-- When the latest attempt at a change began, in milliseconds since 1970 (UTC).
--
-- A partner create whose answer was lost may still be on its way to the
-- server: a request the client gave up on can commit seconds later. Such a
-- create is looked for (and sent again if it is not there) only once a settle
-- window has passed since its attempt began, and the start must survive a
-- restart, so it is stored. Rows attempted before this version take the time
-- the attempt was counted (updated_at), to the second.
ALTER TABLE outbox ADD COLUMN attempted_at_ms INTEGER;
UPDATE outbox
   SET attempted_at_ms = CAST(round((julianday(updated_at) - 2440587.5) * 86400000.0) AS INTEGER)
 WHERE attempts > 0;
