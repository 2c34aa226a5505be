//! The three-way merge a pull makes, field by field, against the base (the
//! fields as last agreed with the server). No clocks are compared: a field
//! changed on one side only is taken from that side; changed on both sides to
//! different values, it is a conflict the user resolves.

use serde_json::{Map, Value};

/// One field changed here and on the server.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldConflict {
    pub field: String,
    pub base: Value,
    pub local: Value,
    pub remote: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Merge {
    /// The fields to keep locally: remote changes taken, local changes and conflicting local values kept.
    pub merged: Map<String, Value>,
    pub conflicts: Vec<FieldConflict>,
    /// Whether `merged` holds local changes the server does not have yet.
    pub ahead_of_remote: bool,
}

/// Merges `local` and `remote` against `base`; every key of either side counts.
pub fn merge(base: &Map<String, Value>, local: &Map<String, Value>, remote: &Map<String, Value>) -> Merge {
    let mut merged = Map::new();
    let mut conflicts = Vec::new();
    let mut keys: Vec<&String> = local.keys().chain(remote.keys()).collect();
    keys.dedup();
    let mut seen = std::collections::HashSet::new();
    for key in keys {
        if !seen.insert(key) {
            continue;
        }
        let b = base.get(key).unwrap_or(&Value::Null);
        let l = local.get(key).unwrap_or(&Value::Null);
        let r = remote.get(key).unwrap_or(&Value::Null);
        let value = if l == r || r == b {
            l.clone() // the same on both sides, or changed here only
        } else if l == b {
            r.clone() // changed there only
        } else {
            conflicts.push(FieldConflict { field: key.clone(), base: b.clone(), local: l.clone(), remote: r.clone() });
            l.clone() // kept until the user chooses
        };
        merged.insert(key.clone(), value);
    }
    let ahead_of_remote = merged.iter().any(|(k, v)| remote.get(k).unwrap_or(&Value::Null) != v);
    Merge { merged, conflicts, ahead_of_remote }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn takes_theirs_keeps_mine_and_flags_both() {
        let base = map(json!({"a": 1, "b": 1, "c": 1, "d": 1}));
        let local = map(json!({"a": 2, "b": 1, "c": 3, "d": 5}));
        let remote = map(json!({"a": 1, "b": 2, "c": 4, "d": 5}));
        let m = merge(&base, &local, &remote);
        assert_eq!(m.merged, map(json!({"a": 2, "b": 2, "c": 3, "d": 5})));
        assert_eq!(m.conflicts.len(), 1);
        assert_eq!(m.conflicts[0].field, "c");
        assert_eq!((m.conflicts[0].local.clone(), m.conflicts[0].remote.clone()), (json!(3), json!(4)));
        assert!(m.ahead_of_remote);
    }

    fn record() -> impl Strategy<Value = Map<String, Value>> {
        proptest::collection::vec(0..3i64, 4).prop_map(|v| {
            v.into_iter().enumerate().map(|(i, x)| (format!("f{i}"), json!(x))).collect::<Map<String, Value>>()
        })
    }

    proptest! {
        /// Nothing changed here: the merge is exactly the server's record, never a conflict.
        #[test]
        fn unchanged_local_takes_remote(base in record(), remote in record()) {
            let m = merge(&base, &base, &remote);
            prop_assert_eq!(&m.merged, &remote);
            prop_assert!(m.conflicts.is_empty());
            prop_assert!(!m.ahead_of_remote);
        }

        /// Nothing changed there: local is kept as it is.
        #[test]
        fn unchanged_remote_keeps_local(base in record(), local in record()) {
            let m = merge(&base, &local, &base);
            prop_assert_eq!(&m.merged, &local);
            prop_assert!(m.conflicts.is_empty());
            prop_assert_eq!(m.ahead_of_remote, local != base);
        }

        /// A conflict is exactly a field changed on both sides to different values,
        /// and every other field comes from the side that changed it.
        #[test]
        fn conflicts_are_exactly_double_changes(base in record(), local in record(), remote in record()) {
            let m = merge(&base, &local, &remote);
            for (k, b) in &base {
                let (l, r) = (&local[k], &remote[k]);
                let conflicting = l != b && r != b && l != r;
                prop_assert_eq!(m.conflicts.iter().any(|c| &c.field == k), conflicting);
                let expected = if l == b { r } else { l };
                prop_assert_eq!(&m.merged[k], expected);
            }
            // Merging the result again against the remote as base changes nothing.
            let again = merge(&remote, &m.merged, &remote);
            prop_assert_eq!(&again.merged, &m.merged);
        }
    }
}
