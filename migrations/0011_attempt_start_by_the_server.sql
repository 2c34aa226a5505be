-- When the latest attempt at a change began by the server's clock (its
-- `Date` header, as last seen), in milliseconds since 1970; NULL when no
-- answer had told it yet.
--
-- The settle window is counted on this machine's clock (`attempted_at_ms`),
-- which can jump forward. Before a lost partner create is looked for and
-- sent again, the server's clock is asked too: if it says the window has
-- not passed since this start, the create waits on.
ALTER TABLE outbox ADD COLUMN attempt_server_ms INTEGER;
