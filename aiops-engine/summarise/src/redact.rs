//! Redaction of everything the engine shows or sends (prompts, summaries,
//! example log lines in the API and the console, notifications): e-mail
//! addresses, IP addresses (configurable), bearer tokens, API keys and
//! secrets after their names, JWTs, cloud and chat tokens, card numbers
//! (only digit runs that pass the Luhn check), passwords in URLs. What is
//! removed is replaced by a marker saying what it was, never silently.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What to redact beyond what always is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redactor {
    /// IP addresses are personal data in some places and routine telemetry
    /// in others: on by default.
    pub ip_addresses: bool,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor { ip_addresses: true }
    }
}

macro_rules! re {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| {
            // the patterns are constants, checked by the tests
            Regex::new($pattern).unwrap_or_else(|_| Regex::new("$^").expect("empty pattern"))
        });
    };
}

re!(
    URL_PASSWORD,
    r"(?i)\b([a-z][a-z0-9+.-]{1,20}://)([^\s:/@]{1,128}):([^\s/@]{1,256})@"
);
re!(
    JWT,
    r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
);
re!(BEARER, r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}");
re!(
    NAMED_SECRET,
    r#"(?i)\b(api[_-]?key|apikey|access[_-]?key|secret[_-]?key|secret|token|password|passwd|pwd|client[_-]?secret|auth)(["']?\s*[:=]\s*["']?)([^\s"',;&]{4,})"#
);
re!(
    CLOUD_TOKEN,
    r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bxox[abprs]-[A-Za-z0-9-]{10,}\b|\bsk-[A-Za-z0-9]{20,}\b"
);
re!(
    EMAIL,
    r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,255}\.[A-Za-z]{2,24}\b"
);
re!(
    IPV4,
    r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\b"
);
re!(
    IPV6,
    r"(?i)\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b|(?i)\b(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}:?){0,6}[0-9a-f]{1,4}\b"
);
re!(CARD_CANDIDATE, r"\b\d(?:[ -]?\d){12,18}\b");

/// The Luhn check: what a card number's last digit makes true.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(*d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    digits.len() >= 13 && sum.is_multiple_of(10)
}

impl Redactor {
    /// Every string in a JSON document (an incident as the API shows it).
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => {
                if let Cow::Owned(clean) = self.redact(s) {
                    *s = clean;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.redact_json(v)),
            _ => {}
        }
    }

    /// The text with every secret and personal datum replaced by a marker.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out: Cow<'a, str> = Cow::Borrowed(text);
        let mut apply = |re: &Regex, replace: &dyn Fn(&Captures<'_>) -> String| {
            if re.is_match(&out) {
                out = Cow::Owned(
                    re.replace_all(&out, |c: &Captures<'_>| replace(c))
                        .into_owned(),
                );
            }
        };
        apply(&URL_PASSWORD, &|c| {
            format!("{}{}:[redacted password]@", &c[1], &c[2])
        });
        apply(&JWT, &|_| "[redacted jwt]".into());
        apply(&BEARER, &|c| format!("{} [redacted token]", &c[1]));
        apply(&CLOUD_TOKEN, &|_| "[redacted token]".into());
        apply(&NAMED_SECRET, &|c| {
            if c[3].starts_with("[redacted") {
                c[0].to_owned()
            } else {
                format!("{}{}[redacted]", &c[1], &c[2])
            }
        });
        apply(&EMAIL, &|_| "[redacted email]".into());
        apply(&CARD_CANDIDATE, &|c| {
            let digits: Vec<u8> = c[0]
                .bytes()
                .filter(u8::is_ascii_digit)
                .map(|b| b - b'0')
                .collect();
            if (13..=19).contains(&digits.len()) && luhn(&digits) {
                "[redacted card]".into()
            } else {
                c[0].to_owned()
            }
        });
        if self.ip_addresses {
            apply(&IPV4, &|_| "[redacted ip]".into());
            apply(&IPV6, &|c| {
                // times like 12:30:45 are not addresses: an address has a
                // letter or an empty group
                let s = &c[0];
                if s.contains("::") || s.chars().any(|ch| ch.is_ascii_alphabetic()) {
                    "[redacted ip]".into()
                } else {
                    s.to_owned()
                }
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each positive is redacted, and what should go is gone.
    #[test]
    fn positives_are_redacted() {
        let r = Redactor::default();
        let cases = [
            (
                "charge failed for card 4111111111111111",
                "4111111111111111",
                "[redacted card]",
            ),
            (
                "card 4111 1111 1111 1111 declined",
                "4111 1111 1111 1111",
                "[redacted card]",
            ),
            (
                "card 5500-0000-0000-0004 ok",
                "5500-0000-0000-0004",
                "[redacted card]",
            ),
            (
                "amex 378282246310005 here",
                "378282246310005",
                "[redacted card]",
            ),
            (
                "mail alice.smith+shop@example.co.uk about it",
                "alice.smith+shop@example.co.uk",
                "[redacted email]",
            ),
            (
                "GET from 203.0.113.42 failed",
                "203.0.113.42",
                "[redacted ip]",
            ),
            (
                "peer 2001:db8::8a2e:370:7334 reset",
                "2001:db8::8a2e:370:7334",
                "[redacted ip]",
            ),
            (
                "Authorization: Bearer abcdef0123456789xyz",
                "abcdef0123456789xyz",
                "Bearer [redacted token]",
            ),
            (
                "api_key=sk_live_0123456789abcdef",
                "sk_live_0123456789abcdef",
                "api_key=[redacted]",
            ),
            ("{\"password\": \"hunter2!x\"}", "hunter2!x", "[redacted]"),
            (
                "token: ghp_0123456789abcdefghijklmnopqrstuvwxyz01",
                "ghp_0123456789abcdefghijklmnopqrstuvwxyz01",
                "[redacted",
            ),
            (
                "key AKIAIOSFODNN7EXAMPLE used",
                "AKIAIOSFODNN7EXAMPLE",
                "[redacted token]",
            ),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end",
                "eyJzdWIi",
                "[redacted jwt]",
            ),
            (
                "postgres://shop:s3cr3t-pw@db:5432/orders",
                "s3cr3t-pw",
                "shop:[redacted password]@",
            ),
            (
                "slack xoxb-1234567890-abcdefghij token",
                "xoxb-1234567890-abcdefghij",
                "[redacted token]",
            ),
        ];
        for (input, secret, marker) in cases {
            let out = r.redact(input);
            assert!(!out.contains(secret), "{input:?} -> {out:?}");
            assert!(out.contains(marker), "{input:?} -> {out:?}");
        }
    }

    /// Near misses stay as they are: redaction must not eat the evidence.
    #[test]
    fn near_misses_are_kept() {
        let r = Redactor::default();
        for input in [
            "order 4111111111111112 created",         // 16 digits, Luhn fails
            "trace 0af7651916cd43dd8448eb211c80319c", // a trace id
            "took 1234567 ms",                        // too short for a card
            "version 1.2.3 deployed",                 // not an address
            "at 12:30:45 the cart restarted",         // a time
            "error_ratio 0.50 vs baseline 0.00",
            "GET /carts/{session} 500",
            "token bucket empty",           // a word, not a secret
            "user@host: permission denied", // no domain
            "session=abc",                  // not a named secret
        ] {
            assert_eq!(r.redact(input), input, "{input:?}");
        }
        let keep_ips = Redactor {
            ip_addresses: false,
        };
        assert_eq!(keep_ips.redact("from 10.0.0.7"), "from 10.0.0.7");
    }

    #[test]
    fn json_documents_are_redacted_throughout() {
        let mut doc = serde_json::json!({"a": ["mail me at x.y@example.org"], "b": {"c": "card 4111111111111111"}, "n": 4111111111111111u64});
        Redactor::default().redact_json(&mut doc);
        let text = doc.to_string();
        assert!(
            !text.contains("x.y@example.org") && text.contains("[redacted card]"),
            "{text}"
        );
    }

    #[test]
    fn luhn_checks() {
        assert!(luhn(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
        assert!(!luhn(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]));
        assert!(!luhn(&[0, 0, 0]), "too short");
    }
}
