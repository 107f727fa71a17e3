//! Prometheus series selectors (`up`, `up{job="x"}`, `{a=~"b.*", c!="d"}`),
//! also used as Loki stream selectors. Follows PromQL's rules: regexes are
//! fully anchored, a missing label matches as the empty string, the metric
//! name can't be given twice, and at least one matcher must not match the
//! empty string (otherwise the selector would select every series).
//!
//! Prometheus 3's quoted names are accepted: `{"my.metric", "a.b"="c"}`.

use std::fmt;
use std::str::FromStr;

use regex::{Regex, RegexBuilder};

use crate::labels::{Labels, QuotedStr};
use crate::limits::REGEX_SIZE_LIMIT;
use crate::model::METRIC_NAME;

/// A parse or validation failure. `position` is the 0-based character
/// offset in the input where the problem was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error at position {position}: {message}")]
pub struct SelectorError {
    pub position: usize,
    pub message: String,
}

impl SelectorError {
    fn at(position: usize, message: impl Into<String>) -> Self {
        SelectorError {
            position,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    RegexMatch,
    RegexNoMatch,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

#[derive(Clone)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher, compiling a regex value anchored at both ends.
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Self, SelectorError> {
        Matcher::new_at(name.into(), op, value.into(), 0)
    }

    fn new_at(
        name: String,
        op: MatchOp,
        value: String,
        position: usize,
    ) -> Result<Self, SelectorError> {
        let regex = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => {
                Some(compile_anchored(&value, position)?)
            }
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher {
            name,
            op,
            value,
            regex,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn op(&self) -> MatchOp {
        self.op
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn matches(&self, value: &str) -> bool {
        match (&self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::RegexMatch, Some(re)) => re.is_match(value),
            (MatchOp::RegexNoMatch, Some(re)) => !re.is_match(value),
            // new_at always compiles regex matchers
            (MatchOp::RegexMatch | MatchOp::RegexNoMatch, None) => false,
        }
    }

    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_name(f, &self.name)?;
        write!(f, "{}{}", self.op.as_str(), QuotedStr(&self.value))
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn write_name(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    if is_label_name(name) {
        f.write_str(name)
    } else {
        write!(f, "{}", QuotedStr(name))
    }
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `^(?s:re)$` as current Prometheus compiles it: anchored, `.` matching
/// newlines too. The raw pattern is parsed alone first, or `a)|(b` would
/// escape the anchors.
fn compile_anchored(pattern: &str, position: usize) -> Result<Regex, SelectorError> {
    let invalid = |detail: String| {
        SelectorError::at(
            position,
            format!("invalid regular expression {pattern:?}: {detail}"),
        )
    };
    regex_syntax::ParserBuilder::new()
        .dot_matches_new_line(true)
        .build()
        .parse(pattern)
        .map_err(|e| invalid(last_error_line(&e.to_string())))?;
    RegexBuilder::new(&format!("^(?s:{pattern})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(limit) => {
                invalid(format!("compiled size exceeds the limit of {limit} bytes"))
            }
            other => invalid(last_error_line(&other.to_string())),
        })
}

/// The regex crates render errors over several lines with the pattern and a
/// caret; the last line says what is wrong.
fn last_error_line(rendered: &str) -> String {
    let last = rendered
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(rendered);
    last.trim().trim_start_matches("error: ").to_owned()
}

#[derive(Clone, PartialEq, Eq)]
pub struct Selector {
    matchers: Vec<Matcher>,
}

impl Selector {
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        Parser {
            chars: input.chars().collect(),
            pos: 0,
        }
        .selector()
    }

    /// Builds a selector from matchers, enforcing the non-empty rule.
    pub fn from_matchers(matchers: Vec<Matcher>) -> Result<Self, SelectorError> {
        if !matchers.iter().any(|m| !m.matches_empty()) {
            return Err(SelectorError::at(
                0,
                "vector selector must contain at least one non-empty matcher",
            ));
        }
        Ok(Selector { matchers })
    }

    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    /// The metric name when the selector pins it with `=`.
    pub fn metric_name(&self) -> Option<&str> {
        self.matchers
            .iter()
            .find(|m| m.name == METRIC_NAME && m.op == MatchOp::Equal)
            .map(|m| m.value.as_str())
    }

    /// A label the set lacks matches as the empty string, as in Prometheus.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers
            .iter()
            .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
    }
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn error(&self, message: impl Into<String>) -> SelectorError {
        SelectorError::at(self.pos, message)
    }

    fn unexpected(&self, expected: &str) -> SelectorError {
        match self.peek() {
            Some(c) => self.error(format!("unexpected character {c:?}, expected {expected}")),
            None => self.error(format!("unexpected end of input, expected {expected}")),
        }
    }

    fn selector(mut self) -> Result<Selector, SelectorError> {
        self.skip_whitespace();
        if self.peek().is_none() {
            return Err(self.error("empty selector"));
        }
        let mut metric_name: Option<(String, usize)> = None;
        if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        {
            let start = self.pos;
            let name = self.identifier(true);
            metric_name = Some((name, start));
            self.skip_whitespace();
        }
        let mut matchers = Vec::new();
        if self.peek() == Some('{') {
            self.braces(&mut metric_name, &mut matchers)?;
            self.skip_whitespace();
        } else if metric_name.is_none() {
            return Err(self.unexpected("a metric name or '{'"));
        }
        if let Some(c) = self.peek() {
            let hint = match c {
                '[' => " (range selectors are not supported here)",
                '(' => " (functions are not supported here)",
                _ => "",
            };
            return Err(self.error(format!(
                "unexpected character {c:?} after the selector{hint}"
            )));
        }
        if let Some((name, start)) = metric_name {
            if let Some(m) = matchers.iter().find(|m: &&Matcher| m.name == METRIC_NAME) {
                return Err(SelectorError::at(
                    start,
                    format!(
                        "metric name must not be set twice: {name:?} and {:?}",
                        m.value
                    ),
                ));
            }
            matchers.insert(
                0,
                Matcher::new_at(METRIC_NAME.to_owned(), MatchOp::Equal, name, start)?,
            );
        }
        Selector::from_matchers(matchers)
    }

    /// `{ matcher, ... }`, a trailing comma allowed. A bare quoted string is
    /// the metric name (Prometheus 3).
    fn braces(
        &mut self,
        metric_name: &mut Option<(String, usize)>,
        matchers: &mut Vec<Matcher>,
    ) -> Result<(), SelectorError> {
        let open = self.pos;
        self.pos += 1;
        loop {
            self.skip_whitespace();
            match self.peek() {
                Some('}') => {
                    self.pos += 1;
                    return Ok(());
                }
                None => return Err(SelectorError::at(open, "unclosed '{'")),
                _ => {}
            }
            let name_start = self.pos;
            let name = match self.peek() {
                Some(c) if is_quote(c) => self.string()?,
                Some(c) if c.is_ascii_alphabetic() || c == '_' => self.identifier(false),
                _ => return Err(self.unexpected("a label name or '}'")),
            };
            self.skip_whitespace();
            let quoted = self.chars.get(name_start).copied().is_some_and(is_quote);
            if quoted && matches!(self.peek(), Some(',' | '}')) {
                if let Some((first, _)) = metric_name {
                    return Err(SelectorError::at(
                        name_start,
                        format!("metric name must not be set twice: {first:?} and {name:?}"),
                    ));
                }
                *metric_name = Some((name, name_start));
            } else {
                if name.is_empty() {
                    return Err(SelectorError::at(
                        name_start,
                        "label name must not be empty",
                    ));
                }
                let op = self.operator()?;
                self.skip_whitespace();
                let value_start = self.pos;
                if !self.peek().is_some_and(is_quote) {
                    return Err(self.unexpected("a quoted label value"));
                }
                let value = self.string()?;
                matchers.push(Matcher::new_at(name, op, value, value_start)?);
                self.skip_whitespace();
            }
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {}
                None => return Err(SelectorError::at(open, "unclosed '{'")),
                _ => return Err(self.unexpected("',' or '}'")),
            }
        }
    }

    fn identifier(&mut self, metric: bool) -> String {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || (metric && c == ':'))
        {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn operator(&mut self) -> Result<MatchOp, SelectorError> {
        let op = match (self.peek(), self.chars.get(self.pos + 1).copied()) {
            (Some('='), Some('~')) => MatchOp::RegexMatch,
            (Some('='), _) => MatchOp::Equal,
            (Some('!'), Some('=')) => MatchOp::NotEqual,
            (Some('!'), Some('~')) => MatchOp::RegexNoMatch,
            _ => return Err(self.unexpected("one of '=', '!=', '=~', '!~'")),
        };
        self.pos += op.as_str().len();
        Ok(op)
    }

    /// A PromQL string: "..." or '...' with Go's escapes (only the opening
    /// quote may be escaped), or a raw `...` without any.
    fn string(&mut self) -> Result<String, SelectorError> {
        let open = self.pos;
        let quote = self.chars[open];
        self.pos += 1;
        // bytes, because \x and octal escapes produce bytes, not characters
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(SelectorError::at(open, "unterminated quoted string"));
            };
            if c == quote {
                self.pos += 1;
                break;
            }
            if c == '\n' && quote != '`' {
                return Err(SelectorError::at(open, "unterminated quoted string"));
            }
            if c == '\\' && quote != '`' {
                self.escape(quote, &mut out)?;
                continue;
            }
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            self.pos += 1;
        }
        String::from_utf8(out)
            .map_err(|_| SelectorError::at(open, "invalid utf-8 in quoted string"))
    }

    fn escape(&mut self, quote: char, out: &mut Vec<u8>) -> Result<(), SelectorError> {
        let start = self.pos;
        self.pos += 1;
        let Some(c) = self.peek() else {
            return Err(SelectorError::at(start, "unterminated escape sequence"));
        };
        self.pos += 1;
        let simple = match c {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            c if c == quote => Some(c as u8),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
            return Ok(());
        }
        match c {
            'x' => {
                let v = self.digits(start, 2, 16)?;
                out.push(v as u8);
            }
            '0'..='7' => {
                self.pos -= 1;
                let v = self.digits(start, 3, 8)?;
                if v > 255 {
                    return Err(SelectorError::at(start, "octal escape value > 255"));
                }
                out.push(v as u8);
            }
            'u' | 'U' => {
                let v = self.digits(start, if c == 'u' { 4 } else { 8 }, 16)?;
                let Some(ch) = char::from_u32(v) else {
                    return Err(SelectorError::at(
                        start,
                        "escape sequence is an invalid unicode code point",
                    ));
                };
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            other => {
                return Err(SelectorError::at(
                    start,
                    format!("unknown escape sequence \\{other}"),
                ));
            }
        }
        Ok(())
    }

    fn digits(
        &mut self,
        escape_start: usize,
        count: usize,
        radix: u32,
    ) -> Result<u32, SelectorError> {
        let mut value: u32 = 0;
        for _ in 0..count {
            let Some(d) = self.peek().and_then(|c| c.to_digit(radix)) else {
                return Err(SelectorError::at(
                    escape_start,
                    "illegal character in escape sequence",
                ));
            };
            value = value * radix + d;
            self.pos += 1;
        }
        Ok(value)
    }
}

fn is_quote(c: char) -> bool {
    matches!(c, '"' | '\'' | '`')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Selector {
        Selector::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        match Selector::parse(s) {
            Ok(sel) => panic!("{s} parsed as {sel}"),
            Err(e) => e.to_string(),
        }
    }

    fn labels(p: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(p.iter().copied())
    }

    #[test]
    fn valid_selectors() {
        let cases = [
            ("up", r#"{__name__="up"}"#),
            ("  up  ", r#"{__name__="up"}"#),
            ("job:rate5m:sum", r#"{__name__="job:rate5m:sum"}"#),
            ("up{}", r#"{__name__="up"}"#),
            (r#"up{job="a"}"#, r#"{__name__="up", job="a"}"#),
            (r#"up { job = "a" , } "#, r#"{__name__="up", job="a"}"#),
            (
                r#"{a="b", c!="d", e=~"re.*", f!~"x|y"}"#,
                r#"{a="b", c!="d", e=~"re.*", f!~"x|y"}"#,
            ),
            (r#"{__name__=~"http_.*"}"#, r#"{__name__=~"http_.*"}"#),
            (r#"{__name__="up"}"#, r#"{__name__="up"}"#),
            (r#"{a='single "quoted"'}"#, r#"{a="single \"quoted\""}"#),
            (r#"{a=`raw \n`}"#, r#"{a="raw \\n"}"#),
            (
                r#"{a="\x41\101\u00e9\U0001F600\t\"\\"}"#,
                "{a=\"AAé😀\\t\\\"\\\\\"}",
            ),
            (r#"{a='it\'s'}"#, r#"{a="it's"}"#),
            (
                r#"{"my.metric", "a.b"="c"}"#,
                r#"{__name__="my.metric", "a.b"="c"}"#,
            ),
            ("{a=\"\u{2603}\"}", "{a=\"\u{2603}\"}"),
        ];
        for (input, canonical) in cases {
            assert_eq!(parse(input).to_string(), canonical, "{input}");
        }
        assert_eq!(parse(r#"up{job="x"}"#).metric_name(), Some("up"));
        assert_eq!(parse(r#"{job="x"}"#).metric_name(), None);
    }

    #[test]
    fn invalid_selectors_explain_where_and_why() {
        let cases = [
            ("", "parse error at position 0: empty selector"),
            ("   ", "parse error at position 3: empty selector"),
            (
                "{}",
                "vector selector must contain at least one non-empty matcher",
            ),
            (r#"{a=""}"#, "at least one non-empty matcher"),
            (r#"{a=~".*"}"#, "at least one non-empty matcher"),
            (r#"{a!~"x"}"#, "at least one non-empty matcher"),
            (r#"{a=~".+"}"#, ""),
            ("{a=\"b\"", "parse error at position 0: unclosed '{'"),
            ("up{job=\"a\"", "unclosed '{'"),
            (
                "up{job}",
                "position 6: unexpected character '}', expected one of '=', '!=', '=~', '!~'",
            ),
            (
                "up{job==\"a\"}",
                "position 7: unexpected character '=', expected a quoted label value",
            ),
            (
                "up{job=a}",
                "unexpected character 'a', expected a quoted label value",
            ),
            (
                r#"up{job="a" x="b"}"#,
                "position 11: unexpected character 'x', expected ',' or '}'",
            ),
            (
                r#"up{,}"#,
                "position 3: unexpected character ',', expected a label name or '}'",
            ),
            (r#"up{1a="b"}"#, "expected a label name or '}'"),
            (r#"up{job="a}"#, "position 7: unterminated quoted string"),
            ("up{job=\"a\nb\"}", "unterminated quoted string"),
            (r#"up{job="\q"}"#, "position 8: unknown escape sequence \\q"),
            (r#"up{job="\'"}"#, "unknown escape sequence \\'"),
            (r#"up{job="\x4"}"#, "illegal character in escape sequence"),
            (r#"up{job="\400"}"#, "octal escape value > 255"),
            (r#"up{job="\uD800"}"#, "invalid unicode code point"),
            (r#"up{job="\xff"}"#, "invalid utf-8"),
            (
                r#"up{job=~"a("}"#,
                "position 8: invalid regular expression \"a(\": unclosed group",
            ),
            (
                r#"up{job=~"a)|(b"}"#,
                "invalid regular expression \"a)|(b\": unopened group",
            ),
            (r#"up{job=~"x{1000}{1000}"}"#, "invalid regular expression"),
            (
                r#"up{__name__="x"}"#,
                "position 0: metric name must not be set twice: \"up\" and \"x\"",
            ),
            (
                r#"{"a", "b"}"#,
                "position 6: metric name must not be set twice",
            ),
            (r#"up{""="x"}"#, "label name must not be empty"),
            (
                "up[5m]",
                "unexpected character '[' after the selector (range selectors are not supported here)",
            ),
            ("rate(up[5m])", "functions are not supported here"),
            (
                "up down",
                "position 3: unexpected character 'd' after the selector",
            ),
            (
                "=",
                "position 0: unexpected character '=', expected a metric name or '{'",
            ),
            ("1up", "expected a metric name or '{'"),
        ];
        for (input, expected) in cases {
            if expected.is_empty() {
                assert!(Selector::parse(input).is_ok(), "{input}");
                continue;
            }
            let message = err(input);
            assert!(
                message.contains(expected),
                "{input}: got {message:?}, want {expected:?}"
            );
        }
    }

    #[test]
    fn matching_follows_prometheus() {
        let l = labels(&[
            ("__name__", "http_requests_total"),
            ("job", "api"),
            ("path", "/a\nb"),
        ]);
        assert!(parse("http_requests_total").matches(&l));
        assert!(parse(r#"{__name__=~"http_.*", job="api"}"#).matches(&l));
        assert!(!parse(r#"{__name__=~"http"}"#).matches(&l), "anchored");
        assert!(
            !parse(r#"{job=~"ap"}"#).matches(&l),
            "anchored at the end too"
        );
        assert!(
            parse(r#"{job=~"ap|api"}"#).matches(&l),
            "alternation is inside the anchors"
        );
        assert!(
            parse(r#"{path=~"/a.b"}"#).matches(&l),
            "dot matches newline"
        );
        assert!(
            parse(r#"http_requests_total{missing=""}"#).matches(&l),
            "missing label is empty"
        );
        assert!(!parse(r#"http_requests_total{missing!=""}"#).matches(&l));
        assert!(parse(r#"http_requests_total{job!~"x|y"}"#).matches(&l));
        assert!(!parse(r#"http_requests_total{job!~"a.*"}"#).matches(&l));
    }

    #[test]
    fn matchers_can_be_built_by_hand() {
        let m = Matcher::new("job", MatchOp::RegexMatch, "a|b").unwrap();
        assert!(m.matches("b") && !m.matches("ab"));
        assert!(Matcher::new("job", MatchOp::RegexMatch, "(").is_err());
        assert!(
            Selector::from_matchers(vec![Matcher::new("a", MatchOp::NotEqual, "x").unwrap()])
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in "\\PC{0,40}") {
            let _ = Selector::parse(&input);
        }

        #[test]
        fn parse_never_panics_on_selector_like_input(
            input in r#"[a-z_:]{0,5}\{?([a-z"'`\\=!~,.*|()\[\] {}x0-9u]{0,30})\}?"#
        ) {
            let _ = Selector::parse(&input);
        }

        #[test]
        fn display_reparses_to_the_same_selector(
            name in "[a-z_][a-z0-9_]{0,8}",
            value in "\\PC{1,12}",
            op in 0usize..2,
        ) {
            let op = [MatchOp::Equal, MatchOp::NotEqual][op];
            let Ok(selector) = Selector::from_matchers(vec![
                Matcher::new("__name__", MatchOp::Equal, "m").unwrap(),
                Matcher::new(name, op, value).unwrap(),
            ]) else { return Ok(()) };
            let reparsed = Selector::parse(&selector.to_string());
            prop_assert_eq!(reparsed, Ok(selector));
        }
    }
}
