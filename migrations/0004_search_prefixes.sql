-- Type-ahead over large lists: prefix indexes up to six characters, so a
-- prefix like "buyer5" (which matches a hundred thousand distinct words in a
-- million partners) is one index lookup instead of a merge of every word.
DROP TABLE partners_fts;
CREATE VIRTUAL TABLE partners_fts USING fts5(
    company_name, email,
    content = 'partners', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2', prefix = '1 2 3 4 5 6'
);
INSERT INTO partners_fts (partners_fts) VALUES ('rebuild');
