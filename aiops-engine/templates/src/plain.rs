//! Tokens of a plain-text line, each of one of three kinds, for Drain:
//!
//! - a **variable** (a masked value: `<NUM>`, `<IP>`, `<PATH>`, `<*>`),
//!   found by the shape of the whole token first (a path or URL, a
//!   `host:port`, anything made of hex digits and `. : -` such as numbers,
//!   addresses, dates and versions), else of the pieces a token splits
//!   into at `=` and `:` (a piece with a digit, unless a short name such as
//!   `eth1`; a piece with a path);
//! - a **soft word**, a dotted name such as `com.apple.launchd`, which
//!   stays text but may turn into a variable when lines differ there;
//! - a **word**, everything else, which a line must match exactly.
//!
//! Units right after a variable belong to it (`12 ms`), and a run of
//! variables (also joined by `:`) is one. One pass of byte-class scans: no
//! regex, nothing but the caller's buffers.
//!
//! These rules were chosen on Loghub's nine development systems (see the
//! README's evaluation); each is a shape, never a system's vocabulary.

use crate::drain::WILDCARD;
use crate::mask::{MaskConfig, mask_name};

/// A path or URL as a variable.
pub const PATH: &str = "<PATH>";
/// A `host:port` as a variable.
pub const HOST: &str = "<HOST>";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Word,
    Soft,
    Var,
}

/// Units a value may be followed by, as their own token.
const UNITS: [&str; 22] = [
    "B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "bytes", "ms", "s", "sec", "secs", "seconds",
    "us", "ns", "min", "mins", "minutes", "h", "hours", "%",
];

#[inline]
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// A `/` that is not the last byte: `/a/b`, `a/b`, `http://x`, `HTTP/1.1`.
fn is_path(s: &[u8]) -> bool {
    s.iter()
        .position(|&b| b == b'/')
        .is_some_and(|i| i + 1 < s.len())
}

/// `name(.name)+:port`, names of letters, digits, `_` and `-`.
fn is_host_port(s: &[u8]) -> bool {
    let Some(colon) = s.iter().rposition(|&b| b == b':') else {
        return false;
    };
    let port = &s[colon + 1..];
    if colon == 0 || port.is_empty() || port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut names = 0;
    for name in s[..colon].split(|&b| b == b'.') {
        if name.is_empty() || !name.iter().all(|&b| is_name_byte(b)) {
            return false;
        }
        names += 1;
    }
    names >= 2
}

/// Letters then one to three digits, six bytes at most: `eth1`, `ee0`,
/// `IPV6`, `SOCKS5` name things rather than vary.
fn is_short_name(s: &[u8]) -> bool {
    if s.len() > 6 {
        return false;
    }
    let letters = s.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let digits = s.len() - letters;
    letters > 0 && (1..=3).contains(&digits) && s[letters..].iter().all(u8::is_ascii_digit)
}

/// Two dots or more between names, the last not in capitals (a constant
/// such as `android.intent.action.TIME_TICK` is a word).
pub(crate) fn is_dotted(s: &[u8]) -> bool {
    let mut dots = 0;
    let mut last_dot = None;
    for (i, &b) in s.iter().enumerate() {
        if b == b'.' {
            // an empty name: a leading, trailing or doubled dot
            if i == 0 || last_dot == Some(i - 1) || i + 1 == s.len() {
                return false;
            }
            dots += 1;
            last_dot = Some(i);
        } else if !is_name_byte(b) {
            return false;
        }
    }
    let Some(at) = last_dot.filter(|_| dots >= 2) else {
        return false;
    };
    let last = &s[at + 1..];
    let capitals =
        last.iter().any(u8::is_ascii_uppercase) && !last.iter().any(u8::is_ascii_lowercase);
    !capitals
}

/// What the shape tests need to know about some bytes, in one pass: most
/// tokens are plain words, and one look rules every shape out.
#[derive(Clone, Copy, Default)]
struct Bytes {
    digit: bool,
    /// A byte outside hex digits and `. : -`.
    not_number: bool,
    /// `.`, `:` and `-`.
    separators: u32,
    dots: u32,
    colon: bool,
    /// A `/` that is not the last byte.
    path: bool,
    /// A `=` or a `:`, where a token splits.
    separator: bool,
}

const DIGIT: u8 = 1;
const DOT: u8 = 2;
const COLON: u8 = 4;
const DASH: u8 = 8;
const SLASH: u8 = 16;
/// Anything but hex digits and `. : -` (a `/` and a `=` are both).
const NOT_NUMBER: u8 = 32;
const EQUALS: u8 = 64;
/// Where tokens end: ASCII space and every control byte.
const SPACE: u8 = 128;
/// A token with none of these is a bare word, whatever else it holds.
const SHAPED: u8 = DIGIT | DOT | COLON | SLASH | EQUALS;

/// Byte classes, looked up: this runs over every byte of every plain line.
static CLASS: [u8; 256] = {
    let mut t = [NOT_NUMBER; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = match c {
            b'0'..=b'9' => DIGIT,
            b'a'..=b'f' | b'A'..=b'F' => 0,
            b'.' => DOT,
            b':' => COLON,
            b'-' => DASH,
            b'/' => SLASH | NOT_NUMBER,
            b'=' => EQUALS | NOT_NUMBER,
            0..=b' ' | 0x7f => SPACE,
            _ => NOT_NUMBER,
        };
        i += 1;
    }
    t
};

impl Bytes {
    fn of(s: &[u8]) -> Bytes {
        let mut flags = 0u8;
        let mut separators = 0u32;
        let mut dots = 0u32;
        for &c in s {
            let k = CLASS[c as usize];
            flags |= k;
            separators += u32::from(k & (DOT | COLON | DASH) != 0);
            dots += u32::from(k & DOT != 0);
        }
        Bytes {
            digit: flags & DIGIT != 0,
            not_number: flags & NOT_NUMBER != 0,
            separators,
            dots,
            colon: flags & COLON != 0,
            path: flags & SLASH != 0 && is_path(s),
            separator: flags & (COLON | EQUALS) != 0,
        }
    }

    /// A whole token that is one value: a path, a `host:port`, or made
    /// of hex digits and `. : -` only, with a digit, and either starting
    /// with a digit, or long, or with two separators (numbers, IP and MAC
    /// addresses, hex ids, dates, times, versions).
    fn whole_value(&self, s: &[u8]) -> bool {
        self.path
            || (!self.not_number
                && self.digit
                && (s.first().is_some_and(u8::is_ascii_digit)
                    || s.len() >= 8
                    || self.separators >= 2))
            || (self.colon && self.dots > 0 && self.digit && is_host_port(s))
    }
}

fn piece_kind(p: &[u8], b: Bytes) -> Kind {
    if b.digit {
        return if is_short_name(p) {
            Kind::Word
        } else {
            Kind::Var
        };
    }
    if b.path {
        return Kind::Var;
    }
    if b.dots >= 2 && is_dotted(p) {
        return Kind::Soft;
    }
    Kind::Word
}

/// What a variable is called in the template.
fn var_name(value: &str, masks: &MaskConfig) -> &'static str {
    let b = value.as_bytes();
    if is_path(b) {
        return PATH;
    }
    match mask_name(value, masks) {
        WILDCARD if is_host_port(b) => HOST,
        name => name,
    }
}

/// The tokens being written, with their kinds.
struct Tokens<'a> {
    out: &'a mut String,
    spans: &'a mut Vec<(u32, u32)>,
    kinds: &'a mut Vec<Kind>,
}

impl Tokens<'_> {
    /// Appends a token, unless it is a unit after a value or a value after
    /// a value.
    fn push(&mut self, text: &str, kind: Kind) {
        self.push_parts(["", text, ""], kind);
    }

    /// As [`Tokens::push`], the token written from parts, the last one
    /// without its colons (no allocation per token).
    fn push_parts(&mut self, [lead, text, trail]: [&str; 3], kind: Kind) {
        let last = self.kinds.last().copied();
        // units are short: "minutes," is the longest worth a look
        if kind == Kind::Word && last == Some(Kind::Var) && text.len() <= 9 {
            let bare = text.trim_matches(|c| matches!(c, ',' | ';' | '.' | ')' | ']' | '}'));
            if UNITS.contains(&bare) {
                return;
            }
        }
        if kind == Kind::Var {
            // a variable after a variable, with only `:` between: one
            let mut keep = self.kinds.len();
            while keep > 0 && self.token(keep - 1) == ":" {
                keep -= 1;
            }
            if keep > 0 && self.kinds[keep - 1] == Kind::Var {
                self.truncate(keep);
                return;
            }
        }
        if !self.out.is_empty() {
            self.out.push(' ');
        }
        let start = self.out.len() as u32;
        self.out.push_str(lead);
        self.out.push_str(text);
        if trail.contains(':') {
            for part in trail.split(':') {
                self.out.push_str(part);
            }
        } else {
            self.out.push_str(trail);
        }
        self.spans.push((start, self.out.len() as u32));
        self.kinds.push(kind);
    }

    fn token(&self, i: usize) -> &str {
        let (s, e) = self.spans[i];
        &self.out[s as usize..e as usize]
    }

    fn truncate(&mut self, n: usize) {
        let end = if n == 0 {
            0
        } else {
            self.spans[n - 1].1 as usize
        };
        self.out.truncate(end);
        self.spans.truncate(n);
        self.kinds.truncate(n);
    }
}

/// Writes the tokens of `line` into `out`, separated by single spaces,
/// and their ranges into `spans`. `kinds` is scratch.
pub(crate) fn tokenize(
    line: &str,
    masks: &MaskConfig,
    out: &mut String,
    spans: &mut Vec<(u32, u32)>,
    kinds: &mut Vec<Kind>,
) {
    kinds.clear();
    let mut tokens = Tokens { out, spans, kinds };
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && CLASS[b[i] as usize] == SPACE {
            i += 1;
        }
        let start = i;
        let mut seen = 0u8;
        while i < b.len() {
            let k = CLASS[b[i] as usize];
            if k == SPACE {
                break;
            }
            seen |= k;
            i += 1;
        }
        if start == i {
            continue;
        }
        // spaces are ASCII: the slice keeps UTF-8 intact
        let raw = &line[start..i];
        if seen & SHAPED == 0 {
            // no digit, dot, colon, slash or equals sign: no value, no
            // dotted name, nothing to split
            tokens.push(raw, Kind::Word);
        } else {
            token(raw, masks, &mut tokens);
        }
    }
}

/// One whitespace-separated token.
fn token(raw: &str, masks: &MaskConfig, tokens: &mut Tokens<'_>) {
    let b = raw.as_bytes();
    let (lead, core, trail) = around(raw);
    let shape = Bytes::of(core.as_bytes());
    if !core.is_empty() && shape.whole_value(core.as_bytes()) {
        push_var(lead, var_name(core, masks), trail, tokens);
        return;
    }
    // most tokens are bare words: their core is the whole token
    let whole = if core.len() == raw.len() {
        shape
    } else {
        Bytes::of(b)
    };
    if !whole.separator {
        piece_of(raw, whole, masks, tokens);
        return;
    }
    let mut from = 0;
    for (k, &c) in b.iter().enumerate() {
        if c == b'=' || c == b':' {
            // the separator is a token of its own, after a name as after a
            // value: `src:` and `<PATH>:` then have as many tokens as
            // `com.apple.x:`, and `12:30:05` stays one variable
            piece(&raw[from..k], masks, tokens);
            tokens.push(&raw[k..=k], Kind::Word);
            from = k + 1;
        }
    }
    piece(&raw[from..], masks, tokens);
}

/// Pushes one piece.
fn piece(text: &str, masks: &MaskConfig, tokens: &mut Tokens<'_>) {
    piece_of(text, Bytes::of(text.as_bytes()), masks, tokens);
}

/// Pushes one piece whose bytes were looked at.
fn piece_of(text: &str, shape: Bytes, masks: &MaskConfig, tokens: &mut Tokens<'_>) {
    if text.is_empty() {
        return;
    }
    match piece_kind(text.as_bytes(), shape) {
        Kind::Var => {
            let (lead, core, trail) = around(text);
            push_var(lead, var_name(core, masks), trail, tokens);
        }
        kind => tokens.push(text, kind),
    }
}

/// Splits the punctuation around a value off: `(`, `"`... before it,
/// `)`, `,`, `.`, `:`... after it.
fn around(text: &str) -> (&str, &str, &str) {
    let b = text.as_bytes();
    let lead = b.iter().take_while(|&&c| is_lead(c)).count();
    let trail = b[lead..].iter().rev().take_while(|&&c| is_trail(c)).count();
    let end = b.len() - trail;
    (&text[..lead], &text[lead..end], &text[end..])
}

fn is_lead(c: u8) -> bool {
    matches!(c, b'(' | b'[' | b'{' | b'"' | b'\'')
}

fn is_trail(c: u8) -> bool {
    matches!(
        c,
        b')' | b']' | b'}' | b'"' | b'\'' | b',' | b';' | b'.' | b':'
    )
}

/// A value with the punctuation around it kept in its text (`(<NUM>),`);
/// colons after it are tokens of their own (`port 80:`), as a split
/// would make them.
fn push_var(lead: &str, name: &str, trail: &str, tokens: &mut Tokens<'_>) {
    tokens.push_parts([lead, name, trail], Kind::Var);
    for _ in trail.bytes().filter(|&c| c == b':') {
        tokens.push(":", Kind::Word);
    }
}

/// The kind of a token of a template or a mined line, from its text: a
/// mask is a variable, a dotted name soft, anything else a word.
pub(crate) fn kind_of(token: &[u8]) -> Kind {
    if is_mask(token) {
        return Kind::Var;
    }
    // a glued separator is not part of the name
    let name = token
        .strip_suffix(b":")
        .or_else(|| token.strip_suffix(b"="))
        .unwrap_or(token);
    if is_dotted(name) {
        Kind::Soft
    } else {
        Kind::Word
    }
}

/// `<*>`, `<NUM>`, `(<PATH>),`...: the texts a variable is written as,
/// with the punctuation around it.
pub(crate) fn is_mask(token: &[u8]) -> bool {
    if !token.contains(&b'<') {
        return false;
    }
    let lead = token.iter().take_while(|&&c| is_lead(c)).count();
    let trail = token[lead..]
        .iter()
        .rev()
        .take_while(|&&c| is_trail(c) || c == b'=')
        .count();
    let m = &token[lead..token.len() - trail];
    m == WILDCARD.as_bytes()
        || (m.len() >= 3
            && m[0] == b'<'
            && m[m.len() - 1] == b'>'
            && m[1..m.len() - 1].iter().all(u8::is_ascii_uppercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(line: &str) -> String {
        let mut out = String::new();
        let mut spans = Vec::new();
        let mut kinds = Vec::new();
        tokenize(
            line,
            &MaskConfig::default(),
            &mut out,
            &mut spans,
            &mut kinds,
        );
        assert_eq!(spans.len(), kinds.len());
        for (i, &(s, e)) in spans.iter().enumerate() {
            let t = &out[s as usize..e as usize];
            assert!(!t.contains(' ') && !t.is_empty(), "{t:?}");
            if i > 0 {
                assert_eq!(&out[spans[i - 1].1 as usize..s as usize], " ");
            }
        }
        out
    }

    #[test]
    fn whole_tokens_by_shape() {
        assert_eq!(
            tokens("GET /api/v1/items?id=7 HTTP/1.1 from 10.0.0.1 (took 12 ms)."),
            "GET <PATH> from <IP> (took <NUM>"
        );
        assert_eq!(
            tokens("proxy.example.com:443 close, 1024 bytes sent"),
            "<HOST> close, <NUM> sent"
        );
        assert_eq!(
            tokens("at 2015-10-18 18:05:36,285 mac 00:1a:2b:3c:4d:5e"),
            "at <TS> mac <*>"
        );
    }

    #[test]
    fn fields_split_at_equals_and_colons() {
        assert_eq!(
            tokens("ambient=30 state:RUNNING onExtend:1447 eth1 up"),
            "ambient = <NUM> state : RUNNING onExtend : <NUM> eth1 up"
        );
        assert_eq!(
            tokens("user=alice id=ab12cd34ef"),
            "user = alice id = <HEX>"
        );
        assert_eq!(tokens("at 12:30:05:x"), "at <NUM> : x");
    }

    #[test]
    fn dotted_names_are_soft_and_constants_words() {
        let mut out = String::new();
        let mut spans = Vec::new();
        let mut kinds = Vec::new();
        tokenize(
            "com.apple.launchd android.intent.action.TIME_TICK a.b",
            &MaskConfig::default(),
            &mut out,
            &mut spans,
            &mut kinds,
        );
        assert_eq!(kinds, [Kind::Soft, Kind::Word, Kind::Word]);
        assert_eq!(kind_of(b"com.apple.launchd"), Kind::Soft);
        assert_eq!(kind_of(b"com.apple.launchd:"), Kind::Soft);
        assert_eq!(kind_of(b"<NUM>"), Kind::Var);
        assert_eq!(kind_of(b"(<NUM>),"), Kind::Var);
        assert_eq!(kind_of(b"<init>"), Kind::Word);
    }

    #[test]
    fn runs_of_variables_are_one() {
        assert_eq!(
            tokens("from 10.0.0.1 8080 to 10.0.0.2:8080 ok"),
            "from <IP> to <IP> ok"
        );
        assert_eq!(tokens("took 3 ms, then 4 s."), "took <NUM> then <NUM>");
    }

    #[test]
    fn hostile_text_is_bounded_and_utf8_safe() {
        assert_eq!(tokens(""), "");
        assert_eq!(tokens(" \t\u{7f} "), "");
        assert_eq!(tokens("héllo wörld ünïcode: ✓"), "héllo wörld ünïcode : ✓");
        assert_eq!(tokens("::::="), ": : : : =");
        let long = "a=1:".repeat(10_000);
        let out = tokens(&long);
        assert!(out.len() < 3 * long.len());
    }
}
