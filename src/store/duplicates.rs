//! Candidates for the duplicate warning: the stored partners a new or edited
//! one may duplicate, found through the email index and the search index,
//! then judged by [`crate::duplicates::Matcher`].
//!
//! Comparing a name against every partner is 100,000 string comparisons at
//! 100,000 partners; the search index narrows that to the partners sharing
//! the start of a name word (its first three letters) or a word of the
//! email's company domain, best matches first. A typo in the first three
//! letters of every word of a name is therefore not caught by the name alone
//! (the email still is); the labelled pairs in the tests measure what this
//! costs.

use std::collections::HashSet;

use serde::Serialize;
use uuid::Uuid;

use super::{Result, Store};
use crate::duplicates::{Likeness, Matcher, Probe};

/// A stored record the draft may duplicate: a partner (its company name) or
/// an organization (its name).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PossibleDuplicate {
    pub key: Uuid,
    pub name: String,
    pub email: String,
    pub likeness: Likeness,
    /// How alike the names are, 0 to 1 (1 for an equal email or name).
    pub similarity: f64,
}

/// The most candidates read from the search index, and shown.
const CANDIDATES: usize = 200;
const SHOWN: usize = 5;

/// Domain words that say nothing of the company ("acme.com.vn").
const DOMAIN_NOISE: &[&str] = &["com", "net", "org", "gov", "edu", "www", "mail"];

/// The search-index query for `probe`: each name word's first three letters
/// as a prefix (in column `name`), and each word of the company domain but
/// its last label (in column `email`).
fn candidate_query(probe: &Probe, name: &str, email: &str) -> Option<String> {
    let mut terms: Vec<String> = probe
        .name
        .split_whitespace()
        .map(|w| w.chars().take(3).collect::<String>())
        .collect::<HashSet<_>>()
        .into_iter()
        .map(|prefix| format!("{name} : \"{prefix}\"*"))
        .collect();
    if let Some(domain) = &probe.domain {
        let labels: Vec<&str> = domain.split('.').collect();
        let words = labels[..labels.len().saturating_sub(1)]
            .iter()
            .flat_map(|l| l.split(|c: char| !c.is_alphanumeric()))
            .filter(|w| w.chars().count() >= 3 && !DOMAIN_NOISE.contains(w));
        terms.extend(words.map(|w| format!("{email} : \"{w}\"")));
    }
    terms.sort();
    (!terms.is_empty()).then(|| terms.join(" OR "))
}

/// Where one kind of record is looked for: its table, its search index and
/// the columns compared.
struct Source {
    table: &'static str,
    fts: &'static str,
    name: &'static str,
    email: &'static str,
}

const PARTNERS: Source = Source { table: "partners", fts: "partners_fts", name: "company_name", email: "email" };
const ORGANIZATIONS: Source =
    Source { table: "organizations", fts: "organizations_fts", name: "name", email: "billing_email" };

impl Store {
    /// Partners that look like the one being typed (`editing`: its own key,
    /// left out), most alike first, at most five. Deleted partners are not
    /// offered; unsynced ones are.
    pub fn possible_duplicates(
        &self,
        company_name: &str,
        email: &str,
        editing: Option<Uuid>,
    ) -> Result<Vec<PossibleDuplicate>> {
        super::search::catch_up(&self.conn)?;
        self.look_alikes(&PARTNERS, company_name, email, editing)
    }

    /// The same for organizations, by name and billing email. (Their email is
    /// not indexed: organizations number in the thousands, so the exact-email
    /// look-up reads the table, well under a millisecond.)
    pub fn possible_duplicate_organizations(
        &self,
        name: &str,
        billing_email: &str,
        editing: Option<Uuid>,
    ) -> Result<Vec<PossibleDuplicate>> {
        self.look_alikes(&ORGANIZATIONS, name, billing_email, editing)
    }

    fn look_alikes(
        &self,
        source: &Source,
        name: &str,
        email: &str,
        editing: Option<Uuid>,
    ) -> Result<Vec<PossibleDuplicate>> {
        let probe = Probe::new(name, email);
        let Source { table, fts, name: name_col, email: email_col } = source;
        let mut candidates: Vec<(String, String, Option<String>)> = Vec::new();
        if !probe.email.is_empty() {
            let mut same_email = self.conn.prepare_cached(&format!(
                "SELECT key, {name_col}, {email_col} FROM {table}
                 WHERE {email_col} = ?1 COLLATE NOCASE AND deleted_at IS NULL LIMIT 20"
            ))?;
            let rows = same_email.query_map([&probe.email], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            candidates.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
        }
        if let Some(query) = candidate_query(&probe, name_col, email_col) {
            let mut alike = self.conn.prepare_cached(&format!(
                "SELECT t.key, t.{name_col}, t.{email_col} FROM {fts} f JOIN {table} t ON t.rowid = f.rowid
                 WHERE {fts} MATCH ?1 AND t.deleted_at IS NULL ORDER BY f.rank LIMIT ?2"
            ))?;
            let rows = alike
                .query_map(rusqlite::params![query, CANDIDATES as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            candidates.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
        }
        let matcher = Matcher::default();
        let editing = editing.map(|k| k.to_string());
        let mut seen = HashSet::new();
        let mut found: Vec<PossibleDuplicate> = Vec::new();
        for (key, name, mail) in candidates {
            if Some(&key) == editing.as_ref() || !seen.insert(key.clone()) {
                continue;
            }
            let mail = mail.unwrap_or_default();
            let Some((likeness, similarity)) = matcher.assess(&probe, &Probe::new(&name, &mail)) else { continue };
            let Ok(key) = Uuid::parse_str(&key) else { continue };
            found.push(PossibleDuplicate { key, name, email: mail, likeness, similarity });
        }
        found.sort_by(|a, b| a.likeness.cmp(&b.likeness).then(b.similarity.total_cmp(&a.similarity)));
        found.truncate(SHOWN);
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_name_prefixes_and_domain_words_only() {
        let probe = Probe::new("Müller Maschinenbau GmbH", "info@mueller-mb.example");
        assert_eq!(
            candidate_query(&probe, "company_name", "email").as_deref(),
            Some(r#"company_name : "mas"* OR company_name : "mul"* OR email : "mueller""#)
        );
        // A mail provider's domain adds nothing; nothing at all, no query.
        let query = |name, email| candidate_query(&Probe::new(name, email), "company_name", "email");
        assert_eq!(query("Lan", "lan@gmail.com").as_deref(), Some(r#"company_name : "lan"*"#));
        assert_eq!(query("", ""), None);
    }
}
