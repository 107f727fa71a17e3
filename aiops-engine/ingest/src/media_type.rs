//! Just enough of RFC 9110's Content-Type and Content-Encoding grammar to
//! pick a decoder: a case-insensitive media type and its parameters.

/// A parsed Content-Type value: `type/subtype; name=value; ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MediaType {
    /// Lowercased, e.g. `application/x-protobuf`.
    pub essence: String,
    /// Names lowercased; values unquoted, case kept.
    pub params: Vec<(String, String)>,
}

impl MediaType {
    /// `None` for an absent or blank header: callers pick their protocol's default.
    pub fn parse(header: Option<&str>) -> Option<MediaType> {
        let header = header?.trim();
        if header.is_empty() {
            return None;
        }
        let mut parts = header.split(';');
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let params = parts
            .filter_map(|part| {
                let (name, value) = part.split_once('=')?;
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                Some((name.trim().to_ascii_lowercase(), value.to_owned()))
            })
            .collect();
        Some(MediaType { essence, params })
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(candidate, _)| candidate == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A Content-Encoding value, lowercased; `None` when absent, blank or `identity`.
pub(crate) fn content_encoding(header: Option<&str>) -> Option<String> {
    let encoding = header?.trim().to_ascii_lowercase();
    if encoding.is_empty() || encoding == "identity" {
        return None;
    }
    Some(encoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_type_and_params() {
        let parsed = MediaType::parse(Some(
            "Application/X-Protobuf ; proto=io.prometheus.write.v2.Request",
        ))
        .unwrap();
        assert_eq!(parsed.essence, "application/x-protobuf");
        assert_eq!(
            parsed.param("proto"),
            Some("io.prometheus.write.v2.Request")
        );
        let quoted = MediaType::parse(Some("application/json; charset=\"utf-8\"")).unwrap();
        assert_eq!(quoted.param("charset"), Some("utf-8"));
    }

    #[test]
    fn blank_is_absent() {
        assert_eq!(MediaType::parse(None), None);
        assert_eq!(MediaType::parse(Some("  ")), None);
        assert_eq!(content_encoding(Some(" ")), None);
        assert_eq!(content_encoding(Some("identity")), None);
        assert_eq!(
            content_encoding(Some(" Snappy ")).as_deref(),
            Some("snappy")
        );
    }
}
