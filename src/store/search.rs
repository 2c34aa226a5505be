//! Type-ahead search text to an FTS5 query.

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
