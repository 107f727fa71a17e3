//! A readable diff of two Kubernetes objects: the changed leaves as
//! `path: old -> new`, without the fields the server churns on every write.

use serde_json::Value;

/// Fields that change on every write and say nothing about the change.
const NOISE: [&str; 6] = [
    "/metadata/resourceVersion",
    "/metadata/generation",
    "/metadata/managedFields",
    "/metadata/creationTimestamp",
    "/metadata/uid",
    "/status",
];

fn leaves(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    if NOISE.iter().any(|n| prefix.starts_with(n)) {
        return;
    }
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                // JSON pointer escaping, so a path reads as kubectl's do
                let k = k.replace('~', "~0").replace('/', "~1");
                leaves(&format!("{prefix}/{k}"), v, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                leaves(&format!("{prefix}/{i}"), v, out);
            }
        }
        leaf => out.push((prefix.to_owned(), leaf.to_string())),
    }
}

/// `path: old -> new` per changed leaf, sorted by path; empty when nothing
/// but server bookkeeping differs.
pub fn readable_diff(before: &Value, after: &Value) -> Vec<String> {
    let mut old = Vec::new();
    let mut new = Vec::new();
    leaves("", before, &mut old);
    leaves("", after, &mut new);
    let old: std::collections::BTreeMap<String, String> = old.into_iter().collect();
    let new: std::collections::BTreeMap<String, String> = new.into_iter().collect();
    let mut paths: Vec<&String> = old.keys().chain(new.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|p| match (old.get(p), new.get(p)) {
            (Some(a), Some(b)) if a == b => None,
            (Some(a), Some(b)) => Some(format!("{p}: {a} -> {b}")),
            (Some(a), None) => Some(format!("{p}: {a} -> (removed)")),
            (None, Some(b)) => Some(format!("{p}: (absent) -> {b}")),
            (None, None) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_real_changes_are_shown() {
        let before = json!({"metadata": {"name": "payments", "resourceVersion": "1", "annotations": {"a/b": "x"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "shop:1"}]}}},
            "status": {"replicas": 2}});
        let after = json!({"metadata": {"name": "payments", "resourceVersion": "2", "annotations": {"a/b": "x"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "c", "image": "shop:2"}]}}},
            "status": {"replicas": 3}});
        assert_eq!(
            readable_diff(&before, &after),
            vec![
                "/spec/replicas: 2 -> 3".to_owned(),
                "/spec/template/spec/containers/0/image: \"shop:1\" -> \"shop:2\"".to_owned(),
            ]
        );
        assert!(readable_diff(&before, &before).is_empty());
        let added =
            json!({"metadata": {"name": "payments", "annotations": {"a/b": "x", "k": "v"}}});
        let diff = readable_diff(
            &json!({"metadata": {"name": "payments", "annotations": {"a/b": "x"}}}),
            &added,
        );
        assert_eq!(
            diff,
            vec!["/metadata/annotations/k: (absent) -> \"v\"".to_owned()]
        );
    }
}
