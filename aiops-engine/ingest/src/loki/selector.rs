//! The stream label string of Loki's protobuf push: a LogQL selector made of
//! equality matchers only, `{app="shop", level="info"}`.
//!
//! Accepted: whitespace around tokens, values in double quotes with the
//! escapes `\"` `\\` `\n` `\t` `\r`, or in backquotes taken raw (as LogQL
//! allows). Rejected: other matchers (`!=`, `=~`), other escapes, trailing
//! commas, anything after the closing brace. Name syntax, duplicates and
//! emptiness are checked afterwards with the other label rules.

use aiops_core::model::LabelPairs;

/// Parses a selector into `(name, value)` pairs in the order written.
/// The error says what was expected, for the sender's benefit.
pub fn parse_selector(selector: &str) -> Result<LabelPairs, String> {
    let mut parser = Parser {
        text: selector,
        pos: 0,
    };
    parser.skip_whitespace();
    parser.expect(b'{')?;
    let mut pairs = LabelPairs::new();
    parser.skip_whitespace();
    if parser.eat(b'}') {
        return parser.finish(pairs);
    }
    loop {
        let name = parser.name()?;
        parser.skip_whitespace();
        parser.expect(b'=')?;
        if matches!(parser.peek(), Some(b'~')) {
            return Err(parser.error("only = matchers are allowed"));
        }
        parser.skip_whitespace();
        let value = parser.value()?;
        pairs.push((name, value));
        parser.skip_whitespace();
        if parser.eat(b'}') {
            return parser.finish(pairs);
        }
        parser.expect(b',')?;
        parser.skip_whitespace();
    }
}

/// Writes labels as a selector that [`parse_selector`] reads back.
pub fn format_selector(labels: &LabelPairs) -> String {
    let mut out = String::from("{");
    for (index, (name, value)) in labels.iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                other => out.push(other),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

struct Parser<'a> {
    text: &'a str,
    /// A byte offset, always on a char boundary: it only moves past ASCII
    /// bytes or whole chars.
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.eat(byte) {
            return Ok(());
        }
        Err(self.error(&format!("expected '{}'", byte as char)))
    }

    fn error(&self, what: &str) -> String {
        match self.text[self.pos..].chars().next() {
            Some(found) => format!("{what} at byte {}, found {found:?}", self.pos),
            None => format!("{what} at the end"),
        }
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// A run of name characters; whether it is a valid name is checked later.
    fn name(&mut self) -> Result<String, String> {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'_') {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("expected a label name"));
        }
        Ok(self.text[start..self.pos].to_owned())
    }

    fn value(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'`') => self.raw(),
            _ => Err(self.error("expected a quoted value")),
        }
    }

    fn raw(&mut self) -> Result<String, String> {
        self.pos += 1;
        let rest = &self.text[self.pos..];
        let Some(len) = rest.find('`') else {
            return Err("unterminated `-quoted value".to_owned());
        };
        self.pos += len + 1;
        Ok(rest[..len].to_owned())
    }

    fn quoted(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut value = String::new();
        loop {
            let rest = &self.text[self.pos..];
            // Copy everything up to the next quote or backslash in one go.
            let Some(stop) = rest.find(['"', '\\']) else {
                return Err("unterminated \"-quoted value".to_owned());
            };
            value.push_str(&rest[..stop]);
            self.pos += stop;
            if self.eat(b'"') {
                return Ok(value);
            }
            self.pos += 1;
            let unescaped = match self.peek() {
                Some(b'"') => '"',
                Some(b'\\') => '\\',
                Some(b'n') => '\n',
                Some(b't') => '\t',
                Some(b'r') => '\r',
                _ => return Err(self.error("unsupported escape")),
            };
            value.push(unescaped);
            self.pos += 1;
        }
    }

    fn finish(&mut self, pairs: LabelPairs) -> Result<LabelPairs, String> {
        self.skip_whitespace();
        if self.pos != self.text.len() {
            return Err(self.error("unexpected text after '}'"));
        }
        Ok(pairs)
    }
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

    #[test]
    fn parses_selectors() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("{}", &[]),
            (" { } ", &[]),
            (r#"{a="b"}"#, &[("a", "b")]),
            (
                r#"{app="shop", level="info"}"#,
                &[("app", "shop"), ("level", "info")],
            ),
            ("{ a = \"x\" ,b=\"y\" }", &[("a", "x"), ("b", "y")]),
            (
                r#"{a="q\"uote\\back\nnew\ttab"}"#,
                &[("a", "q\"uote\\back\nnew\ttab")],
            ),
            (r#"{a="héllo 🌍"}"#, &[("a", "héllo 🌍")]),
            ("{a=`raw \\n \"`}", &[("a", "raw \\n \"")]),
            (r#"{a=""}"#, &[("a", "")]),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_selector(input), Ok(pairs(expected)), "{input}");
        }
    }

    #[test]
    fn rejects_malformed_selectors() {
        for bad in [
            "",
            "a=\"b\"",
            "{",
            "{a}",
            "{a=b}",
            "{a=\"b\"",
            "{a=\"b}",
            "{a=\"b\",}",
            "{a!=\"b\"}",
            "{a=~\"b\"}",
            "{a=\"b\"} x",
            "{a=\"\\x41\"}",
            "{a=\"b\" c=\"d\"}",
            "{=\"b\"}",
            "{a-b=\"c\"}",
            "{a=`b}",
            "{a=\"b\"\\",
        ] {
            assert!(parse_selector(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn error_says_where() {
        assert_eq!(
            parse_selector("{a=b}"),
            Err("expected a quoted value at byte 3, found 'b'".to_owned())
        );
        assert_eq!(
            parse_selector("{a=\"b\""),
            Err("expected ',' at the end".to_owned())
        );
    }

    #[test]
    fn format_round_trips() {
        let labels = pairs(&[("a", "plain"), ("b", "q\"\\\n\t\r"), ("c", "ünï")]);
        let text = format_selector(&labels);
        assert_eq!(parse_selector(&text), Ok(labels));
        assert_eq!(
            format_selector(&pairs(&[("x", "1"), ("y", "2")])),
            r#"{x="1", y="2"}"#
        );
    }
}
