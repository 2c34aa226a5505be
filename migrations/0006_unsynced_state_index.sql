-- The sync-state index holds only the partners a person looks for by state:
-- pending, rejected, in conflict. Synced is what most partners are, so their
-- entries only made every pulled row cost one more index write, and a filter
-- on "synced" reads most of the table either way. Queries for another state
-- repeat the index's condition so that the planner can use it.
--
-- From this version on, `search_index_deferred` also holds the mark of
-- partners saved one at a time: their search indexing waits for the next
-- search or bulk load (see src/store/search.rs), so the table may be non-empty
-- between transactions.
DROP INDEX partners_by_state;
CREATE INDEX partners_by_state ON partners (sync_state) WHERE deleted_at IS NULL AND sync_state <> 'synced';
