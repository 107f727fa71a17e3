//! Templates made comparable before parsing accuracy is judged.
//!
//! Two steps, applied to the mined and the true template alike:
//! 1. the miner's typed masks (`<NUM>`, `<IP>`, ...) become Loghub's `<*>`;
//! 2. the template corrections of Khan et al. (2022), "Guidelines for
//!    assessing the accuracy of log message template identification
//!    techniques", as Loghub-2.0 applies them: DS (whitespace runs become
//!    one space), PS (path-like tokens), BL and US (`true`, `false`,
//!    `null`, `root`, `admin`), DG (digit-only tokens), WV (a word glued
//!    to a variable), DV (`<*>.<*>`), CV (`<*><*>`), then `#<*>#` and
//!    `<*>:<*>`. Without them a template that differs only in how a
//!    variable was cut (`<*>.<*>` vs `<*>`) would count as wrong.

/// The masks the miner writes; each is one variable.
const MASKS: [&str; 7] = ["<NUM>", "<IP>", "<UUID>", "<HEX>", "<ID>", "<TS>", "<STR>"];

pub const WILDCARD: &str = "<*>";

/// How templates are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Correction {
    /// Masks to `<*>` and whitespace runs to one space only.
    None,
    /// Also the Khan et al. rules (the Loghub-2.0 default).
    Khan,
}

/// The template as compared: masks as `<*>`, then the chosen corrections.
pub fn normalise(template: &str, correction: Correction) -> String {
    let mut t = template.to_string();
    for m in MASKS {
        if t.contains(m) {
            t = t.replace(m, WILDCARD);
        }
    }
    let t = collapse_whitespace(&t);
    match correction {
        Correction::None => t,
        Correction::Khan => khan(&t),
    }
}

fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Delimiters for the path rule: a path keeps its dots and dashes.
fn is_path_delimiter(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            ',' | '!' | ';' | ':' | '=' | '|' | '"' | '\'' | '[' | ']' | '(' | ')' | '{' | '}'
        )
}

/// Delimiters for the other rules.
fn is_token_delimiter(c: char) -> bool {
    is_path_delimiter(c) || matches!(c, '.' | '-' | '+' | '@' | '#' | '$' | '%' | '&')
}

/// Splits `s` into runs of non-delimiters and single delimiters, keeping
/// both, as Python's `re.split` with a capturing group does.
fn split_keep(s: &str, delimiter: fn(char) -> bool) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if delimiter(c) {
            parts.push(&s[start..i]);
            parts.push(&s[i..i + c.len_utf8()]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

/// `^(/[^/]+)+$`: one or more slash-led segments.
fn is_path(token: &str) -> bool {
    token.starts_with('/') && token[1..].split('/').all(|seg| !seg.is_empty())
}

/// `^[^\s/]*<\*>[^\s/]*$`: a variable with a word glued to it.
fn is_word_with_variable(token: &str) -> bool {
    token.contains(WILDCARD) && !token.contains('/') && !token.contains(char::is_whitespace)
}

fn replace_until_stable(mut s: String, from: &str, to: &str) -> String {
    while s.contains(from) {
        s = s.replace(from, to);
    }
    s
}

fn khan(template: &str) -> String {
    // PS
    let mut t: String = split_keep(template, is_path_delimiter)
        .into_iter()
        .map(|p| if is_path(p) { WILDCARD } else { p })
        .collect();
    // BL, US, DG, WV
    t = split_keep(&t, is_token_delimiter)
        .into_iter()
        .map(|tok| {
            let lower = tok.to_ascii_lowercase();
            let constant_like =
                matches!(lower.as_str(), "true" | "false" | "null" | "root" | "admin");
            let digits = !tok.is_empty() && tok.bytes().all(|b| b.is_ascii_digit());
            let glued = is_word_with_variable(tok) && tok != "<*>/<*>";
            if constant_like || digits || glued {
                WILDCARD
            } else {
                tok
            }
        })
        .collect();
    t = replace_until_stable(t, "<*>.<*>", WILDCARD);
    t = replace_until_stable(t, "<*><*>", WILDCARD);
    t = replace_until_stable(t, "#<*>#", WILDCARD);
    replace_until_stable(t, "<*>:<*>", WILDCARD)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> String {
        normalise(s, Correction::Khan)
    }

    #[test]
    fn masks_become_wildcards() {
        assert_eq!(
            normalise("user <NUM> from <IP>  in <ID>", Correction::None),
            "user <*> from <*> in <*>"
        );
        assert_eq!(normalise("  a \t b ", Correction::None), "a b");
    }

    #[test]
    fn khan_rules_one_by_one() {
        // DG, and a DV that it produces
        assert_eq!(k("version 1.2.3 up"), "version <*> up");
        // WV
        assert_eq!(k("took <*>ms"), "took <*>");
        assert_eq!(k("blk_<*> done"), "<*> done");
        // PS
        assert_eq!(k("open /var/log/x.log failed"), "open <*> failed");
        assert_eq!(k("got a/b"), "got a/b");
        // BL, US
        assert_eq!(k("flag=true user root"), "flag=<*> user <*>");
        // CV and <*>:<*>
        assert_eq!(k("at <*>:<*> now"), "at <*> now");
        assert_eq!(k("id <*><*>"), "id <*>");
        // `/` is no token delimiter: left alone by WV
        assert_eq!(k("ratio <*>/<*>"), "ratio <*>/<*>");
        // words stay
        assert_eq!(
            k("PacketResponder <*> for block <*> terminating"),
            "PacketResponder <*> for block <*> terminating"
        );
    }

    #[test]
    fn mined_and_true_templates_meet() {
        let mined = "Received block <*> of size <NUM> from /<IP>";
        let truth = "Received block <*> of size <*> from /<*>";
        assert_eq!(k(mined), k(truth));
        assert_ne!(
            normalise("Receiving block <*>", Correction::Khan),
            normalise("Received block <*>", Correction::Khan)
        );
    }
}
