//! Likely duplicates among partners, found offline while the user types.
//!
//! Two partners are taken for the same company when one of these holds:
//! - the same email, ignoring case;
//! - the same name once both are normalised: case, accents, punctuation and
//!   legal suffixes (GmbH, Ltd, Inc., S.A., Co., JSC, Pte, …) set aside;
//! - an email at the same company domain (not a mail provider such as
//!   gmail.com) and a similar name;
//! - a near name (Jaro–Winkler similarity of the normalised names, from strsim).
//!
//! The thresholds were chosen on half of a labelled set of pairs and checked
//! on the other half (`tests/it/duplicates.rs`, which prints precision and
//! recall). The store finds the candidates (`Store::possible_duplicates`); this
//! module only judges a pair, so the form's warning and the import's check
//! judge alike.

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

/// Why two partners look like one company, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Likeness {
    SameEmail,
    SameName,
    SameDomainSimilarName,
    SimilarName,
}

/// Words that say what kind of company it is, not which: set aside before
/// names are compared. Lowercase, without dots (normalising removes them).
const LEGAL_FORMS: &[&str] = &[
    "ab",
    "ag",
    "as",
    "asa",
    "bhd",
    "bv",
    "co",
    "company",
    "corp",
    "corporation",
    "cv",
    "gmbh",
    "inc",
    "incorporated",
    "jsc",
    "kg",
    "kk",
    "limited",
    "llc",
    "llp",
    "lp",
    "ltd",
    "nv",
    "oy",
    "oyj",
    "plc",
    "pte",
    "pty",
    "sa",
    "sarl",
    "sas",
    "sdn",
    "spa",
    "sl",
    "srl",
    "tnhh",
    "ug",
    "the",
];

/// Mail providers: a shared domain there says nothing about the company.
const MAIL_PROVIDERS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "aol.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "proton.me",
    "protonmail.com",
    "mail.ru",
    "yandex.ru",
    "qq.com",
    "163.com",
    "126.com",
    "naver.com",
    "zoho.com",
];

/// A company name as compared: lowercase, accents removed, punctuation as
/// spaces, legal forms dropped ("S.A." and "Co." included), spaces collapsed.
/// "Müller GmbH & Co. KG" and "muller" are the same name.
pub fn normalized_name(name: &str) -> String {
    let plain: String = name
        .nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        // Dots inside abbreviations go ("s.a." is "sa"); other punctuation separates words.
        .filter(|c| *c != '.' && *c != '\'')
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let words: Vec<&str> = plain.split_whitespace().collect();
    let kept: Vec<&str> = words.iter().copied().filter(|w| !LEGAL_FORMS.contains(w)).collect();
    // A name that is nothing but legal forms ("Co. Ltd") keeps its words.
    if kept.is_empty() { words.join(" ") } else { kept.join(" ") }
}

/// The email's domain, lowercase, unless it is a mail provider's.
pub fn company_domain(email: &str) -> Option<String> {
    let domain = email.rsplit_once('@')?.1.trim().to_lowercase();
    (!domain.is_empty() && !MAIL_PROVIDERS.contains(&domain.as_str())).then_some(domain)
}

/// One side of a comparison, normalised once.
#[derive(Debug, Clone)]
pub struct Probe {
    pub name: String,
    pub email: String,
    pub domain: Option<String>,
}

impl Probe {
    pub fn new(company_name: &str, email: &str) -> Probe {
        Probe { name: normalized_name(company_name), email: email.trim().to_lowercase(), domain: company_domain(email) }
    }
}

/// How similar two names must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Matcher {
    /// Jaro–Winkler of the normalised names, for names alone.
    pub similar_name: f64,
    /// The same, when the emails share a company domain.
    pub similar_name_same_domain: f64,
}

impl Default for Matcher {
    /// Chosen on the training half of the labelled pairs (the test checks
    /// that these are what that half picks, and reports the other half).
    fn default() -> Self {
        Matcher { similar_name: 0.95, similar_name_same_domain: 0.91 }
    }
}

impl Matcher {
    /// Whether `a` and `b` look like one company, and why, with the names'
    /// similarity (1.0 for an equal email or name).
    pub fn assess(&self, a: &Probe, b: &Probe) -> Option<(Likeness, f64)> {
        if !a.email.is_empty() && a.email == b.email {
            return Some((Likeness::SameEmail, 1.0));
        }
        if a.name.is_empty() || b.name.is_empty() {
            return None;
        }
        if a.name == b.name {
            return Some((Likeness::SameName, 1.0));
        }
        let similarity = strsim::jaro_winkler(&a.name, &b.name);
        let same_domain = a.domain.is_some() && a.domain == b.domain;
        if same_domain && similarity >= self.similar_name_same_domain {
            return Some((Likeness::SameDomainSimilarName, similarity));
        }
        (similarity >= self.similar_name).then_some((Likeness::SimilarName, similarity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_compared_without_case_accents_punctuation_or_legal_forms() {
        assert_eq!(normalized_name("Müller GmbH & Co. KG"), "muller");
        assert_eq!(normalized_name("ACME Corp."), "acme");
        assert_eq!(normalized_name("Acme, S.A."), "acme");
        assert_eq!(normalized_name("Công ty TNHH Sài Gòn"), "cong ty sai gon");
        assert_eq!(normalized_name("O'Brien & Sons Pte. Ltd"), "obrien sons");
        assert_eq!(normalized_name("Co. Ltd"), "co ltd", "nothing but legal forms keeps its words");
        assert_eq!(normalized_name("  "), "");
    }

    #[test]
    fn each_likeness_and_its_limits() {
        let m = Matcher::default();
        let p = Probe::new;
        let same = |a: &Probe, b: &Probe| m.assess(a, b).map(|(why, _)| why);
        assert_eq!(same(&p("A", "Buyer@Acme.example"), &p("B", "buyer@acme.example")), Some(Likeness::SameEmail));
        assert_eq!(same(&p("Acme GmbH", "a@x.example"), &p("ACME", "b@y.example")), Some(Likeness::SameName));
        assert_eq!(
            same(&p("Acme Trading", "a@acme.example"), &p("Acme Tradng", "b@acme.example")),
            Some(Likeness::SameDomainSimilarName)
        );
        assert_eq!(same(&p("Acme Tools", "a@x.example"), &p("Acme Foods", "b@y.example")), None);
        // Two companies at one mail provider are not one company for that.
        assert_eq!(same(&p("Lan Florist", "lan@gmail.com"), &p("Lam Fabrics", "lam@gmail.com")), None);
    }
}
