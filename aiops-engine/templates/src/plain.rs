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
use crate::extract::{LEVEL_HEAD, LEVEL_TOKENS, level_word};
use crate::level::Level;
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

/// A written token's kind: as the rules here gave it, and as [`kind_of`]
/// (and so Drain) finds it from the text, which differ in one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Written {
    Word,
    Soft,
    Var,
    /// A word written as a mask (`<HEX>` in the line itself): a word to
    /// the rules here, a variable to [`kind_of`].
    MaskWord,
}

impl Written {
    /// What [`kind_of`] finds for the token.
    pub(crate) fn drain_kind(self) -> Kind {
        match self {
            Written::Word => Kind::Word,
            Written::Soft => Kind::Soft,
            Written::Var | Written::MaskWord => Kind::Var,
        }
    }
}

/// Units a value may be followed by, as their own token.
#[inline]
fn is_unit_word(t: &[u8]) -> bool {
    // a match rather than a list: it compiles to a few length-keyed
    // compares, and runs after every value
    matches!(
        t,
        b"B" | b"KB"
            | b"MB"
            | b"GB"
            | b"TB"
            | b"KiB"
            | b"MiB"
            | b"GiB"
            | b"bytes"
            | b"ms"
            | b"s"
            | b"sec"
            | b"secs"
            | b"seconds"
            | b"us"
            | b"ns"
            | b"min"
            | b"mins"
            | b"minutes"
            | b"h"
            | b"hours"
            | b"%"
    )
}

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

/// What the shape tests need to know about some bytes: most tokens are
/// plain words, and one look rules every shape out.
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

/// Per byte, what it adds to a token's [`Counts`]: eight 8-bit lanes, one
/// per count, so that the scan that finds a token's end also counts its
/// bytes with one table load and one add per byte. Whitespace (ASCII space
/// and every control byte), where tokens end, is `u64::MAX`, a value no
/// other byte has.
static LANES: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = match c {
            0..=b' ' | 0x7f => u64::MAX,
            b'0'..=b'9' => 1 << (8 * DIGITS),
            b'a'..=b'f' | b'A'..=b'F' => 0,
            b'.' => 1 << (8 * DOTS),
            b':' => 1 << (8 * COLONS),
            b'-' => 1 << (8 * DASHES),
            // a `/` and a `=` are not number bytes either
            b'/' => (1 << (8 * SLASHES)) | (1 << (8 * NOT_NUMBER)),
            b'=' => (1 << (8 * EQUALS)) | (1 << (8 * NOT_NUMBER)),
            b'<' => (1 << (8 * ANGLES)) | (1 << (8 * NOT_NUMBER)),
            _ => 1 << (8 * NOT_NUMBER),
        };
        i += 1;
    }
    t
};

/// Lanes of [`LANES`].
const DIGITS: u32 = 0;
/// Bytes outside hex digits and `. : -`.
const NOT_NUMBER: u32 = 1;
const DOTS: u32 = 2;
const COLONS: u32 = 3;
const DASHES: u32 = 4;
const SLASHES: u32 = 5;
const EQUALS: u32 = 6;
/// `<`, which every mask starts with.
const ANGLES: u32 = 7;

/// The lanes that make a token more than a bare word: with none of digits,
/// dots, colons, slashes and equals signs there is no value, no dotted name
/// and nothing to split.
const SHAPED: u64 = lane_mask(DIGITS)
    | lane_mask(DOTS)
    | lane_mask(COLONS)
    | lane_mask(SLASHES)
    | lane_mask(EQUALS);

const fn lane_mask(lane: u32) -> u64 {
    0xff << (8 * lane)
}

/// A lane holds at most 255 before it would carry into the next.
const LANE_MAX: usize = 255;

/// Byte counts of a token, one per lane of [`LANES`].
#[derive(Clone, Copy, Default)]
struct Counts([u32; 8]);

impl Counts {
    /// Counts of bytes without whitespace.
    fn of(s: &[u8]) -> Counts {
        let mut c = Counts::default();
        for chunk in s.chunks(LANE_MAX) {
            c.add(lanes_of(chunk));
        }
        c
    }

    fn add(&mut self, packed: u64) {
        for (lane, n) in self.0.iter_mut().enumerate() {
            *n += ((packed >> (8 * lane)) & 0xff) as u32;
        }
    }

    fn get(&self, lane: u32) -> u32 {
        self.0[lane as usize]
    }
}

/// The lanes of at most [`LANE_MAX`] bytes without whitespace.
#[inline]
fn lanes_of(s: &[u8]) -> u64 {
    s.iter()
        .fold(0u64, |acc, &c| acc.wrapping_add(LANES[c as usize]))
}

impl Bytes {
    fn of(s: &[u8]) -> Bytes {
        Bytes::from_counts(&Counts::of(s), s)
    }

    fn from_counts(c: &Counts, s: &[u8]) -> Bytes {
        Bytes::from_lanes(|lane| c.get(lane), s)
    }

    /// From the lanes of at most [`LANE_MAX`] bytes, still packed.
    #[inline]
    fn from_packed(packed: u64, s: &[u8]) -> Bytes {
        Bytes::from_lanes(|lane| ((packed >> (8 * lane)) & 0xff) as u32, s)
    }

    #[inline]
    fn from_lanes(lane: impl Fn(u32) -> u32, s: &[u8]) -> Bytes {
        let slashes = lane(SLASHES);
        Bytes {
            digit: lane(DIGITS) > 0,
            not_number: lane(NOT_NUMBER) > 0,
            separators: lane(DOTS) + lane(COLONS) + lane(DASHES),
            dots: lane(DOTS),
            colon: lane(COLONS) > 0,
            // a `/` before the last byte: two of them, or one not last
            path: slashes >= 2 || (slashes == 1 && s.last() != Some(&b'/')),
            separator: lane(COLONS) + lane(EQUALS) > 0,
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
    var_name_of(value, is_path(value.as_bytes()), masks)
}

/// As [`var_name`], for a value already known to be a path or not.
fn var_name_of(value: &str, path: bool, masks: &MaskConfig) -> &'static str {
    if path {
        return PATH;
    }
    match mask_name(value, masks) {
        WILDCARD if is_host_port(value.as_bytes()) => HOST,
        name => name,
    }
}

/// Units after a value (punctuation around them aside), which the value
/// absorbs.
fn is_unit(t: &[u8]) -> bool {
    let punct = |c: &u8| matches!(c, b',' | b';' | b'.' | b')' | b']' | b'}');
    let s = t.iter().position(|c| !punct(c)).unwrap_or(t.len());
    let e = t.iter().rposition(|c| !punct(c)).map_or(s, |e| e + 1);
    is_unit_word(&t[s..e])
}

/// The tokens being written, with their kinds.
struct Tokens<'a> {
    out: &'a mut String,
    spans: &'a mut Vec<(u32, u32)>,
    kinds: &'a mut Vec<Written>,
}

impl Tokens<'_> {
    /// Appends a token, unless it is a unit after a value or a value after
    /// a value.
    #[inline]
    fn push(&mut self, text: &str, kind: Kind) {
        // tokens are short: a loop beats a call to memchr
        let angle = kind == Kind::Word && text.bytes().any(|c| c == b'<');
        self.push_word_or(text, kind, angle);
    }

    /// As [`Tokens::push`], for a token whose `<`, if any, is known.
    #[inline]
    fn push_word_or(&mut self, text: &str, kind: Kind, angle: bool) {
        if !self.admit(text, kind) {
            return;
        }
        self.separate();
        let start = self.out.len() as u32;
        self.out.push_str(text);
        let written = match kind {
            Kind::Word if angle && is_mask(text.as_bytes()) => Written::MaskWord,
            Kind::Word => Written::Word,
            Kind::Soft => Written::Soft,
            Kind::Var => Written::Var,
        };
        self.close(start, written);
    }

    /// As [`Tokens::push`], the token written from parts, the last one
    /// without its colons (no allocation per token).
    fn push_parts(&mut self, [lead, text, trail]: [&str; 3], kind: Kind) {
        if !self.admit(text, kind) {
            return;
        }
        self.separate();
        let start = self.out.len() as u32;
        self.out.push_str(lead);
        self.out.push_str(text);
        if trail.bytes().any(|c| c == b':') {
            for part in trail.split(':') {
                self.out.push_str(part);
            }
        } else {
            self.out.push_str(trail);
        }
        // only variables are written from parts, and a variable's text
        // is a mask
        debug_assert_eq!(kind, Kind::Var);
        self.close(start, Written::Var);
    }

    /// Whether a token is written: not a unit after a value, not a value
    /// after a value (that one absorbs it).
    #[inline(always)]
    fn admit(&mut self, text: &str, kind: Kind) -> bool {
        let last = self.kinds.last().copied();
        // units are short: "minutes," is the longest worth a look
        if kind == Kind::Word
            && last == Some(Written::Var)
            && text.len() <= 9
            && is_unit(text.as_bytes())
        {
            return false;
        }
        if kind == Kind::Var {
            // a variable after a variable, with only `:` between: one
            let mut keep = self.kinds.len();
            while keep > 0 && self.is_colon(keep - 1) {
                keep -= 1;
            }
            if keep > 0 && self.kinds[keep - 1] == Written::Var {
                self.truncate(keep);
                return false;
            }
        }
        true
    }

    #[inline]
    fn separate(&mut self) {
        if !self.out.is_empty() {
            self.out.push(' ');
        }
    }

    #[inline]
    fn close(&mut self, start: u32, written: Written) {
        self.spans.push((start, self.out.len() as u32));
        self.kinds.push(written);
    }

    fn is_colon(&self, i: usize) -> bool {
        let (s, e) = self.spans[i];
        e == s + 1 && self.out.as_bytes()[s as usize] == b':'
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
/// their ranges into `spans` and their kinds into `kinds`; returns the
/// line's level word, if it has one where a plain line's is looked for.
pub(crate) fn tokenize(
    line: &str,
    masks: &MaskConfig,
    out: &mut String,
    spans: &mut Vec<(u32, u32)>,
    kinds: &mut Vec<Written>,
) -> Option<Level> {
    kinds.clear();
    let mut tokens = Tokens { out, spans, kinds };
    let b = line.as_bytes();
    let mut level = None;
    // raw tokens seen where a level may still be found
    let mut heads = 0;
    let mut i = 0;
    while let Some((start, end, acc)) = next_token(b, i) {
        i = end;
        if heads < LEVEL_TOKENS && start < LEVEL_HEAD {
            if level.is_none() {
                level = level_word(&b[start..i.min(LEVEL_HEAD)], heads);
            }
            heads += 1;
        }
        // spaces are ASCII: the slice keeps UTF-8 intact
        let raw = &line[start..i];
        // past LANE_MAX bytes lanes have carried into each other: `token`
        // counts again, in chunks
        let lanes = (raw.len() <= LANE_MAX).then_some(acc);
        match lanes {
            Some(acc) if acc & SHAPED == 0 => {
                tokens.push_word_or(raw, Kind::Word, acc & lane_mask(ANGLES) != 0);
            }
            // `word:`, as common as words in some logs, split as `token`
            // would split it without the shape tests
            Some(acc) if acc & SHAPED == 1 << (8 * COLONS) && raw.ends_with(':') => {
                let word = &raw[..raw.len() - 1];
                if !word.is_empty() {
                    tokens.push_word_or(word, Kind::Word, acc & lane_mask(ANGLES) != 0);
                }
                tokens.push_word_or(":", Kind::Word, false);
            }
            _ => token(raw, lanes, masks, &mut tokens),
        }
    }
    level
}

/// The next token at or after `i`: its range and its lanes (exact when it
/// is at most [`LANE_MAX`] bytes long), counted on the pass that finds its
/// end.
#[inline]
fn next_token(b: &[u8], mut i: usize) -> Option<(usize, usize, u64)> {
    while i < b.len() && LANES[b[i] as usize] == u64::MAX {
        i += 1;
    }
    if i >= b.len() {
        return None;
    }
    let start = i;
    let mut acc = 0u64;
    while i < b.len() {
        let v = LANES[b[i] as usize];
        if v == u64::MAX {
            break;
        }
        acc = acc.wrapping_add(v);
        i += 1;
    }
    Some((start, i, acc))
}

/// One whitespace-separated token, with its lanes if it is short enough
/// for them to be exact.
fn token(raw: &str, lanes: Option<u64>, masks: &MaskConfig, tokens: &mut Tokens<'_>) {
    let b = raw.as_bytes();
    let (lead, core, trail) = around(raw);
    let shape = match lanes {
        // the lead and trail are counted in the whole: no lane borrows
        Some(acc) => Bytes::from_packed(
            acc - lanes_of(lead.as_bytes()) - lanes_of(trail.as_bytes()),
            core.as_bytes(),
        ),
        None => Bytes::of(core.as_bytes()),
    };
    if !core.is_empty() && shape.whole_value(core.as_bytes()) {
        push_var(lead, var_name_of(core, shape.path, masks), trail, tokens);
        return;
    }
    // most tokens are bare words: their core is the whole token
    let whole = match lanes {
        _ if core.len() == raw.len() => shape,
        Some(acc) => Bytes::from_packed(acc, b),
        None => Bytes::of(b),
    };
    if !whole.separator {
        piece_of(raw, whole, masks, tokens);
        return;
    }
    let mut from = 0;
    // the pieces' lanes, counted on the way
    let mut acc = 0u64;
    for (k, &c) in b.iter().enumerate() {
        if c == b'=' || c == b':' {
            // the separator is a token of its own, after a name as after a
            // value: `src:` and `<PATH>:` then have as many tokens as
            // `com.apple.x:`, and `12:30:05` stays one variable
            piece(&raw[from..k], acc, masks, tokens);
            tokens.push_word_or(&raw[k..=k], Kind::Word, false);
            from = k + 1;
            acc = 0;
        } else {
            acc = acc.wrapping_add(LANES[c as usize]);
        }
    }
    piece(&raw[from..], acc, masks, tokens);
}

/// Pushes one piece, given its lanes (exact if it is short enough).
fn piece(text: &str, lanes: u64, masks: &MaskConfig, tokens: &mut Tokens<'_>) {
    let shape = if text.len() <= LANE_MAX {
        Bytes::from_packed(lanes, text.as_bytes())
    } else {
        Bytes::of(text.as_bytes())
    };
    piece_of(text, shape, masks, tokens);
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
    let mut lead = 0;
    while lead < b.len() && is_lead(b[lead]) {
        lead += 1;
    }
    let mut end = b.len();
    while end > lead && is_trail(b[end - 1]) {
        end -= 1;
    }
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
        tokens.push_word_or(":", Kind::Word, false);
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
            assert_eq!(kinds[i].drain_kind(), kind_of(t.as_bytes()), "{t:?}");
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
        assert_eq!(kinds, [Written::Soft, Written::Word, Written::Word]);
        assert_eq!(kind_of(b"com.apple.launchd"), Kind::Soft);
        assert_eq!(kind_of(b"com.apple.launchd:"), Kind::Soft);
        assert_eq!(kind_of(b"<NUM>"), Kind::Var);
        assert_eq!(kind_of(b"(<NUM>),"), Kind::Var);
        assert_eq!(kind_of(b"<init>"), Kind::Word);
    }

    #[test]
    fn words_with_a_colon_split_as_ever() {
        assert_eq!(
            tokens("ARPT: 620701.011328: wl0: x"),
            "ARPT : <NUM> : wl0 : x"
        );
        assert_eq!(tokens(": a:"), ": a :");
        assert_eq!(tokens("<HEX>: (x): 12"), "<HEX> : (x) : <NUM>");
    }

    proptest::proptest! {
        /// Drain's view of the written tokens, given by the tokenizer,
        /// is what it would find from their text (`tokens` checks).
        #[test]
        fn written_kinds_are_drains(line in "[a-zA-Z0-9<>*=:./()\\[\\] ,\t-]{0,80}") {
            tokens(&line);
        }
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
