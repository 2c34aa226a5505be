//! Server timestamps: microseconds since the epoch, strictly increasing per write, in each vendor's format.
//!
//! Strictly increasing matters: a sync engine diffs `updated_at` against its base version, so two
//! writes in the same microsecond must still look different.

use chrono::{DateTime, Utc};

/// Returns a timestamp later than `last` and not earlier than now, and remembers it.
pub(crate) fn tick(last: &mut i64) -> i64 {
    let now = Utc::now().timestamp_micros();
    let next = now.max(*last + 1);
    *last = next;
    next
}

fn utc(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// The partners API's form: RFC 3339 in UTC with microseconds, e.g. `2026-11-26T10:00:00.123456Z`.
pub(crate) fn rfc3339_micros(micros: i64) -> String {
    utc(micros).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The organizations API's form (Python's `str(datetime)`), e.g. `2021-06-02 12:34:02.861000+00:00`.
pub(crate) fn python_utc(micros: i64) -> String {
    utc(micros).format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_vendors() {
        let micros = 1_622_637_242_861_000; // 2021-06-02 12:34:02.861 UTC
        assert_eq!(python_utc(micros), "2021-06-02 12:34:02.861000+00:00");
        assert_eq!(rfc3339_micros(micros), "2021-06-02T12:34:02.861000Z");
    }

    #[test]
    fn tick_is_strictly_increasing_even_ahead_of_the_clock() {
        let mut last = Utc::now().timestamp_micros() + 10_000_000;
        let a = tick(&mut last);
        let b = tick(&mut last);
        assert!(b > a);
        assert_eq!(b, last);
    }
}
