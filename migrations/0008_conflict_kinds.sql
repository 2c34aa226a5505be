-- What a conflict asks, as a column of its own instead of sentinel field
-- names (`_possible_duplicate`, `_deleted_remotely`) that Rust and the window
-- each had to know: `field` (a field changed on both sides: `field` names
-- it), `possible_duplicate` (a create with an unknown outcome, and a server
-- record that may be it) or `deleted_remotely` (deleted there, changed here).
-- A whole-record question has an empty `field`.
ALTER TABLE conflicts ADD COLUMN kind TEXT NOT NULL DEFAULT 'field'
    CHECK (kind IN ('field', 'possible_duplicate', 'deleted_remotely'));
UPDATE conflicts SET kind = substr(field, 2), field = ''
 WHERE field IN ('_possible_duplicate', '_deleted_remotely');
