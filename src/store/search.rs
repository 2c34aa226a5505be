//! Type-ahead search: what a person typed to an FTS5 query, and the search
//! index of new partners, built in batches rather than row by row.
//!
//! A new partner's row is not indexed for search in the transaction that saves
//! it: `search_index_deferred` marks every partner from a rowid on as not yet
//! indexed (migration 0005's triggers leave those rows alone), and the next
//! search, or the bulk load that follows, indexes them all in one statement.
//! FTS5 writes a new index segment per statement, so indexing in the save cost
//! each save five more pages to commit, and later merges; a batch writes one.

use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::{Result, StoreError};

/// Marks partners inserted from now on as not yet indexed, unless earlier ones
/// are waiting already (then the mark made for them covers these too).
pub const DEFER_PARTNER_INDEX: &str = "INSERT INTO search_index_deferred (since_rowid)
     SELECT (SELECT coalesce(max(rowid), 0) + 1 FROM partners) WHERE NOT EXISTS (SELECT 1 FROM search_index_deferred)";

/// Indexes every partner still waiting, in one statement.
pub const INDEX_DEFERRED_PARTNERS: &str = "INSERT INTO partners_fts (rowid, company_name, email)
     SELECT rowid, company_name, email FROM partners
     WHERE rowid >= (SELECT min(since_rowid) FROM search_index_deferred)";

pub(super) fn defer_partner_index(tx: &Transaction<'_>) -> Result<()> {
    tx.prepare_cached(DEFER_PARTNER_INDEX)?.execute([])?;
    Ok(())
}

/// Indexes every partner still waiting and clears the mark.
fn index_deferred_partners(conn: &Connection) -> Result<()> {
    conn.prepare_cached(INDEX_DEFERRED_PARTNERS)?.execute([])?;
    conn.prepare_cached("DELETE FROM search_index_deferred")?.execute([])?;
    Ok(())
}

/// Runs `load` (which inserts partners into `tx`) with their search index
/// deferred, then indexes them, and any saved before, in one statement. If
/// `load` fails, the caller drops `tx` and nothing of it stays.
pub(super) fn with_partner_index_deferred<T>(tx: &Transaction<'_>, load: impl FnOnce() -> Result<T>) -> Result<T> {
    defer_partner_index(tx)?;
    let loaded = load()?;
    index_deferred_partners(tx)?;
    Ok(loaded)
}

/// Indexes the partners saved since the last search, so a search finds them.
///
/// This is a write, made on a read path. It does not wait for another process
/// holding the database: then the search runs without the newest partners,
/// until that process's own bulk load or this one's next search indexes them.
pub(super) fn catch_up(conn: &Connection) -> Result<()> {
    let waiting: bool =
        conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM search_index_deferred)")?.query_row([], |r| r.get(0))?;
    if !waiting {
        return Ok(());
    }
    let wait_ms: i64 = conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0))?;
    conn.busy_timeout(Duration::ZERO)?;
    let indexed =
        Transaction::new_unchecked(conn, TransactionBehavior::Immediate).map_err(StoreError::from).and_then(|tx| {
            index_deferred_partners(&tx)?;
            Ok(tx.commit()?)
        });
    conn.busy_timeout(Duration::from_millis(wait_ms.max(0) as u64))?;
    match indexed {
        Err(StoreError::Locked) => {
            tracing::info!("search index catch-up skipped: another process is writing to the database");
            Ok(())
        }
        other => other,
    }
}

/// The words of a search that count; the rest are ignored. No one types
/// more; 20,000 repeated words once made a search take over a minute.
pub const MAX_SEARCH_WORDS: usize = 32;

/// Turns what a person typed into an FTS5 query: every word must match the
/// start of some word in the indexed columns (`"acm"* "cor"*`). Punctuation
/// separates words, as the index's tokenizer does, so user text can never be
/// FTS5 syntax. `None` when nothing searchable remains (then: no filter).
pub(crate) fn prefix_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_SEARCH_WORDS)
        .map(|w| format!("\"{w}\"*"))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

#[cfg(test)]
mod tests {
    use super::prefix_query;

    #[test]
    fn words_become_quoted_prefixes() {
        assert_eq!(prefix_query("acme co").as_deref(), Some(r#""acme"* "co"*"#));
        assert_eq!(prefix_query("j.smith@exa").as_deref(), Some(r#""j"* "smith"* "exa"*"#));
    }

    #[test]
    fn syntax_cannot_leak_in() {
        assert_eq!(prefix_query(r#"" OR * NEAR("#).as_deref(), Some(r#""OR"* "NEAR"*"#));
        assert_eq!(prefix_query("  @@ -- "), None);
    }

    #[test]
    fn non_ascii_words_are_kept() {
        assert_eq!(prefix_query("Müller 株式").as_deref(), Some(r#""Müller"* "株式"*"#));
    }
}
