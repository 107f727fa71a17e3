//! Label rules shared by every format: Prometheus 2.x names, bounded sizes,
//! sorted output, no duplicates.

use aiops_core::labels::PairRef;
use aiops_core::model::{LabelPairs, METRIC_NAME};

use crate::error::{IngestError, Position, excerpt};
use crate::limits::Limits;

/// What a label set belongs to, which decides what it must contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LabelSetKind {
    /// A metric series: needs a valid `__name__`.
    Series,
    /// A log stream: needs at least one label, as Loki does.
    Stream,
    /// Loki structured metadata of one entry: may be empty.
    Metadata,
}

/// Checks a received label set and returns it sorted by name.
///
/// - At most `max_labels_per_series` pairs, names and values within their
///   byte limits (checked first, so no regex work is spent on a 1 MiB name).
/// - Names match `[a-zA-Z_][a-zA-Z0-9_]*`, as in Prometheus 2.x; `__name__`'s
///   value matches `[a-zA-Z_:][a-zA-Z0-9_:]*`. Values are any UTF-8 (prost and
///   serde have checked that already).
/// - Duplicate names are rejected, even when one of the values is empty.
/// - Pairs with an empty value are then dropped: in Prometheus' data model an
///   empty label is the same as no label (its TSDB drops them on append too).
/// - Senders must sort labels, but order carries no meaning, so the engine
///   sorts rather than rejects.
pub(crate) fn normalize(
    at: Position,
    kind: LabelSetKind,
    mut labels: LabelPairs,
    limits: &Limits,
) -> Result<LabelPairs, IngestError> {
    normalize_tail(at, kind, &mut labels, 0, limits)?;
    Ok(labels)
}

/// [`normalize`] for the pairs `labels[start..]`, owned or borrowed from the
/// request: lets a decoder keep every series' labels in one flat vector.
pub(crate) fn normalize_tail<P: PairRef>(
    at: Position,
    kind: LabelSetKind,
    labels: &mut Vec<P>,
    start: usize,
    limits: &Limits,
) -> Result<(), IngestError> {
    let set = &mut labels[start..];
    check_count(at, set.len(), limits)?;
    for pair in set.iter() {
        check_pair(at, pair.name(), pair.value(), limits)?;
    }
    if !set.is_sorted_by(|a, b| a.name() <= b.name()) {
        set.sort_unstable_by(|a, b| a.name().cmp(b.name()));
    }
    if let Some(pair) = set.windows(2).find(|pair| pair[0].name() == pair[1].name()) {
        return Err(IngestError::DuplicateLabel {
            at,
            name: pair[0].name().to_owned(),
        });
    }
    // Drop empty values in place, keeping the order of the rest.
    let mut kept = start;
    for index in start..labels.len() {
        if !labels[index].value().is_empty() {
            labels.swap(kept, index);
            kept += 1;
        }
    }
    labels.truncate(kept);
    let set = &labels[start..];
    match kind {
        LabelSetKind::Series => check_metric_name(at, set)?,
        LabelSetKind::Stream if set.is_empty() => return Err(IngestError::EmptyLabels { at }),
        LabelSetKind::Stream | LabelSetKind::Metadata => {}
    }
    Ok(())
}

pub(crate) fn check_count(at: Position, count: usize, limits: &Limits) -> Result<(), IngestError> {
    if count > limits.max_labels_per_series {
        return Err(IngestError::TooManyLabels {
            at,
            limit: limits.max_labels_per_series,
        });
    }
    Ok(())
}

fn check_pair(at: Position, name: &str, value: &str, limits: &Limits) -> Result<(), IngestError> {
    if name.len() > limits.max_label_name_len {
        return Err(IngestError::LabelNameTooLong {
            at,
            name: excerpt(name),
            len: name.len(),
            limit: limits.max_label_name_len,
        });
    }
    if !is_valid_label_name(name) {
        return Err(IngestError::InvalidLabelName {
            at,
            name: excerpt(name),
        });
    }
    if value.len() > limits.max_label_value_len {
        return Err(IngestError::LabelValueTooLong {
            at,
            name: name.to_owned(),
            len: value.len(),
            limit: limits.max_label_value_len,
        });
    }
    Ok(())
}

fn check_metric_name<P: PairRef>(at: Position, sorted: &[P]) -> Result<(), IngestError> {
    let Ok(index) = sorted.binary_search_by(|pair| pair.name().cmp(METRIC_NAME)) else {
        return Err(IngestError::MissingMetricName { at });
    };
    let metric = sorted[index].value();
    if !is_valid_metric_name(metric) {
        return Err(IngestError::InvalidMetricName {
            at,
            name: excerpt(metric),
        });
    }
    Ok(())
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, Prometheus 2.x's (legacy) label name rule.
pub(crate) fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let Some(first) = bytes.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, Prometheus 2.x's (legacy) metric name rule.
pub(crate) fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let Some(first) = bytes.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == b'_' || first == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> LabelPairs {
        items
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn series(items: &[(&str, &str)]) -> Result<LabelPairs, IngestError> {
        normalize(
            Position::Series(0),
            LabelSetKind::Series,
            pairs(items),
            &Limits::default(),
        )
    }

    #[test]
    fn sorts_and_drops_empty_values() {
        let got = series(&[("job", "api"), ("__name__", "up"), ("empty", "")]).unwrap();
        assert_eq!(got, pairs(&[("__name__", "up"), ("job", "api")]));
    }

    #[test]
    fn name_rules() {
        for good in ["a", "_", "__name__", "A_1", "z9"] {
            assert!(is_valid_label_name(good), "{good}");
        }
        for bad in ["", "1a", "a-b", "a.b", "a:b", "é", " a"] {
            assert!(!is_valid_label_name(bad), "{bad}");
        }
        for good in ["up", "a:b:c", ":x", "_1"] {
            assert!(is_valid_metric_name(good), "{good}");
        }
        for bad in ["", "1up", "up-1", "up.time", "ü"] {
            assert!(!is_valid_metric_name(bad), "{bad}");
        }
    }

    #[test]
    fn rejections() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("job", "x")], "missing_metric_name"),
            (&[("__name__", "")], "missing_metric_name"),
            (&[("__name__", "up"), ("", "x")], "invalid_label_name"),
            (&[("__name__", "up"), ("a-b", "x")], "invalid_label_name"),
            (&[("__name__", "1up")], "invalid_metric_name"),
            (
                &[("__name__", "up"), ("a", "x"), ("a", "y")],
                "duplicate_label",
            ),
            (
                &[("__name__", "up"), ("a", ""), ("a", "y")],
                "duplicate_label",
            ),
        ];
        for (input, reason) in cases {
            let error = series(input).unwrap_err();
            assert_eq!(error.reason(), *reason, "{input:?}: {error}");
            assert_eq!(error.status(), 400);
        }
    }

    #[test]
    fn limits() {
        let limits = Limits {
            max_labels_per_series: 2,
            max_label_name_len: 4,
            max_label_value_len: 3,
            ..Limits::default()
        };
        let check = |items: &[(&str, &str)]| {
            normalize(
                Position::Stream(1),
                LabelSetKind::Stream,
                pairs(items),
                &limits,
            )
        };
        assert_eq!(
            check(&[("a", "1"), ("b", "2"), ("c", "3")])
                .unwrap_err()
                .reason(),
            "too_many_labels"
        );
        assert_eq!(
            check(&[("abcde", "1")]).unwrap_err().reason(),
            "label_name_too_long"
        );
        let error = check(&[("a", "1234")]).unwrap_err();
        assert_eq!(error.reason(), "label_value_too_long");
        assert_eq!(
            error.to_string(),
            "stream 1: value of label \"a\" is 4 bytes, over the limit of 3"
        );
        assert_eq!(check(&[("a", "")]).unwrap_err().reason(), "empty_labels");
        assert_eq!(check(&[]).unwrap_err().reason(), "empty_labels");
    }

    #[test]
    fn metadata_may_be_empty() {
        let got = normalize(
            Position::Entry {
                stream: 0,
                entry: 0,
            },
            LabelSetKind::Metadata,
            Vec::new(),
            &Limits::default(),
        );
        assert_eq!(got, Ok(Vec::new()));
    }
}
