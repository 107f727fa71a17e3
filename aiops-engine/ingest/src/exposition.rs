//! The scrape formats: Prometheus text exposition 0.0.4 and OpenMetrics
//! 1.0 text, flattened to one sample per line as Prometheus stores them
//! (`x_bucket{le=..}`, `x_sum`, `x_count` are series of their own; `# TYPE`
//! and `# HELP` carry nothing a series needs).
//!
//! Written here rather than taken from `prometheus-parse`: that crate
//! (unmaintained since 2023) splits label sets on `{`, `}` and `=` without
//! regard to quotes, so every series whose label value holds one of them
//! (an `http_route="/carts/{session}"`) was silently dropped.
//!
//! As in Prometheus, one malformed line fails the whole scrape, and the
//! error names the line: half a scrape is worse than none, because it looks
//! like a healthy target that lost series.

use std::fmt;

/// Which dialect the body is in (from the reply's Content-Type): they
/// differ in the timestamp unit and in OpenMetrics' `# EOF` and exemplars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpositionFormat {
    /// `text/plain; version=0.0.4`: timestamps in milliseconds.
    PrometheusText,
    /// `application/openmetrics-text`: timestamps in seconds, `# EOF` ends
    /// the body, exemplars after ` # `.
    OpenMetrics,
}

impl ExpositionFormat {
    /// From a Content-Type header value; anything not OpenMetrics is read
    /// as the Prometheus text format, as Prometheus does.
    pub fn from_content_type(content_type: Option<&str>) -> Self {
        match content_type {
            Some(ct)
                if ct
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/openmetrics-text") =>
            {
                ExpositionFormat::OpenMetrics
            }
            _ => ExpositionFormat::PrometheusText,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExposedSample {
    pub name: String,
    /// As written, in order (the metric name is not among them).
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// The sample's own timestamp, when the line has one.
    pub ts_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpositionLimits {
    pub max_samples: usize,
    pub max_labels_per_series: usize,
    pub max_label_name_len: usize,
    pub max_label_value_len: usize,
    pub max_line_bytes: usize,
}

impl Default for ExpositionLimits {
    fn default() -> Self {
        ExpositionLimits {
            max_samples: 1_000_000,
            max_labels_per_series: 64,
            max_label_name_len: 256,
            max_label_value_len: 4096,
            max_line_bytes: 64 * 1024,
        }
    }
}

/// A line that could not be read; `line` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpositionError {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for ExpositionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ExpositionError {}

pub fn parse_exposition(
    text: &str,
    format: ExpositionFormat,
    limits: &ExpositionLimits,
) -> Result<Vec<ExposedSample>, ExpositionError> {
    let mut out = Vec::new();
    for (index, raw) in text.split('\n').enumerate() {
        let line_no = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let fail = |reason: String| ExpositionError {
            line: line_no,
            reason,
        };
        if line.len() > limits.max_line_bytes {
            return Err(fail(format!(
                "{} bytes, more than the {} a line may have",
                line.len(),
                limits.max_line_bytes
            )));
        }
        let trimmed = line.trim_start_matches([' ', '\t']);
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('#') {
            if format == ExpositionFormat::OpenMetrics && trimmed.trim_end() == "# EOF" {
                break;
            }
            continue;
        }
        if out.len() >= limits.max_samples {
            return Err(fail(format!(
                "more than {} samples in one scrape",
                limits.max_samples
            )));
        }
        out.push(parse_sample(trimmed, format, limits).map_err(fail)?);
    }
    Ok(out)
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_blanks(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*` (no `:` for label names).
    fn name(&mut self, colons: bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let ok = c.is_ascii_alphabetic()
                || c == '_'
                || (colons && c == ':')
                || (self.pos > start && c.is_ascii_digit());
            if !ok {
                break;
            }
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    /// Up to the next blank or the end.
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == ' ' || c == '\t' {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.text[start..self.pos]
    }
}

fn parse_sample(
    line: &str,
    format: ExpositionFormat,
    limits: &ExpositionLimits,
) -> Result<ExposedSample, String> {
    let mut c = Cursor { text: line, pos: 0 };
    let name = c.name(true);
    if name.is_empty() {
        return Err(format!(
            "expected a metric name, found {:?}",
            excerpt(&line[c.pos..])
        ));
    }
    let name = name.to_owned();
    let mut labels: Vec<(String, String)> = Vec::new();
    let mut blanks = c.skip_blanks();
    if c.peek() == Some('{') {
        c.bump();
        labels = parse_labels(&mut c, limits)?;
        blanks = c.skip_blanks();
    }
    if blanks == 0 {
        return Err(format!(
            "expected a blank before the value, found {:?}",
            excerpt(&line[c.pos..])
        ));
    }
    let value_token = c.token();
    let value = parse_value(value_token)?;
    c.skip_blanks();
    let mut ts_ms = None;
    if let Some(next) = c.peek()
        && next != '#'
    {
        let token = c.token();
        ts_ms = Some(parse_timestamp(token, format)?);
        c.skip_blanks();
    }
    match c.peek() {
        None => {}
        // an exemplar (OpenMetrics): context, not a sample
        Some('#') if format == ExpositionFormat::OpenMetrics => {}
        Some(_) => {
            return Err(format!(
                "unexpected {:?} after the value",
                excerpt(&line[c.pos..])
            ));
        }
    }
    Ok(ExposedSample {
        name,
        labels,
        value,
        ts_ms,
    })
}

fn parse_labels(
    c: &mut Cursor<'_>,
    limits: &ExpositionLimits,
) -> Result<Vec<(String, String)>, String> {
    let mut labels: Vec<(String, String)> = Vec::new();
    loop {
        c.skip_blanks();
        match c.peek() {
            Some('}') => {
                c.bump();
                return Ok(labels);
            }
            None => return Err("the label set is not closed with '}'".into()),
            _ => {}
        }
        let name = c.name(false);
        if name.is_empty() {
            return Err(format!(
                "expected a label name, found {:?}",
                excerpt(&c.text[c.pos..])
            ));
        }
        if name.len() > limits.max_label_name_len {
            return Err(format!(
                "label name longer than {} bytes",
                limits.max_label_name_len
            ));
        }
        c.skip_blanks();
        if c.bump() != Some('=') {
            return Err(format!("expected '=' after label {name:?}"));
        }
        c.skip_blanks();
        if c.bump() != Some('"') {
            return Err(format!("expected '\"' to open the value of label {name:?}"));
        }
        let value = quoted(c, name, limits)?;
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("label {name:?} appears twice"));
        }
        if labels.len() >= limits.max_labels_per_series {
            return Err(format!(
                "more than {} labels on one series",
                limits.max_labels_per_series
            ));
        }
        labels.push((name.to_owned(), value));
        c.skip_blanks();
        match c.bump() {
            Some(',') => {}
            Some('}') => return Ok(labels),
            other => {
                return Err(format!(
                    "expected ',' or '}}' after label {name:?}, found {other:?}"
                ));
            }
        }
    }
}

/// The rest of a label value after its opening quote, escapes resolved.
fn quoted(c: &mut Cursor<'_>, name: &str, limits: &ExpositionLimits) -> Result<String, String> {
    let mut value = String::new();
    loop {
        match c.bump() {
            None => return Err(format!("the value of label {name:?} is not closed")),
            Some('"') => return Ok(value),
            Some('\\') => match c.bump() {
                Some('\\') => value.push('\\'),
                Some('"') => value.push('"'),
                Some('n') => value.push('\n'),
                other => {
                    return Err(format!(
                        "unknown escape \\{} in the value of label {name:?}",
                        other.map(String::from).unwrap_or_default()
                    ));
                }
            },
            Some(ch) => value.push(ch),
        }
        if value.len() > limits.max_label_value_len {
            return Err(format!(
                "the value of label {name:?} is longer than {} bytes",
                limits.max_label_value_len
            ));
        }
    }
}

fn parse_value(token: &str) -> Result<f64, String> {
    let special = match token {
        "NaN" | "nan" => Some(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => None,
    };
    if let Some(v) = special {
        return Ok(v);
    }
    // Rust also reads "infinity" and "nan" spellings the formats do not have
    let plain = token
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    match token.parse::<f64>() {
        Ok(v) if plain && !token.is_empty() => Ok(v),
        _ => Err(format!("{:?} is not a sample value", excerpt(token))),
    }
}

fn parse_timestamp(token: &str, format: ExpositionFormat) -> Result<i64, String> {
    let bad = || format!("{:?} is not a timestamp", excerpt(token));
    match format {
        ExpositionFormat::PrometheusText => token.parse::<i64>().map_err(|_| bad()),
        ExpositionFormat::OpenMetrics => {
            let secs = parse_value(token).map_err(|_| bad())?;
            if secs.is_finite() && secs.abs() < 1e13 {
                Ok((secs * 1000.0).round() as i64)
            } else {
                Err(bad())
            }
        }
    }
}

fn excerpt(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<ExposedSample> {
        parse_exposition(
            text,
            ExpositionFormat::PrometheusText,
            &ExpositionLimits::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(text: &str, format: ExpositionFormat) -> ExpositionError {
        match parse_exposition(text, format, &ExpositionLimits::default()) {
            Err(e) => e,
            Ok(s) => panic!("parsed {s:?}"),
        }
    }

    #[test]
    fn label_values_may_hold_braces_commas_equals_and_escapes() {
        let s = parse(concat!(
            "http_server_request_duration_seconds_count{http_route=\"/carts/{session}\",http_request_method=\"GET\"} 31\n",
            "x{a=\"b,c=d}\", q = \"say \\\"hi\\\"\\n\\\\\" ,} 1.5e3 1700000000000\n",
            "up 1\n",
        ));
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[0].labels[0],
            ("http_route".to_owned(), "/carts/{session}".to_owned())
        );
        assert_eq!(s[0].value, 31.0);
        assert_eq!(s[1].labels[0].1, "b,c=d}");
        assert_eq!(
            s[1].labels[1],
            ("q".to_owned(), "say \"hi\"\n\\".to_owned())
        );
        assert_eq!(s[1].value, 1500.0);
        assert_eq!(s[1].ts_ms, Some(1_700_000_000_000));
        assert_eq!(s[2].name, "up");
        assert!(s[2].labels.is_empty() && s[2].ts_ms.is_none());
    }

    #[test]
    fn comments_special_values_and_openmetrics() {
        let text = "# HELP a_total things\n# TYPE a counter\n\n  a_total{x=\"1\"} +Inf\nb NaN\nc -Inf\n\
                    d_bucket{le=\"0.1\"} 3 # {trace_id=\"abc\"} 0.05 1700000000.5\ne 2 1700000000.250\n# EOF\nnot a line\n";
        let s = parse_exposition(
            text,
            ExpositionFormat::OpenMetrics,
            &ExpositionLimits::default(),
        )
        .expect("openmetrics");
        assert_eq!(s.len(), 5, "{s:?}");
        assert_eq!(s[0].value, f64::INFINITY);
        assert!(s[1].value.is_nan());
        assert_eq!(s[2].value, f64::NEG_INFINITY);
        assert_eq!(s[3].value, 3.0);
        assert_eq!(s[3].ts_ms, None, "the exemplar's time is not the sample's");
        assert_eq!(
            s[4].ts_ms,
            Some(1_700_000_000_250),
            "seconds in OpenMetrics"
        );
        // the text format reads the same exemplar as garbage, and has no EOF
        assert_eq!(err(text, ExpositionFormat::PrometheusText).line, 7);
    }

    #[test]
    fn malformed_lines_are_named() {
        use ExpositionFormat::PrometheusText as T;
        let cases = [
            ("ok 1\n{a=\"b\"} 1\n", 2, "metric name"),
            ("x{a=\"b\" 1\n", 1, "','"),
            ("x{a=b} 1\n", 1, "'\"'"),
            ("x{a\"b\"} 1\n", 1, "'='"),
            ("x{a=\"b} 1\n", 1, "not closed"),
            ("x{a=\"\\t\"} 1\n", 1, "escape"),
            ("x{a=\"1\",a=\"2\"} 1\n", 1, "twice"),
            ("x one\n", 1, "not a sample value"),
            ("x infinity\n", 1, "not a sample value"),
            ("x 1 soon\n", 1, "timestamp"),
            ("x 1 2 3\n", 1, "after the value"),
            ("x{a=\"1\"}2\n", 1, "blank"),
            ("x{", 1, "not closed"),
        ];
        for (text, line, want) in cases {
            let e = err(text, T);
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.reason.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn limits_hold() {
        let limits = ExpositionLimits {
            max_samples: 2,
            max_labels_per_series: 1,
            max_label_value_len: 4,
            max_line_bytes: 30,
            ..ExpositionLimits::default()
        };
        let p = |t: &str| parse_exposition(t, ExpositionFormat::PrometheusText, &limits);
        assert!(p("a 1\nb 2\n").is_ok());
        assert!(p("a 1\nb 2\nc 3\n").unwrap_err().reason.contains("samples"));
        assert!(
            p("a{x=\"1\",y=\"2\"} 1\n")
                .unwrap_err()
                .reason
                .contains("labels")
        );
        assert!(
            p("a{x=\"12345\"} 1\n")
                .unwrap_err()
                .reason
                .contains("longer")
        );
        assert!(
            p(&format!("a{{x=\"1\"}} 1 {}\n", "9".repeat(40)))
                .unwrap_err()
                .reason
                .contains("bytes")
        );
    }

    #[test]
    fn content_types() {
        use ExpositionFormat::*;
        assert_eq!(
            ExpositionFormat::from_content_type(Some(
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            )),
            OpenMetrics
        );
        assert_eq!(
            ExpositionFormat::from_content_type(Some("text/plain; version=0.0.4")),
            PrometheusText
        );
        assert_eq!(ExpositionFormat::from_content_type(None), PrometheusText);
    }
}
