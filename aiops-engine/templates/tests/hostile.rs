//! Whatever arrives in a log line, mining never panics and stays bounded.

use aiops_templates::{LogSignals, MinerConfig, Templates, TemplatesConfig, extract};
use proptest::prelude::*;

fn small_config() -> TemplatesConfig {
    TemplatesConfig {
        miner: MinerConfig {
            max_templates: 50,
            max_line_len: 4096,
            ..MinerConfig::default()
        },
        max_services: 4,
    }
}

fn small() -> Templates {
    Templates::new(small_config())
}

fn feed(t: &mut Templates, s: &mut LogSignals, ts: i64, line: &str) {
    let mut out = Vec::new();
    let obs = t.observe("svc", ts, None, line);
    s.observe("svc", ts, &obs, &mut out);
    let _ = extract(line);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_text(lines in proptest::collection::vec(any::<String>(), 1..20), ts in any::<i64>()) {
        let mut t = small();
        let mut s = LogSignals::default();
        for (i, l) in lines.iter().enumerate() {
            feed(&mut t, &mut s, ts.saturating_add(i as i64), l);
        }
        prop_assert!(t.miner("svc").is_some_and(|m| m.len() <= 50));
        let restored = Templates::restore(small_config(), t.snapshot());
        prop_assert!(restored.is_ok(), "{:?}", restored.err());
    }

    #[test]
    fn json_like(parts in proptest::collection::vec(prop_oneof![
        Just("{".to_string()), Just("}".to_string()), Just("[".to_string()), Just("]".to_string()),
        Just("\"".to_string()), Just("\\".to_string()), Just(":".to_string()), Just(",".to_string()),
        Just("\"message\"".to_string()), Just("\"fields\"".to_string()), Just("\"level\"".to_string()),
        Just("\\u00".to_string()), Just("\\ud83d".to_string()), Just("12".to_string()), Just("é".to_string()),
        "[a-z0-9 =.:_-]{0,8}",
    ], 0..60)) {
        let line: String = parts.concat();
        let mut t = small();
        let mut s = LogSignals::default();
        feed(&mut t, &mut s, 0, &line);
        feed(&mut t, &mut s, 1, &format!("{{\"message\":\"{line}\",\"fields\":{{\"a\":{line}}}}}"));
        feed(&mut t, &mut s, 2, &format!("level=error msg=\"{line}\" k={line}"));
    }

    #[test]
    fn maskable_shapes(s in "[0-9a-fA-F.:xX_+%µ-]{0,40}") {
        let mut t = small();
        let mut sig = LogSignals::default();
        feed(&mut t, &mut sig, 0, &format!("value {s} end"));
    }
}

#[test]
fn huge_and_odd_lines() {
    let mut t = small();
    let mut s = LogSignals::default();
    let cases = [
        String::new(),
        "\0\u{1}\u{1b}[31m\u{7f}\r\n".to_string(),
        "x".repeat(1 << 20),
        "a ".repeat(10_000),
        "é".repeat(5000),
        format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)),
        format!(
            "{{\"message\":\"deep\",\"fields\":{{\"x\":{}1{}}}}}",
            "{\"a\":".repeat(50_000),
            "}".repeat(50_000)
        ),
        format!("{{\"message\":\"{}\"}}", "\\u".repeat(10_000)),
        "level=".repeat(10_000),
        "\u{fffd}".repeat(3000),
    ];
    for (i, line) in cases.iter().enumerate() {
        feed(&mut t, &mut s, i as i64, line);
    }
    let m = t.miner("svc").expect("mined");
    assert_eq!(m.stats().lines, cases.len() as u64);
    assert!(m.stats().truncated_lines >= 4);
    assert!(
        m.templates()
            .all(|x| x.template.len() <= 8192 && x.exemplars.iter().all(|e| e.len() <= 512))
    );
    // Deep JSON that fits is still understood as JSON.
    let deep = format!(
        "{{\"message\":\"deep\",\"fields\":{{\"x\":{}1{}}}}}",
        "[".repeat(1000),
        "]".repeat(1000)
    );
    assert_eq!(extract(&deep).message, "deep");
}

#[test]
fn ten_thousand_tokens() {
    let mut t = Templates::default();
    let line: String = (0..10_000).map(|i| format!("t{} ", i % 7)).collect();
    let a = t.observe("svc", 0, None, &line);
    let b = t.observe("svc", 1, None, &line);
    assert_eq!(a.template_id, b.template_id);
    assert!(a.template.split(' ').count() <= 512);
}

/// What was learned from any line can be saved and taken back: a snapshot
/// that cannot be restored would lose everything the engine learned.
#[test]
fn templates_of_odd_logfmt_lines_survive_a_snapshot() {
    let mut t = small();
    let mut s = LogSignals::default();
    for (i, line) in [
        "k=v a=1 x =",
        "k=v a=2 x =",
        "= = =",
        "a= b= c=",
        "msg=\"\" level=info =",
    ]
    .iter()
    .enumerate()
    {
        feed(&mut t, &mut s, i as i64, line);
    }
    let snapshot = t.snapshot();
    let restored = Templates::restore(small_config(), snapshot);
    assert!(restored.is_ok(), "{:?}", restored.err());
}
