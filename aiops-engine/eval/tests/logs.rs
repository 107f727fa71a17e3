//! `aiops eval logs` and `record-logs` end to end on small fixtures: a
//! Loghub-layout sample (raw log with headers and its structured CSV), the
//! shop's labelled lines, and the bad inputs a user will hand it.

use std::path::{Path, PathBuf};

use aiops_eval::logs::{LogsArgs, LogsReport, evaluate, record};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aiops-eval-logs-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn args(log: Option<PathBuf>, truth: PathBuf, out: Option<PathBuf>, content: bool) -> LogsArgs {
    LogsArgs {
        log,
        truth,
        out,
        content,
        no_correction: false,
        by_service: false,
        repeat: 0,
        score: None,
    }
}

fn run(a: &LogsArgs) -> anyhow::Result<(LogsReport, String)> {
    let mut printed = Vec::new();
    let report = evaluate(a, &mut printed)?;
    Ok((report, String::from_utf8(printed).expect("utf-8 report")))
}

#[test]
fn content_column_scores_a_clean_sample_perfectly() {
    let out = temp_dir("content").join("mined.csv");
    let a = args(
        None,
        data("tiny_2k.log_structured.csv"),
        Some(out.clone()),
        true,
    );
    let (r, printed) = run(&a).expect("evaluates");
    assert_eq!(r.lines, 24);
    assert_eq!(r.scores.true_templates, 4);
    assert_eq!(r.scores.ga, 1.0, "{printed}");
    assert_eq!(r.scores.fga, 1.0, "{printed}");
    // the miner writes `src : <PATH>` where Loghub writes `src: /<*>`: a
    // separator is a token of its own and a path one variable, so two of
    // the four templates read differently while every group is right
    assert_eq!(r.scores.pa, 0.5, "{printed}");
    assert_eq!(r.scores.fta, 0.5, "{printed}");
    assert!(
        printed.contains("GA 1.0000  PA 0.5000  FGA 1.0000  FTA 0.5000"),
        "{printed}"
    );
    assert!(
        printed.contains("data: not tuned on (tiny_2k.log_structured.csv is not one"),
        "{printed}"
    );

    let mut rows = csv::Reader::from_path(&out).expect("output csv");
    assert_eq!(
        rows.headers().expect("header").iter().collect::<Vec<_>>(),
        ["LineId", "TemplateId", "Template"]
    );
    let rows: Vec<csv::StringRecord> = rows.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 24);
    assert_eq!(&rows[0][0], "1");
    assert_eq!(rows[0][1].len(), 16, "ids are 16 hex digits");
    assert_eq!(
        &rows[1][2],
        "PacketResponder <NUM> for block <ID> terminating"
    );
    // the quoted field with a comma and quotes survives the round trip
    assert!(
        rows[3][2].contains(", \"java.io.IOException"),
        "{:?}",
        &rows[3]
    );
    assert_eq!(rows[0][1], rows[4][1], "one statement, one id");
}

#[test]
fn raw_lines_with_headers_group_well_but_parse_badly() {
    // The header (date, time, pid, level, component) is mined too: groups
    // stay right, templates no longer equal Content's.
    let a = args(
        Some(data("tiny_2k.log")),
        data("tiny_2k.log_structured.csv"),
        None,
        false,
    );
    let (r, printed) = run(&a).expect("evaluates");
    assert_eq!(r.scores.ga, 1.0, "{printed}");
    assert_eq!(r.scores.pa, 0.0, "{printed}");
    assert_eq!(r.scores.fta, 0.0, "{printed}");
}

#[test]
fn a_wrong_truth_lowers_the_scores() {
    // Relabel one line of E2 as E3: E2 and E3 are no longer whole groups.
    let dir = temp_dir("wrong");
    let text = std::fs::read_to_string(data("tiny_2k.log_structured.csv")).expect("fixture");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let victim = lines
        .iter()
        .position(|l| l.ends_with("E2,PacketResponder <*> for block <*> terminating"))
        .expect("an E2 row");
    lines[victim] = lines[victim].replace(
        "E2,PacketResponder <*> for block <*> terminating",
        "E3,Verification succeeded for <*>",
    );
    let truth = dir.join("wrong.csv");
    std::fs::write(&truth, lines.join("\n") + "\n").expect("write");
    let (r, printed) = run(&args(None, truth, None, true)).expect("evaluates");
    // E1 and E4 (12 of 24 lines) stay right
    assert_eq!(r.scores.ga, 0.5, "{printed}");
    assert!(r.scores.pa < 0.5, "{printed}");
    assert!(r.scores.fga < 1.0 && r.scores.fta < 1.0, "{printed}");
}

#[test]
fn bad_inputs_name_the_file_and_line() {
    let dir = temp_dir("bad");
    let err = |a: LogsArgs| run(&a).expect_err("must fail").to_string();

    let e = err(args(None, dir.join("nope.csv"), None, true));
    assert!(e.contains("nope.csv"), "{e}");

    let cols = dir.join("cols.csv");
    std::fs::write(&cols, "LineId,Content\n1,a\n").expect("write");
    let e = err(args(None, cols, None, true));
    assert!(e.contains("EventTemplate") && e.contains("cols.csv"), "{e}");

    let short = dir.join("short.log");
    std::fs::write(&short, "only one line\n").expect("write");
    let e = err(args(
        Some(short),
        data("tiny_2k.log_structured.csv"),
        None,
        false,
    ));
    assert!(
        e.contains("short.log has 1 lines") && e.contains("24 rows"),
        "{e}"
    );

    let bad = dir.join("bad.log");
    let mut bytes = std::fs::read(data("tiny_2k.log")).expect("fixture");
    let second = bytes.iter().position(|&b| b == b'\n').expect("newline") + 3;
    bytes[second] = 0xff;
    std::fs::write(&bad, bytes).expect("write");
    let e = err(args(
        Some(bad),
        data("tiny_2k.log_structured.csv"),
        None,
        false,
    ));
    assert!(e.contains("bad.log: line 2: not valid UTF-8"), "{e}");

    let ragged = dir.join("ragged.csv");
    std::fs::write(&ragged, "LineId,Content,EventTemplate\n1,a,a\n2,b\n").expect("write");
    let e = err(args(None, ragged, None, true));
    assert!(e.contains("ragged.csv: line 3"), "{e}");

    let bad_csv = dir.join("bad_utf8.csv");
    std::fs::write(&bad_csv, b"LineId,Content,EventTemplate\n1,a\xff,a\n").expect("write");
    let e = err(args(None, bad_csv, None, true));
    assert!(e.contains("bad_utf8.csv: line 2: not valid UTF-8"), "{e}");

    let e = err(args(None, dir.join("missing.csv"), None, false));
    assert!(e.contains("missing.csv") || e.contains("--log"), "{e}");
}

/// Lines as the shop writes them with SHOP_LOG_CALLSITE=1 (serde_json
/// sorts keys), some behind the `shop up` prefix, plus the supervisor's
/// own words.
fn shop_output() -> String {
    let mut out = String::new();
    // one statement in shared code, logged by two services
    for svc in ["cart", "payments"] {
        out.push_str(&format!(
            r#"{{"callsite":{{"at":"shop/common/src/service.rs:353","template":"listening address=<*> version=<*>"}},"fields":{{"address":"127.0.0.1:8082","version":"0.1.0"}},"level":"info","message":"listening","service":"{svc}","timestamp":"2026-11-14T22:13:00.000000Z","version":"0.1.0"}}"#
        ));
        out.push('\n');
    }
    let products = ["oak-spoon", "linen-apron", "chef-knife-8in"];
    for i in 0..30 {
        let line = match i % 3 {
            0 => format!(
                r#"{{"callsite":{{"at":"shop/cart/src/routes.rs:142","template":"item added to cart lines=<*> product_id=<*> quantity=<*>"}},"fields":{{"lines":{},"product_id":"{}","quantity":{}}},"level":"info","message":"item added to cart","service":"cart","timestamp":"2026-11-14T22:13:{:02}.000000Z","trace_id":"4bf92f3577b34da6a3ce929d0e0e47{:02}","version":"1.0.0"}}"#,
                i % 7,
                products[i % 3],
                i % 4 + 1,
                i,
                i
            ),
            1 => format!(
                r#"{{"callsite":{{"at":"shop/payments/src/routes.rs:157","template":"charge created amount_minor=<*> brand=<*> charge_id=<*>"}},"fields":{{"amount_minor":{},"brand":"visa","charge_id":"ch_{:024x}"}},"level":"info","message":"charge created","service":"payments","timestamp":"2026-11-14T22:13:{:02}.000000Z","version":"1.0.0"}}"#,
                100 + i * 37,
                i * 7919,
                i
            ),
            _ => format!(
                r#"          cart | {{"callsite":{{"at":"shop/cart/src/catalog.rs:23","template":"catalog lookup failed error=<*>"}},"fields":{{"error":"catalog did not answer within {}ms"}},"level":"warn","message":"catalog lookup failed","service":"cart","timestamp":"2026-11-14T22:13:{:02}.000000Z","version":"1.0.0"}}"#,
                500 + i,
                i
            ),
        };
        out.push_str(&line);
        out.push('\n');
        if i == 10 {
            out.push_str("      payments | restarting in 1s\n");
        }
    }
    out
}

#[test]
fn recorded_shop_logs_evaluate_without_the_truth_in_sight() {
    let dir = temp_dir("record");
    let summary =
        record::record(shop_output().as_bytes(), "shop output", &dir, "shop").expect("records");
    assert_eq!(summary.lines, 32);
    assert_eq!(summary.skipped, 1);
    assert_eq!(summary.statements, 4);
    assert_eq!(summary.ambiguous_statements, 0);

    let log = std::fs::read_to_string(&summary.log).expect("log");
    assert_eq!(log.lines().count(), 32);
    assert!(
        !log.contains("callsite") && !log.contains("routes.rs"),
        "the miner must not see the truth"
    );
    assert!(log.lines().all(|l| l.starts_with('{')), "prefixes are gone");

    let mut structured = csv::Reader::from_path(&summary.structured).expect("structured");
    let rows: Vec<csv::StringRecord> = structured.records().map(|r| r.expect("row")).collect();
    assert_eq!(&rows[2][3], "shop/cart/src/routes.rs:142");
    assert_eq!(&rows[4][1], "cart");
    assert_eq!(&rows[4][2], log.lines().nth(4).expect("line 5"));

    let templates = std::fs::read_to_string(&summary.templates).expect("templates");
    assert!(templates.contains("shop/payments/src/routes.rs:157,charge created amount_minor=<*> brand=<*> charge_id=<*>,10"), "{templates}");

    let (r, printed) = run(&args(
        Some(summary.log.clone()),
        summary.structured.clone(),
        None,
        false,
    ))
    .expect("evaluates");
    assert_eq!(r.lines, 32);
    assert_eq!(r.scores.ga, 1.0, "{printed}");
    // brand is always visa here, so the miner keeps it: a template the
    // truth (every field a variable) does not share
    assert!(r.scores.pa < 1.0, "{printed}");

    // One miner per service, as the engine: the shared statement is two
    // groups, each right once the truth is per service too.
    let mut a = args(
        Some(summary.log.clone()),
        summary.structured.clone(),
        None,
        false,
    );
    a.by_service = true;
    a.repeat = 2;
    let (r, printed) = run(&a).expect("evaluates per service");
    assert_eq!(r.scores.ga, 1.0, "{printed}");
    assert_eq!(
        (r.scores.true_templates, r.scores.true_groups),
        (4, 5),
        "{printed}"
    );
    assert_eq!(r.scores.mined_groups, 5, "{printed}");
    assert_eq!(r.timed_lines, 32 * 3);

    // A truth without a Service column cannot be split by service.
    let mut a = args(None, data("tiny_2k.log_structured.csv"), None, true);
    a.by_service = true;
    let e = run(&a).expect_err("no service column").to_string();
    assert!(e.contains("Service column") && e.contains("row 1"), "{e}");
}

#[test]
fn record_refuses_bad_names_and_bad_bytes() {
    let dir = temp_dir("record-bad");
    let e = record::record(&b""[..], "x", &dir, "../up").expect_err("bad name");
    assert!(e.to_string().contains("plain file name"), "{e}");
    let e =
        record::record(&b"{\"a\":1}\n\xff\n"[..], "shop.out", &dir, "c").expect_err("bad utf-8");
    assert!(e.to_string().contains("shop.out: line 2"), "{e}");
}

#[test]
fn another_parsers_output_is_scored_the_same_way() {
    let dir = temp_dir("score");
    let truth = data("tiny_2k.log_structured.csv");
    let rows = aiops_eval::logs::read_truth(&truth).expect("truth");
    // A parser that puts everything in one group with drain3-style masks.
    let mut parsed = String::from("LineId,TemplateId,Template\n");
    for r in &rows {
        parsed.push_str(&format!("{},1,<*> <NUM>\n", r.line_id));
    }
    let path = dir.join("one_group.csv");
    std::fs::write(&path, parsed).expect("write");
    let mut a = args(None, truth.clone(), None, false);
    a.score = Some(path);
    let (r, printed) = run(&a).expect("scores");
    assert_eq!((r.scores.ga, r.scores.pa), (0.0, 0.0), "{printed}");
    assert_eq!(r.scores.mined_groups, 1);
    assert!(!printed.contains("mining:"), "nothing was mined: {printed}");

    // Our own output fed back scores as mining did.
    let out = dir.join("ours.csv");
    let (mined, _) = run(&args(None, truth.clone(), Some(out.clone()), true)).expect("mines");
    let mut a = args(None, truth.clone(), None, false);
    a.score = Some(out);
    let (scored, _) = run(&a).expect("scores");
    assert_eq!(scored.scores, mined.scores);

    // Rows out of step with the truth are refused.
    let skewed = dir.join("skewed.csv");
    std::fs::write(&skewed, "LineId,TemplateId,Template\n2,1,x\n").expect("write");
    let mut a = args(None, truth, None, false);
    a.score = Some(skewed);
    let e = run(&a).expect_err("skewed").to_string();
    assert!(
        e.contains("skewed.csv: line 2: LineId 2 where the truth has 1"),
        "{e}"
    );
}

#[test]
fn the_help_says_what_is_mined_and_how_templates_are_compared() {
    use clap::{CommandFactory, Parser};
    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: aiops_eval::cli::EvalCommand,
    }
    let mut cmd = Cli::command();
    let logs = cmd.find_subcommand_mut("logs").expect("logs subcommand");
    let help = logs.render_long_help().to_string();
    for needle in [
        "--content",
        "Content column",
        "<NUM>",
        "<*>",
        "Khan",
        "GA",
        "PA",
        "FGA",
        "FTA",
        "getrusage",
    ] {
        assert!(help.contains(needle), "help lacks {needle}:\n{help}");
    }
}
