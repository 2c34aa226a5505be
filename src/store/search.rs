//! Type-ahead search: what a person typed to an FTS5 query, and bulk loads
//! that index their rows once at the end instead of row by row.

use rusqlite::Transaction;

use super::Result;

/// Runs `load` (which inserts partners into `tx`) with the search index of its
/// new rows deferred, then indexes them all in one statement.
///
/// FTS5 flushes its pending data at the start of every statement of a
/// transaction, so a load of one INSERT per row wrote one index segment per row
/// and spent most of its time merging them (migration 0005 explains the
/// trigger side). If `load` fails, the caller drops `tx` and nothing of it stays.
pub(super) fn with_partner_index_deferred<T>(tx: &Transaction<'_>, load: impl FnOnce() -> Result<T>) -> Result<T> {
    tx.prepare_cached(
        "INSERT INTO search_index_deferred (since_rowid) SELECT coalesce(max(rowid), 0) + 1 FROM partners",
    )?
    .execute([])?;
    let loaded = load()?;
    tx.prepare_cached(
        "INSERT INTO partners_fts (rowid, company_name, email)
         SELECT rowid, company_name, email FROM partners WHERE rowid >= (SELECT since_rowid FROM search_index_deferred)",
    )?
    .execute([])?;
    tx.prepare_cached("DELETE FROM search_index_deferred")?.execute([])?;
    Ok(loaded)
}

/// Turns what a person typed into an FTS5 query: every word must match the
/// start of some word in the indexed columns (`"acm"* "cor"*`). Punctuation
/// separates words, as the index's tokenizer does, so user text can never be
/// FTS5 syntax. `None` when nothing searchable remains (then: no filter).
pub(crate) fn prefix_query(text: &str) -> Option<String> {
    let terms: Vec<String> =
        text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| format!("\"{w}\"*")).collect();
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
