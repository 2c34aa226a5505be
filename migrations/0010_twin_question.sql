-- A fourth question: `twin_on_server`, the central system holds a stored
-- partner twice (a create that landed after it was sent again). SQLite
-- cannot change a CHECK constraint in place, so the column is made again
-- with the wider one and the old one dropped (its values kept).
ALTER TABLE conflicts ADD COLUMN question TEXT NOT NULL DEFAULT 'field'
    CHECK (question IN ('field', 'possible_duplicate', 'deleted_remotely', 'twin_on_server'));
UPDATE conflicts SET question = kind;
ALTER TABLE conflicts DROP COLUMN kind;
ALTER TABLE conflicts RENAME COLUMN question TO kind;
