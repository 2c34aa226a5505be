//! The `FROM .. WHERE ..` of a list query, built the same way for both
//! tables: a search joins the table's full-text index, deleted records stay
//! out unless asked for, and each filter adds a condition and its value.

use rusqlite::ToSql;

use super::Paging;

/// What a list query selects, with its arguments in order.
pub(super) struct Selection {
    /// `FROM table alias [JOIN table_fts f] [WHERE ..]`.
    pub from_filter: String,
    values: Vec<Box<dyn ToSql>>,
}

/// A [`Selection`] being built: the conditions are joined with AND.
pub(super) struct Filter {
    from: String,
    conditions: Vec<String>,
    values: Vec<Box<dyn ToSql>>,
}

impl Filter {
    /// `table` read as `alias`, its `<table>_fts` index matched against
    /// `search` (each word a prefix) when that has words in it.
    pub fn new(table: &'static str, alias: &'static str, search: Option<&str>, paging: &Paging) -> Filter {
        let mut filter = Filter { from: format!("FROM {table} {alias}"), conditions: Vec::new(), values: Vec::new() };
        if let Some(fts) = search.and_then(super::search::prefix_query) {
            filter.from.push_str(&format!(" JOIN {table}_fts f ON f.rowid = {alias}.rowid"));
            filter.holds_with(format!("{table}_fts MATCH ?"), fts);
        }
        if !paging.include_deleted {
            filter.holds(format!("{alias}.deleted_at IS NULL"));
        }
        filter
    }

    /// Adds a condition with no argument.
    pub fn holds(&mut self, condition: impl Into<String>) {
        self.conditions.push(condition.into());
    }

    /// Adds a condition with one `?`, bound to `value`.
    pub fn holds_with(&mut self, condition: impl Into<String>, value: impl ToSql + 'static) {
        self.conditions.push(condition.into());
        self.values.push(Box::new(value));
    }

    pub fn done(self) -> Selection {
        let filter = if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        };
        Selection { from_filter: format!("{}{filter}", self.from), values: self.values }
    }
}

impl Selection {
    pub fn args(&self) -> Vec<&dyn ToSql> {
        self.values.iter().map(|a| a.as_ref()).collect()
    }
}
