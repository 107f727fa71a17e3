//! Masking variables out of log text with one hand-written pass: no regex,
//! no allocation beyond the caller's output buffer.
//!
//! Text is split into tokens at whitespace and control characters; a token
//! is split further into segments at punctuation that never belongs to a
//! value (`/ , ; = ( ) [ ] { } < > " ' & ? | ! * # @` and backtick). Each segment
//! that contains a digit is classified; words without digits are copied
//! untouched, which is the common case and the fast path.

use serde::{Deserialize, Serialize};

/// Which maskers run. All but `quoted` are on by default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MaskConfig {
    /// IPv4 addresses, with an optional `:port`.
    pub ip: bool,
    /// 8-4-4-4-12 hex UUIDs.
    pub uuid: bool,
    /// `0x` numbers and runs of 8 or more hex digits with a digit and a letter.
    pub hex: bool,
    /// Integers, floats, versions, numbers with units and durations (`12ms`, `1h30m`, `10KiB`).
    pub num: bool,
    /// Words mixing letters and digits (`ord_8f3a2`, `sess-1234`).
    pub id: bool,
    /// ISO 8601 dates and times.
    pub ts: bool,
    /// Quoted strings as a whole (`"..."`, `'...'`); off by default because
    /// quotes often hold the part of a message that tells events apart.
    pub quoted: bool,
}

impl Default for MaskConfig {
    fn default() -> Self {
        MaskConfig {
            ip: true,
            uuid: true,
            hex: true,
            num: true,
            id: true,
            ts: true,
            quoted: false,
        }
    }
}

/// What a masked segment was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mask {
    Ip,
    Uuid,
    Hex,
    Num,
    Id,
    Ts,
    Str,
}

impl Mask {
    pub fn as_str(self) -> &'static str {
        match self {
            Mask::Ip => "<IP>",
            Mask::Uuid => "<UUID>",
            Mask::Hex => "<HEX>",
            Mask::Num => "<NUM>",
            Mask::Id => "<ID>",
            Mask::Ts => "<TS>",
            Mask::Str => "<STR>",
        }
    }
}

const SPACE: u8 = 1;
const DELIM: u8 = 2;
const DIGIT: u8 = 4;

/// Byte classes, looked up instead of compared: the scanners below touch
/// every byte of every line.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        // Whitespace for tokenising: ASCII space and every control
        // character, so that tabs, newlines and stray escape codes never
        // end up inside a token.
        if b <= b' ' || b == 0x7f {
            t[i] = SPACE;
        } else if b.is_ascii_digit() {
            t[i] = DIGIT;
        } else if matches!(
            b,
            b'/' | b','
                | b';'
                | b'='
                | b'('
                | b')'
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'<'
                | b'>'
                | b'"'
                | b'\''
                | b'&'
                | b'?'
                | b'|'
                | b'!'
                | b'*'
                | b'#'
                | b'@'
                | b'`'
                | b'\\'
        ) {
            t[i] = DELIM;
        }
        i += 1;
    }
    t
};

#[inline]
pub(crate) fn is_space(b: u8) -> bool {
    CLASS[b as usize] == SPACE
}

/// Masks `text` and appends it to `out` as tokens separated by single
/// spaces. With `glue` the first token is appended without a separator
/// (a field value after its `key=`); otherwise a space separates it from
/// what `out` already holds.
pub fn mask_into(text: &str, cfg: &MaskConfig, out: &mut String, glue: bool) {
    if cfg.quoted {
        mask_quoted_into(text, cfg, out, glue);
        return;
    }
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() && CLASS[b[i] as usize] == SPACE {
        i += 1;
    }
    if i == b.len() {
        return;
    }
    if !glue && !out.is_empty() {
        out.push(' ');
    }
    // One pass: text is copied in runs between the segments that get
    // masked and the whitespace that gets normalised.
    let mut copy_from = i;
    while i < b.len() {
        let c = CLASS[b[i] as usize];
        if c == DELIM {
            i += 1;
            continue;
        }
        if c == SPACE {
            let run = i;
            while i < b.len() && CLASS[b[i] as usize] == SPACE {
                i += 1;
            }
            if i == b.len() {
                out.push_str(&text[copy_from..run]);
                return;
            }
            if i - run > 1 || b[run] != b' ' {
                out.push_str(&text[copy_from..run]);
                out.push(' ');
                copy_from = i;
            }
            continue;
        }
        let start = i;
        let mut digit = false;
        while i < b.len() {
            let c = CLASS[b[i] as usize];
            if c & (DELIM | SPACE) != 0 {
                break;
            }
            digit |= c == DIGIT;
            i += 1;
        }
        if digit {
            // Delimiters and spaces are ASCII: these slices keep UTF-8 intact.
            out.push_str(&text[copy_from..start]);
            mask_segment(&text[start..i], cfg, out);
            copy_from = i;
        }
    }
    out.push_str(&text[copy_from..]);
}

/// As [`mask_into`], with quoted runs masked whole: a token starting with a
/// quote runs to the matching quote, spaces included.
fn mask_quoted_into(text: &str, cfg: &MaskConfig, out: &mut String, glue: bool) {
    let b = text.as_bytes();
    let mut i = 0;
    let mut first = true;
    while i < b.len() {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        if (b[i] == b'"' || b[i] == b'\'')
            && let Some(close) = b[i + 1..].iter().position(|&c| c == b[start])
        {
            // Punctuation glued after the closing quote is kept.
            i = start + 1 + close + 1;
            let tail_start = i;
            while i < b.len() && !is_space(b[i]) {
                i += 1;
            }
            sep(out, &mut first, glue);
            out.push_str(Mask::Str.as_str());
            mask_into(
                &text[tail_start..i],
                &MaskConfig {
                    quoted: false,
                    ..cfg.clone()
                },
                out,
                true,
            );
            continue;
        }
        while i < b.len() && !is_space(b[i]) {
            i += 1;
        }
        sep(out, &mut first, glue);
        mask_into(
            &text[start..i],
            &MaskConfig {
                quoted: false,
                ..cfg.clone()
            },
            out,
            true,
        );
    }
}

#[inline]
fn sep(out: &mut String, first: &mut bool, glue: bool) {
    if !(out.is_empty() || (*first && glue)) {
        out.push(' ');
    }
    *first = false;
}

/// The one mask that names a whole variable: what a single masker makes
/// of all of it, else the wildcard.
pub(crate) fn mask_name(value: &str, cfg: &MaskConfig) -> &'static str {
    let b = value.as_bytes();
    let shape = Shape::of(b);
    if shape.colons > 0 {
        if cfg.ts && is_timestamp(b) {
            return Mask::Ts.as_str();
        }
        if cfg.ip && is_ipv4(b) {
            return Mask::Ip.as_str();
        }
        return crate::drain::WILDCARD;
    }
    classify_part(b, &shape, cfg).map_or(crate::drain::WILDCARD, Mask::as_str)
}

fn mask_segment(seg: &str, cfg: &MaskConfig, out: &mut String) {
    let b = seg.as_bytes();
    // Sentence punctuation after a value ("took 12ms." "port 80:") is not
    // part of it.
    let mut end = b.len();
    while end > 0 && matches!(b[end - 1], b'.' | b':') {
        end -= 1;
    }
    let (core, tail) = seg.split_at(end);
    let shape = Shape::of(core.as_bytes());
    if shape.digits == 0 {
        out.push_str(seg);
        return;
    }
    if shape.colons > 0 {
        let c = core.as_bytes();
        let whole = if cfg.ts && is_timestamp(c) {
            Some(Mask::Ts)
        } else if cfg.ip && is_ipv4(c) {
            Some(Mask::Ip)
        } else {
            None
        };
        match whole {
            Some(m) => out.push_str(m.as_str()),
            None => {
                // "Thread.java:745", "host:8080": mask the parts, keep the shape.
                for (n, part) in core.split(':').enumerate() {
                    if n > 0 {
                        out.push(':');
                    }
                    let p = part.as_bytes();
                    match classify_part(p, &Shape::of(p), cfg) {
                        Some(m) => out.push_str(m.as_str()),
                        None => out.push_str(part),
                    }
                }
            }
        }
    } else {
        match classify_part(core.as_bytes(), &shape, cfg) {
            Some(m) => out.push_str(m.as_str()),
            None => out.push_str(core),
        }
    }
    out.push_str(tail);
}

/// What kinds of bytes a segment holds, counted in one pass so that most
/// kinds can be ruled out without looking at the bytes again.
#[derive(Clone, Copy, Debug, Default)]
struct Shape {
    digits: u32,
    hex_letters: u32,
    other_letters: u32,
    dots: u32,
    dashes: u32,
    colons: u32,
    other: u32,
    /// Of `other`: `_ $ ~ + %`, which ids may hold.
    id_other: u32,
}

/// Per byte, what it adds to a [`Shape`]: eight 8-bit lanes, one per
/// count, so that counting is one table load and one add per byte with no
/// branches (this runs over every byte of every segment with a digit).
static SHAPE_LANES: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = match c {
            b'0'..=b'9' => 1,
            b'a'..=b'f' | b'A'..=b'F' => 1 << 8,
            b'g'..=b'z' | b'G'..=b'Z' => 1 << 16,
            b'.' => 1 << 24,
            b'-' => 1 << 32,
            b':' => 1 << 40,
            b'_' | b'$' | b'~' | b'+' | b'%' => (1 << 48) | (1 << 56),
            _ => 1 << 48,
        };
        i += 1;
    }
    t
};

impl Shape {
    #[inline]
    fn of(s: &[u8]) -> Shape {
        let mut sh = Shape::default();
        // A lane holds at most 255 before it would carry into the next.
        for chunk in s.chunks(255) {
            let mut acc = 0u64;
            for &c in chunk {
                acc += SHAPE_LANES[c as usize];
            }
            let lane = |n: u32| ((acc >> (8 * n)) & 0xff) as u32;
            sh.digits += lane(0);
            sh.hex_letters += lane(1);
            sh.other_letters += lane(2);
            sh.dots += lane(3);
            sh.dashes += lane(4);
            sh.colons += lane(5);
            sh.other += lane(6);
            sh.id_other += lane(7);
        }
        sh
    }
}

/// Classifies one whole segment, for callers that already have one.
pub fn classify(segment: &str, cfg: &MaskConfig) -> Option<Mask> {
    let s = segment.as_bytes();
    let shape = Shape::of(s);
    if shape.colons > 0 {
        if cfg.ts && is_timestamp(s) {
            return Some(Mask::Ts);
        }
        if cfg.ip && is_ipv4(s) {
            return Some(Mask::Ip);
        }
        return None;
    }
    classify_part(s, &shape, cfg)
}

/// Kinds without ':'.
fn classify_part(s: &[u8], sh: &Shape, cfg: &MaskConfig) -> Option<Mask> {
    if sh.digits == 0 {
        return None;
    }
    let letters = sh.hex_letters + sh.other_letters;
    if letters == 0 {
        if cfg.ip && sh.dots == 3 && is_ipv4(s) {
            return Some(Mask::Ip);
        }
        if cfg.ts && sh.dashes == 2 && is_timestamp(s) {
            return Some(Mask::Ts);
        }
        return (cfg.num && is_number(s)).then_some(Mask::Num);
    }
    if cfg.uuid && sh.dashes == 4 && s.len() == 36 && sh.other_letters == 0 && is_uuid(s) {
        return Some(Mask::Uuid);
    }
    if cfg.ts && sh.dashes >= 2 && is_timestamp(s) {
        return Some(Mask::Ts);
    }
    if cfg.hex {
        let plain_hex = sh.other_letters == 0 && sh.dots == 0 && sh.dashes == 0 && sh.other == 0;
        if (plain_hex && s.len() >= 8)
            || (s.len() > 2 && s[0] == b'0' && matches!(s[1], b'x' | b'X') && is_hex(s))
        {
            return Some(Mask::Hex);
        }
    }
    let numeric_start = matches!(s[0], b'0'..=b'9' | b'+' | b'-' | b'.');
    let is_num = numeric_start && is_number(s);
    if cfg.num && is_num {
        return Some(Mask::Num);
    }
    // With numbers left alone, `12ms` is still a number, not an id.
    // One digit is a name more often than an id (`jk2_init`, `log4j`,
    // `workers2.properties`, `k8s`); generated ids have several.
    if cfg.id && !is_num && sh.digits >= 2 && sh.colons == 0 && sh.other == sh.id_other && is_id(s)
    {
        return Some(Mask::Id);
    }
    None
}

fn digits(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    i
}

fn exact_digits(s: &[u8], i: usize, n: usize) -> bool {
    i + n <= s.len() && s[i..i + n].iter().all(u8::is_ascii_digit)
}

/// `2023-11-14`, `2023-11-14T22:13:20.000000Z`, `...+02:00`, `22:13:20.123`.
fn is_timestamp(s: &[u8]) -> bool {
    let mut i;
    if exact_digits(s, 0, 4) && s.get(4) == Some(&b'-') {
        if !(exact_digits(s, 5, 2) && s.get(7) == Some(&b'-') && exact_digits(s, 8, 2)) {
            return false;
        }
        i = 10;
        if i == s.len() {
            return true;
        }
        if !matches!(s[i], b'T' | b't' | b'_') {
            return false;
        }
        i += 1;
    } else {
        i = 0;
    }
    // hh:mm[:ss[.frac]]; a bare time needs the seconds to stay apart from
    // ratios like 3:4.
    if !(exact_digits(s, i, 2) && s.get(i + 2) == Some(&b':') && exact_digits(s, i + 3, 2)) {
        return false;
    }
    let bare = i == 0;
    i += 5;
    if s.get(i) == Some(&b':') && exact_digits(s, i + 1, 2) {
        i += 3;
        if matches!(s.get(i), Some(b'.' | b',')) && exact_digits(s, i + 1, 1) {
            i = digits(s, i + 1);
        }
    } else if bare {
        return false;
    }
    match s.get(i) {
        None => true,
        Some(b'Z' | b'z') => i + 1 == s.len(),
        Some(b'+' | b'-') => {
            let j = i + 1;
            if !exact_digits(s, j, 2) {
                return false;
            }
            let rest = &s[j + 2..];
            rest.is_empty()
                || (rest.len() == 2 && exact_digits(rest, 0, 2))
                || (rest.len() == 3 && rest[0] == b':' && exact_digits(rest, 1, 2))
        }
        _ => false,
    }
}

fn is_uuid(s: &[u8]) -> bool {
    s.len() == 36
        && s.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_ipv4(s: &[u8]) -> bool {
    let mut i = 0;
    for octet in 0..4 {
        if octet > 0 {
            if s.get(i) != Some(&b'.') {
                return false;
            }
            i += 1;
        }
        let j = digits(s, i);
        if j == i || j - i > 3 {
            return false;
        }
        let mut v = 0u32;
        for &c in &s[i..j] {
            v = v * 10 + u32::from(c - b'0');
        }
        if v > 255 {
            return false;
        }
        i = j;
    }
    if i == s.len() {
        return true;
    }
    if s[i] != b':' {
        return false;
    }
    let j = digits(s, i + 1);
    j == s.len() && j > i + 1 && j - i - 1 <= 5
}

fn is_hex(s: &[u8]) -> bool {
    if s.len() > 2 && s[0] == b'0' && matches!(s[1], b'x' | b'X') {
        return s[2..].iter().all(u8::is_ascii_hexdigit);
    }
    s.len() >= 8
        && s.iter().all(u8::is_ascii_hexdigit)
        && s.iter().any(u8::is_ascii_digit)
        && s.iter().any(u8::is_ascii_alphabetic)
}

/// Numbers with optional sign, fraction, exponent and unit, repeated for
/// compound durations (`1h30m5.5s`) and dotted versions (`1.2.3`); also
/// digit runs joined by `-`, `_` or `+` (phone-like and range-like values).
fn is_number(s: &[u8]) -> bool {
    let mut i = 0;
    if matches!(s.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    if i >= s.len() {
        return false;
    }
    if s[i..]
        .iter()
        .all(|&c| c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'+' | b'.'))
    {
        return s[i].is_ascii_digit()
            || (s[i] == b'.' && s.get(i + 1).is_some_and(u8::is_ascii_digit));
    }
    loop {
        // one group: digits[.digits][e[+-]digits][unit]
        let j = digits(s, i);
        let mut k = j;
        if s.get(k) == Some(&b'.') && s.get(k + 1).is_some_and(u8::is_ascii_digit) {
            k = digits(s, k + 1);
        }
        if k == i {
            return false;
        }
        if matches!(s.get(k), Some(b'e' | b'E')) {
            let mut e = k + 1;
            if matches!(s.get(e), Some(b'+' | b'-')) {
                e += 1;
            }
            let f = digits(s, e);
            if f > e {
                k = f;
            }
        }
        // unit: a few letters, '%', or the micro sign
        let mut u = k;
        while u < s.len() && u - k < 6 {
            if s[u].is_ascii_alphabetic() || s[u] == b'%' {
                u += 1;
            } else if s[u] == 0xc2 && s.get(u + 1) == Some(&0xb5) {
                u += 2;
            } else {
                break;
            }
        }
        if u == s.len() {
            return true;
        }
        if u > k && s[u].is_ascii_digit() {
            i = u;
            continue;
        }
        return false;
    }
}

/// Letters and digits mixed, as ids are, but not short words that merely
/// end in a number (`utf8`, `http2`, `sha256`, `v1`). The caller has checked
/// the characters (letters, digits, `- _ . $ ~ + %`) and that both occur.
fn is_id(s: &[u8]) -> bool {
    if s.len() <= 6 && s.iter().all(u8::is_ascii_alphanumeric) {
        let letters = s.iter().take_while(|c| c.is_ascii_alphabetic()).count();
        let tail = &s[letters..];
        if letters > 0 && tail.len() <= 3 && tail.iter().all(u8::is_ascii_digit) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-by-byte count that the lane table replaces.
    fn naive_shape(s: &[u8]) -> [u32; 8] {
        let mut n = [0u32; 8];
        for &c in s {
            match c {
                b'0'..=b'9' => n[0] += 1,
                b'a'..=b'f' | b'A'..=b'F' => n[1] += 1,
                b'g'..=b'z' | b'G'..=b'Z' => n[2] += 1,
                b'.' => n[3] += 1,
                b'-' => n[4] += 1,
                b':' => n[5] += 1,
                b'_' | b'$' | b'~' | b'+' | b'%' => {
                    n[6] += 1;
                    n[7] += 1;
                }
                _ => n[6] += 1,
            }
        }
        n
    }

    proptest::proptest! {
        #[test]
        fn shape_lanes_count_like_bytes(s in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1200)) {
            let sh = Shape::of(&s);
            let got = [sh.digits, sh.hex_letters, sh.other_letters, sh.dots, sh.dashes, sh.colons, sh.other, sh.id_other];
            proptest::prop_assert_eq!(got, naive_shape(&s));
        }
    }

    #[test]
    fn one_digit_names_are_not_ids() {
        let cfg = MaskConfig::default();
        for name in [
            "jk2_init",
            "workers2.properties",
            "log4j",
            "k8s",
            "http2_settings",
        ] {
            assert_eq!(classify(name, &cfg), None, "{name}");
        }
        for id in [
            "ord_8f3a2",
            "sess-1234",
            "ch_aB3dE9fG",
            "blk_38865049064139660",
        ] {
            assert_eq!(classify(id, &cfg), Some(Mask::Id), "{id}");
        }
        assert_eq!(
            m("jk2_init() Found child 6725"),
            "jk2_init() Found child <NUM>"
        );
    }

    #[test]
    fn shape_lanes_do_not_carry() {
        let s = vec![b'7'; 1000];
        assert_eq!(Shape::of(&s).digits, 1000);
        assert_eq!(Shape::of(&s).hex_letters, 0);
    }

    fn m(text: &str) -> String {
        let mut out = String::new();
        mask_into(text, &MaskConfig::default(), &mut out, false);
        out
    }

    #[test]
    fn each_kind() {
        assert_eq!(m("from 10.1.2.3"), "from <IP>");
        assert_eq!(m("peer 10.1.2.3:8080 closed"), "peer <IP> closed");
        assert_eq!(
            m("url (http://127.0.0.1:8085/charges)"),
            "url (http://<IP>/charges)"
        );
        assert_eq!(m("id 123e4567-e89b-12d3-a456-426614174000"), "id <UUID>");
        assert_eq!(
            m("ptr 0x7f3a and deadbeef12 and 4bf92f3577b34da6a3ce929d0e0e4736"),
            "ptr <HEX> and <HEX> and <HEX>"
        );
        assert_eq!(
            m("took 12ms, 3.5s, 10KiB, 1h30m, -4, 1e9, 99%, 1.5µs"),
            "took <NUM>, <NUM>, <NUM>, <NUM>, <NUM>, <NUM>, <NUM>, <NUM>"
        );
        assert_eq!(
            m("version 1.2.3 build 20231114"),
            "version <NUM> build <NUM>"
        );
        assert_eq!(
            m("order ord_8f3a2 session sess-1234 blk_-1608999687919862906"),
            "order <ID> session <ID> <ID>"
        );
        assert_eq!(
            m(
                "at 2023-11-14T22:13:20.000000Z and 2023-11-14 and 22:13:20.5 and 2024-01-02T03:04:05+02:00"
            ),
            "at <TS> and <TS> and <TS> and <TS>"
        );
        assert_eq!(
            m("status=503 route=/cart/{session}"),
            "status=<NUM> route=/cart/{session}"
        );
        assert_eq!(m("at Thread.java:745)"), "at Thread.java:<NUM>)");
        assert_eq!(m("host:8080 x.rs:12:"), "host:<NUM> x.rs:<NUM>:");
        assert_eq!(m("took 12ms."), "took <NUM>.");
    }

    #[test]
    fn words_stay() {
        for text in [
            "request failed",
            "dfs.DataNode$PacketResponder: PacketResponder terminating",
            "utf8 http2 sha256 ipv4 v1 md5",
            "deadbeef cafe facade",
            "catalog refresh failed; serving the stale catalog",
            "<*> <NUM> already masked",
            "Chef's Knife",
        ] {
            assert_eq!(m(text), text, "{text}");
        }
    }

    #[test]
    fn whitespace_and_controls_collapse() {
        assert_eq!(m("  a\t\tb\x1b[0m c\n"), "a b [<NUM> c");
        assert_eq!(m(""), "");
        assert_eq!(m(" \t "), "");
    }

    #[test]
    fn glue_and_config() {
        let mut out = String::from("x key=");
        mask_into("42 apples", &MaskConfig::default(), &mut out, true);
        assert_eq!(out, "x key=<NUM> apples");
        let cfg = MaskConfig {
            num: false,
            ..MaskConfig::default()
        };
        let mut out = String::new();
        mask_into("took 12ms from 10.0.0.1", &cfg, &mut out, false);
        assert_eq!(out, "took 12ms from <IP>");
        let cfg = MaskConfig {
            quoted: true,
            ..MaskConfig::default()
        };
        let mut out = String::new();
        mask_into("user \"John Smith\", logged in", &cfg, &mut out, false);
        assert_eq!(out, "user <STR>, logged in");
        assert_eq!(
            classify("ord_8f3a2", &MaskConfig::default()),
            Some(Mask::Id)
        );
        assert_eq!(classify("failed", &MaskConfig::default()), None);
    }
}
