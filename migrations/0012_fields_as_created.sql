-- The six fields the server first held for a partner this side linked
-- (its create's answer, or the record a lost create was found as), as JSON;
-- NULL for partners linked before this version.
--
-- A create that lands after it was sent again is a second copy of these
-- fields. Once the partner is edited (here or on the server), neither its
-- current fields nor the last agreed ones match that copy any more, and the
-- pull took it for a new partner (found by the model test with writes later
-- than the settle window). Compared with this, it is asked about instead.
ALTER TABLE partners ADD COLUMN fields_as_created TEXT;
