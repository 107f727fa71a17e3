//! Line preprocessing: finds the level, the message and the structured
//! fields of a JSON, logfmt or plain line, and writes the text that the
//! miner groups: the message, then the fields sorted by name with masked
//! values (`request failed http_route=/cart status=<NUM>`). Field names take
//! part so that one message logged with different fields makes different
//! templates; masked values keep ids and numbers from multiplying them.

use std::borrow::Cow;

use crate::json::{self, Kind, Value};
use crate::level::Level;
use crate::mask::{MaskConfig, is_space, mask_into};

/// How a line was understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Logfmt,
    Plain,
}

/// A line taken apart, for callers that want the parts themselves (the hot
/// path writes the mined text directly, see [`Preprocessor`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extracted<'a> {
    pub format: Format,
    pub level: Option<Level>,
    /// The message; for a plain line, the whole line.
    pub message: Cow<'a, str>,
    /// Fields other than the well-known envelope keys, sorted by name.
    /// Objects and arrays are given as their JSON text.
    pub fields: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// What a key means to the miner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Level,
    Message,
    /// tracing's nested `fields` object (JSON only).
    Fields,
    /// Where and when, not what: left out of the mined text.
    Envelope,
    Other,
}

fn role(k: &str) -> Role {
    match k {
        "level" | "lvl" | "severity" | "loglevel" | "log.level" | "level_name"
        | "severity_text" => Role::Level,
        "message" | "msg" | "@message" => Role::Message,
        "fields" => Role::Fields,
        "timestamp" | "time" | "ts" | "@timestamp" | "t" | "service" | "service.name"
        | "version" | "trace_id" | "span_id" | "traceId" | "spanId" | "trace.id" | "span.id"
        | "target" | "hostname" | "host" | "pid" => Role::Envelope,
        _ => Role::Other,
    }
}

#[derive(Clone, Copy, Debug)]
struct Field {
    key: Value,
    val: Value,
}

/// Spans into the line: what the parsers find, before text is written.
#[derive(Debug, Default)]
struct Parsed {
    level: Option<Level>,
    message: Option<Value>,
    fields: Vec<Field>,
}

impl Parsed {
    fn clear(&mut self) {
        self.level = None;
        self.message = None;
        self.fields.clear();
    }
}

fn level_of(line: &str, v: Value) -> Option<Level> {
    let text = &line[v.start..v.end];
    match v.kind {
        Kind::Str { .. } => Level::parse(text.trim()),
        Kind::Raw => text.parse::<f64>().ok().and_then(Level::from_number),
        Kind::Composite => None,
    }
}

/// Fills `p` from a JSON object line; false if the line is not one.
fn parse_json(line: &str, p: &mut Parsed) -> bool {
    let b = line.as_bytes();
    let start = json::skip_ws(b, 0);
    if b.get(start) != Some(&b'{') {
        return false;
    }
    let end = json::members(
        b,
        start,
        // tracing's fields: one level down, merged with the top level.
        |k| &b[k.start..k.end] == b"fields",
        |k, v, nested| {
            if nested {
                p.fields.push(Field { key: k, val: v });
                return;
            }
            match role(&line[k.start..k.end]) {
                Role::Level => {
                    if p.level.is_none() {
                        p.level = level_of(line, v);
                    }
                }
                Role::Message if p.message.is_none() => p.message = Some(v),
                Role::Envelope => {}
                _ => p.fields.push(Field { key: k, val: v }),
            }
        },
    );
    match end {
        Some(end) if json::skip_ws(b, end) == b.len() => true,
        _ => {
            p.clear();
            false
        }
    }
}

/// `key=value key="quoted value" ...`: accepted when the line starts with a
/// `key=` and has either two pairs or a level or message key, so that plain
/// text with one `=` stays plain.
fn parse_logfmt(line: &str, p: &mut Parsed) -> bool {
    let b = line.as_bytes();
    let mut i = 0;
    let mut pairs = 0;
    let mut known = false;
    while i < b.len() {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let ks = i;
        while i < b.len() && !is_space(b[i]) && b[i] != b'=' {
            i += 1;
        }
        let mut key = Value {
            start: ks,
            end: i,
            kind: Kind::Raw,
        };
        let val = if b.get(i) == Some(&b'=') && i > ks {
            i += 1;
            if b.get(i) == Some(&b'"') {
                match json::string(b, i) {
                    Some((v, next)) => {
                        i = next;
                        v
                    }
                    None => {
                        p.clear();
                        return false;
                    }
                }
            } else {
                let vs = i;
                while i < b.len() && !is_space(b[i]) {
                    i += 1;
                }
                Value {
                    start: vs,
                    end: i,
                    kind: Kind::Str { escaped: false },
                }
            }
        } else {
            if pairs == 0 {
                // A line must start with a pair to be logfmt.
                p.clear();
                return false;
            }
            // A bare word: kept as a key without a value, the whole word
            // (a lone `=` too: a token is never empty).
            while i < b.len() && !is_space(b[i]) {
                i += 1;
            }
            key.end = i;
            key_only(ks, i)
        };
        if val.kind != Kind::Composite {
            pairs += 1;
        }
        match role(&line[key.start..key.end]) {
            Role::Level => {
                known = true;
                if p.level.is_none() {
                    p.level = Level::parse(&line[val.start..val.end]);
                }
            }
            Role::Message if p.message.is_none() => {
                known = true;
                p.message = Some(val);
            }
            Role::Envelope => {}
            _ => p.fields.push(Field { key, val }),
        }
    }
    if pairs >= 2 || known {
        true
    } else {
        p.clear();
        false
    }
}

/// Marks a bare logfmt word: a key whose "value" is the composite sentinel
/// with an empty span, written without `=`.
fn key_only(start: usize, end: usize) -> Value {
    Value {
        start,
        end,
        kind: Kind::Composite,
    }
}

/// A level word among the first few tokens of a plain line: upper case
/// anywhere there (`081109 203615 148 INFO dfs...`), any case when it is the
/// first token or is set off by brackets or a colon (`[warn]`, `error:`).
fn plain_level(line: &str) -> Option<Level> {
    let head = &line.as_bytes()[..line.len().min(LEVEL_HEAD)];
    let mut i = 0;
    for n in 0..LEVEL_TOKENS {
        while i < head.len() && is_space(head[i]) {
            i += 1;
        }
        if i >= head.len() {
            break;
        }
        let s = i;
        while i < head.len() && !is_space(head[i]) {
            i += 1;
        }
        if let Some(l) = level_word(&head[s..i], n) {
            return Some(l);
        }
    }
    None
}

/// Bytes at the head of a plain line where a level word is looked for.
pub(crate) const LEVEL_HEAD: usize = 96;
/// Tokens at the head of a plain line where a level word is looked for.
pub(crate) const LEVEL_TOKENS: usize = 6;

/// The level that token `n` (cut at [`LEVEL_HEAD`]) of a plain line names,
/// if it names one (see [`plain_level`]); the tokenizer asks this of the
/// tokens it finds anyway, so that plain lines are not scanned twice.
pub(crate) fn level_word(tok: &[u8], n: usize) -> Option<Level> {
    if tok.len() < 3 {
        return None;
    }
    // no letter, no level
    let start = tok.iter().position(u8::is_ascii_alphabetic)?;
    let end = tok
        .iter()
        .rposition(u8::is_ascii_alphabetic)
        .map_or(start, |e| e + 1);
    let word = &tok[start..end];
    // Level words have 3 to 13 letters; most words are ruled out here.
    if !(3..=13).contains(&word.len()) {
        return None;
    }
    let set_off = start > 0 || end < tok.len();
    // mid-sentence, only upper case counts (which rules out most words
    // at their first letter); else any letters do
    let letters = if n == 0 || set_off {
        word.iter().all(u8::is_ascii_alphabetic)
    } else {
        word.iter().all(u8::is_ascii_uppercase)
    };
    if !letters {
        return None;
    }
    Level::parse_bytes(word)
}

/// `plain_level_too`: whether to look for a plain line's level (the
/// tokenizer finds it on its own pass).
fn parse(line: &str, p: &mut Parsed, plain_level_too: bool) -> Format {
    p.clear();
    let first = line.as_bytes().iter().position(|&c| !is_space(c));
    match first.map(|i| line.as_bytes()[i]) {
        Some(b'{') if parse_json(line, p) => Format::Json,
        Some(c) if c != b'{' && c != b'[' && parse_logfmt(line, p) => Format::Logfmt,
        _ => {
            if plain_level_too {
                p.level = plain_level(line);
            }
            Format::Plain
        }
    }
}

fn text<'a>(line: &'a str, v: Value) -> Cow<'a, str> {
    let raw = &line[v.start..v.end];
    match v.kind {
        Kind::Str { escaped: true } => {
            let mut s = String::with_capacity(raw.len());
            json::unescape_into(raw, &mut s);
            Cow::Owned(s)
        }
        _ => Cow::Borrowed(raw),
    }
}

/// Takes a line apart: JSON object, logfmt or plain text.
pub fn extract(line: &str) -> Extracted<'_> {
    let mut p = Parsed::default();
    let format = parse(line, &mut p, true);
    sort_fields(line, &mut p.fields);
    let message = match (format, p.message) {
        (Format::Plain, _) => Cow::Borrowed(line),
        (_, Some(v)) => text(line, v),
        (_, None) => Cow::Borrowed(""),
    };
    let fields = p
        .fields
        .iter()
        .map(|f| {
            let val = if f.val.kind == Kind::Composite && f.val.start == f.key.start {
                Cow::Borrowed("")
            } else {
                text(line, f.val)
            };
            (text(line, f.key), val)
        })
        .collect();
    Extracted {
        format,
        level: p.level,
        message,
        fields,
    }
}

fn sort_fields(line: &str, fields: &mut [Field]) {
    // serde_json (and so the shop) writes fields sorted already.
    if fields.is_sorted_by(|a, b| line[a.key.start..a.key.end] <= line[b.key.start..b.key.end]) {
        return;
    }
    fields.sort_unstable_by(|a, b| line[a.key.start..a.key.end].cmp(&line[b.key.start..b.key.end]));
}

/// Reusable buffers for turning lines into mined text without allocating
/// per line.
#[derive(Debug, Default)]
pub struct Preprocessor {
    parsed: Parsed,
    unescaped: String,
    tokens: Vec<(u32, u32)>,
    /// The kinds of the last plain line's tokens; empty after a
    /// structured line.
    kinds: Vec<crate::plain::Written>,
}

impl Preprocessor {
    /// The kinds of the tokens [`Preprocessor::content_tokens`] last
    /// wrote, when the tokenizer knew them (plain lines); else empty.
    pub(crate) fn token_kinds(&self) -> &[crate::plain::Written] {
        &self.kinds
    }

    /// Clears `out` and writes the masked text to mine from `line`; returns
    /// the level found in the line and its format.
    pub fn content(
        &mut self,
        line: &str,
        masks: &MaskConfig,
        out: &mut String,
    ) -> (Option<Level>, Format) {
        let mut tokens = std::mem::take(&mut self.tokens);
        let found = self.content_tokens(line, masks, out, &mut tokens);
        self.tokens = tokens;
        found
    }

    /// As [`Preprocessor::content`], and fills `tokens` with the byte
    /// ranges of the tokens in `out`: the words of the message (or of a
    /// plain line), then each structured field as one `key=value` token,
    /// spaces in the value included. One token per field because a
    /// statement's fields are fixed while their values are free text (an
    /// error's wording): counted as words, each wording would change the
    /// token count and so make a template of its own.
    pub fn content_tokens(
        &mut self,
        line: &str,
        masks: &MaskConfig,
        out: &mut String,
        tokens: &mut Vec<(u32, u32)>,
    ) -> (Option<Level>, Format) {
        out.clear();
        tokens.clear();
        self.kinds.clear();
        let format = parse(line, &mut self.parsed, false);
        if format == Format::Plain {
            let level = crate::plain::tokenize(line, masks, out, tokens, &mut self.kinds);
            return (level, format);
        }
        if let Some(v) = self.parsed.message {
            write_value(line, v, masks, out, false, &mut self.unescaped);
            split_words(out, 0, tokens);
        }
        sort_fields(line, &mut self.parsed.fields);
        for f in &self.parsed.fields {
            if !out.is_empty() {
                out.push(' ');
            }
            let start = out.len();
            let key = &line[f.key.start..f.key.end];
            // Keys are names; spaces or controls in one would split tokens.
            if key.bytes().any(is_space) {
                out.extend(key.chars().map(|c| {
                    if c.is_whitespace() || c.is_control() {
                        '_'
                    } else {
                        c
                    }
                }));
            } else {
                out.push_str(key);
            }
            if !(f.val.kind == Kind::Composite && f.val.start == f.key.start) {
                out.push('=');
                write_value(line, f.val, masks, out, true, &mut self.unescaped);
            }
            // Text is a few times the line at most, which the miner caps
            // far below 4 GiB.
            tokens.push((start as u32, out.len() as u32));
        }
        (self.parsed.level, format)
    }
}

/// Appends the ranges of the space-separated words of `text[from..]`
/// (words are separated by single spaces there).
fn split_words(text: &str, from: usize, tokens: &mut Vec<(u32, u32)>) {
    let bytes = text.as_bytes();
    let mut start = from;
    while start < bytes.len() {
        let end = find_space(bytes, start);
        tokens.push((start as u32, end as u32));
        start = end + 1;
    }
}

/// The index of the first space at or after `i`, or the end; eight bytes
/// at a time (tokens average a few bytes, too few for a vector search).
#[inline]
fn find_space(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word) ^ (ONES * u64::from(b' '));
        // A zero byte where the space was; exact for the lowest one.
        let hits = w.wrapping_sub(ONES) & !w & HIGHS;
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && b[i] != b' ' {
        i += 1;
    }
    i
}

fn write_value(
    line: &str,
    v: Value,
    masks: &MaskConfig,
    out: &mut String,
    glue: bool,
    unescaped: &mut String,
) {
    let raw = &line[v.start..v.end];
    match v.kind {
        Kind::Str { escaped: true } => {
            unescaped.clear();
            json::unescape_into(raw, unescaped);
            mask_into(unescaped, masks, out, glue);
        }
        Kind::Str { escaped: false } | Kind::Raw => mask_into(raw, masks, out, glue),
        // Nested structure: only its shape is kept; its contents would
        // make every line a template of its own.
        Kind::Composite => out.push_str(if raw.starts_with('[') { "[..]" } else { "{..}" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(line: &str) -> (String, Option<Level>, Format) {
        let mut pre = Preprocessor::default();
        let mut out = String::new();
        let (level, format) = pre.content(line, &MaskConfig::default(), &mut out);
        (out, level, format)
    }

    const SHOP: &str = r#"{"timestamp":"2023-11-14T22:13:20.000000Z","level":"error","service":"checkout","version":"1.0.0","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","message":"request failed","fields":{"status":503,"http_route":"/checkout","http_request_method":"POST"}}"#;

    #[test]
    fn shop_json() {
        let (text, level, format) = content(SHOP);
        assert_eq!(format, Format::Json);
        assert_eq!(level, Some(Level::Error));
        assert_eq!(
            text,
            "request failed http_request_method=POST http_route=/checkout status=<NUM>"
        );
        let e = extract(SHOP);
        assert_eq!(e.message, "request failed");
        assert_eq!(e.fields.len(), 3);
        assert_eq!(e.fields[2], (Cow::Borrowed("status"), Cow::Borrowed("503")));
    }

    #[test]
    fn other_json_shapes() {
        let (text, level, _) = content(
            r#"{"lvl":"WARN","msg":"slow \"query\"","took_ms":12.5,"tags":["a"],"ctx":{"x":1}}"#,
        );
        assert_eq!(level, Some(Level::Warn));
        assert_eq!(text, "slow \"query\" ctx={..} tags=[..] took_ms=<NUM>");
        let (text, level, _) = content(r#"{"severity":50,"message":"boom"}"#);
        assert_eq!((text.as_str(), level), ("boom", Some(Level::Error)));
        // Not JSON after all: mined as plain text.
        let (_, _, format) = content(r#"{"message":"cut off"#);
        assert_eq!(format, Format::Plain);
        let (_, _, format) = content(r#"{"a":1} trailing"#);
        assert_eq!(format, Format::Plain);
    }

    #[test]
    fn logfmt() {
        let (text, level, format) = content(
            r#"ts=2024-01-01T00:00:00Z level=error msg="charge failed for ch_9x8y7z6w" amount=1200 card=visa"#,
        );
        assert_eq!(format, Format::Logfmt);
        assert_eq!(level, Some(Level::Error));
        assert_eq!(text, "charge failed for <ID> amount=<NUM> card=visa");
        let (_, _, format) = content("status=ok everything is fine");
        assert_eq!(format, Format::Plain);
        let (text, _, format) = content("a=1 b=2 flag");
        assert_eq!(
            (text.as_str(), format),
            ("a=<NUM> b=<NUM> flag", Format::Logfmt)
        );
    }

    fn tokens(line: &str) -> Vec<String> {
        let mut pre = Preprocessor::default();
        let mut out = String::new();
        let mut spans = Vec::new();
        pre.content_tokens(line, &MaskConfig::default(), &mut out, &mut spans);
        spans
            .iter()
            .map(|&(s, e)| out[s as usize..e as usize].to_string())
            .collect()
    }

    #[test]
    fn a_field_is_one_token_with_its_spaces() {
        assert_eq!(
            tokens(
                r#"{"message":"payment failed","fields":{"error":"payments did not answer within 2s","id":7}}"#
            ),
            [
                "payment",
                "failed",
                "error=payments did not answer within <NUM>",
                "id=<NUM>"
            ]
        );
        assert_eq!(
            tokens(r#"level=warn msg="cache miss" key="a b" flag"#),
            ["cache", "miss", "flag", "key=a b"]
        );
        assert_eq!(tokens(r#"{"fields":{"e":""}}"#), ["e="]);
        assert_eq!(tokens("plain  words\there"), ["plain", "words", "here"]);
        assert!(tokens("").is_empty());
    }

    #[test]
    fn plain_levels() {
        let hdfs = "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating";
        let (text, level, format) = content(hdfs);
        assert_eq!(format, Format::Plain);
        assert_eq!(level, Some(Level::Info));
        assert_eq!(
            text,
            "<NUM> INFO dfs.DataNode$PacketResponder : PacketResponder <NUM> for block <ID> terminating"
        );
        assert_eq!(content("[warn] disk almost full").1, Some(Level::Warn));
        assert_eq!(content("error: cannot open file").1, Some(Level::Error));
        assert_eq!(
            content("2024-01-01 12:00:00,123 ERROR pool exhausted").1,
            Some(Level::Error)
        );
        // A level word deep in the sentence, or lower case mid-sentence, is not a level.
        assert_eq!(content("updated the user info page").1, None);
        assert_eq!(content("").1, None);
        assert_eq!(extract("plain text").message, "plain text");
    }
}
