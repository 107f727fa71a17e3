//! A minimal JSON object scanner: finds the top-level keys of a log line and
//! the spans of their values without building a tree. Nested values are
//! skipped with a depth counter, not recursion, so hostile nesting costs
//! time linear in the line and no stack.

/// What a value span holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string's contents without the quotes; `escaped` when it holds a
    /// backslash and must be unescaped before use.
    Str { escaped: bool },
    /// A number, `true`, `false` or `null`, as written.
    Raw,
    /// An object or array, brackets included.
    Composite,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Value {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

#[inline]
pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// A string starting at `b[i] == '"'`; returns its value and the index after
/// the closing quote.
#[inline]
pub(crate) fn string(b: &[u8], i: usize) -> Option<(Value, usize)> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    let mut escaped = false;
    while j < b.len() {
        j = find_quote_or_backslash(b, j)?;
        match b[j] {
            b'"' => {
                return Some((
                    Value {
                        start: i + 1,
                        end: j,
                        kind: Kind::Str { escaped },
                    },
                    j + 1,
                ));
            }
            _ => {
                escaped = true;
                j += 2;
            }
        }
    }
    None
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Bytes with the high bit set where `w` has a zero byte; exact for the
/// lowest such byte, which is all the caller uses.
#[inline]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & HIGHS
}

/// The first `"` or `\` at or after `j`, eight bytes at a time: strings
/// are most of a JSON log line, and most are too short for a vector search
/// to pay off.
#[inline]
fn find_quote_or_backslash(b: &[u8], mut j: usize) -> Option<usize> {
    while let Some(chunk) = b.get(j..j + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let hits =
            zero_bytes(w ^ (ONES * u64::from(b'"'))) | zero_bytes(w ^ (ONES * u64::from(b'\\')));
        if hits != 0 {
            return Some(j + (hits.trailing_zeros() / 8) as usize);
        }
        j += 8;
    }
    while j < b.len() {
        if b[j] == b'"' || b[j] == b'\\' {
            return Some(j);
        }
        j += 1;
    }
    None
}

/// Any value starting at `i` (which must not be whitespace).
// Always inlined: returned through memory, the (Value, usize) pair is
// written as two words and read back as one, which stalls store forwarding.
#[inline(always)]
pub(crate) fn value(b: &[u8], i: usize) -> Option<(Value, usize)> {
    match *b.get(i)? {
        b'"' => string(b, i),
        b'{' | b'[' => {
            let end = skip_composite(b, i)?;
            Some((
                Value {
                    start: i,
                    end,
                    kind: Kind::Composite,
                },
                end,
            ))
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            (j > i).then_some((
                Value {
                    start: i,
                    end: j,
                    kind: Kind::Raw,
                },
                j,
            ))
        }
    }
}

/// Skips a balanced object or array; brackets inside strings do not count.
fn skip_composite(b: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'"' => {
                let (_, next) = string(b, j)?;
                j = next;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

/// Calls `f(key, value, nested)` for each member of the object starting at
/// `i`; a member whose key `descend` accepts and whose value is an object
/// is not reported itself: its members are, with `nested` set (one level
/// only). Returns the index after the closing brace, or `None` if the
/// object is not well-formed (deeper values are only checked for balance).
#[inline]
pub(crate) fn members(
    b: &[u8],
    i: usize,
    descend: impl Fn(Value) -> bool,
    mut f: impl FnMut(Value, Value, bool),
) -> Option<usize> {
    // Two plain loops rather than a recursive walk, so that `f` inlines.
    each_member(b, i, |key, at| {
        if b.get(at) == Some(&b'{') && descend(key) {
            each_member(b, at, |k, at| {
                let (val, next) = value(b, at)?;
                f(k, val, true);
                Some(next)
            })
        } else {
            let (val, next) = value(b, at)?;
            f(key, val, false);
            Some(next)
        }
    })
}

/// Walks the members of the object at `i`: `member(key, value_start)` reads
/// the value and returns the index after it.
#[inline(always)]
fn each_member(
    b: &[u8],
    i: usize,
    mut member: impl FnMut(Value, usize) -> Option<usize>,
) -> Option<usize> {
    let mut i = skip_ws(b, i);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Some(i + 1);
    }
    loop {
        let (key, next) = string(b, i)?;
        i = skip_ws(b, next);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = member(key, skip_ws(b, i + 1))?;
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return Some(i + 1),
            _ => return None,
        }
    }
}

/// Appends the unescaped contents of a JSON (or logfmt) string. Invalid
/// escapes are kept as written; lone surrogates become U+FFFD.
pub(crate) fn unescape_into(raw: &str, out: &mut String) {
    let b = raw.as_bytes();
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(&raw[copied..i]);
        let Some(&e) = b.get(i + 1) else {
            copied = i;
            break;
        };
        let mut next = i + 2;
        match e {
            b'n' => out.push('\n'),
            b't' => out.push('\t'),
            b'r' => out.push('\r'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'u' => {
                let hi = hex4(b, i + 2);
                next = i + 6;
                let c = match hi {
                    Some(h @ 0xd800..=0xdbff) => {
                        let lo = (b.get(next) == Some(&b'\\') && b.get(next + 1) == Some(&b'u'))
                            .then(|| hex4(b, next + 2))
                            .flatten();
                        match lo {
                            Some(l @ 0xdc00..=0xdfff) => {
                                next += 6;
                                char::from_u32(0x10000 + ((h - 0xd800) << 10) + (l - 0xdc00))
                            }
                            _ => None,
                        }
                    }
                    Some(h) => char::from_u32(h),
                    None => {
                        next = i + 2;
                        None
                    }
                };
                out.push(c.unwrap_or('\u{fffd}'));
            }
            _ => {
                // Not an escape JSON knows: keep the backslash, and let the
                // next byte (maybe the start of a multi-byte char) be copied.
                out.push('\\');
                next = i + 1;
            }
        }
        i = next.min(b.len());
        copied = i;
    }
    out.push_str(&raw[copied.min(raw.len())..]);
}

fn hex4(b: &[u8], i: usize) -> Option<u32> {
    let s = b.get(i..i + 4)?;
    let mut v = 0u32;
    for &c in s {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_and_spans() {
        let line = r#" {"a": "x\"y", "b" : 12, "c": {"d": [1, "}"]}, "e": null} "#;
        let b = line.as_bytes();
        let mut seen = Vec::new();
        let end = members(
            b,
            0,
            |_| false,
            |k, v, _| {
                seen.push((
                    line[k.start..k.end].to_string(),
                    line[v.start..v.end].to_string(),
                    v.kind,
                ))
            },
        );
        assert!(end.is_some());
        assert_eq!(
            seen[0],
            ("a".into(), r#"x\"y"#.into(), Kind::Str { escaped: true })
        );
        assert_eq!(seen[1], ("b".into(), "12".into(), Kind::Raw));
        assert_eq!(
            seen[2],
            ("c".into(), r#"{"d": [1, "}"]}"#.into(), Kind::Composite)
        );
        assert_eq!(seen[3], ("e".into(), "null".into(), Kind::Raw));
        assert!(members(br#"{"a": 1"#, 0, |_| false, |_, _, _| {}).is_none());
        assert!(members(br#"{"a" 1}"#, 0, |_| false, |_, _, _| {}).is_none());
        assert!(members(b"[1]", 0, |_| false, |_, _, _| {}).is_none());
        assert_eq!(members(b"{}", 0, |_| false, |_, _, _| {}), Some(2));
    }

    #[test]
    fn unescape() {
        let mut s = String::new();
        unescape_into(r#"a\"b\\c\nd\u00e9\ud83d\ude00\ud800x\q\"#, &mut s);
        assert_eq!(s, "a\"b\\c\nd\u{e9}\u{1f600}\u{fffd}x\\q\\");
    }
}
