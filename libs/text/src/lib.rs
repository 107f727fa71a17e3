//! Text cut to at most a number of characters (not bytes: a cut never
//! splits a character), ending in `…` when anything was cut. Messages,
//! reasons and evidence lines from outside are bounded with it before they
//! are stored or sent.
//!
//! ```
//! assert_eq!(text_clip::clip("short", 10), "short");
//! assert_eq!(text_clip::clip("grüße aus köln", 6), "grüße…");
//! assert_eq!(text_clip::clip("abc", 0), "");
//! ```

/// `text` if it has at most `max` characters, else its first `max - 1`
/// and `…`, so the result never has more than `max`.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some(_) if max == 0 => String::new(),
        Some(_) => {
            let keep = text
                .char_indices()
                .nth(max - 1)
                .map_or(text.len(), |(at, _)| at);
            let mut out = String::with_capacity(keep + '…'.len_utf8());
            out.push_str(&text[..keep]);
            out.push('…');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn the_result_never_has_more_than_max_characters() {
        for text in ["", "a", "ab", "äöü", "a\u{1F600}b c"] {
            for max in 0..6 {
                let out = clip(text, max);
                assert!(out.chars().count() <= max, "{text:?} {max} -> {out:?}");
                if text.chars().count() <= max {
                    assert_eq!(out, text);
                } else if max > 0 {
                    assert!(out.ends_with('…'));
                }
            }
        }
    }
}
