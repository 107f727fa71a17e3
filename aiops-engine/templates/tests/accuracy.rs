//! Grouping accuracy on lines as the shop writes them: every line whose
//! statement's lines are exactly the lines of its template counts as
//! correct (the "grouping accuracy" of the Loghub benchmarks).

use std::collections::HashMap;

use aiops_templates::{TemplateId, Templates};

const SAMPLE: &str = include_str!("data/shop_sample.tsv");

fn grouping_accuracy(truth: &[String], predicted: &[(String, TemplateId)]) -> f64 {
    let mut by_truth: HashMap<&String, Vec<usize>> = HashMap::new();
    let mut by_pred: HashMap<&(String, TemplateId), Vec<usize>> = HashMap::new();
    for (i, (t, p)) in truth.iter().zip(predicted).enumerate() {
        by_truth.entry(t).or_default().push(i);
        by_pred.entry(p).or_default().push(i);
    }
    let correct: usize = by_truth
        .values()
        .filter(|lines| by_pred[&predicted[lines[0]]] == **lines)
        .map(Vec::len)
        .sum();
    correct as f64 / truth.len() as f64
}

#[test]
fn shop_lines_group_by_statement() {
    let mut templates = Templates::default();
    let mut truth = Vec::new();
    let mut predicted = Vec::new();
    for (i, row) in SAMPLE.lines().enumerate() {
        let (label, line) = row.split_once('\t').expect("label, tab, line");
        let service = label.split_once(':').expect("service:message").0;
        let obs = templates.observe(service, i as i64 * 1_000_000, None, line);
        truth.push(label.to_string());
        predicted.push((service.to_string(), obs.template_id));
    }
    assert_eq!(truth.len(), 200);
    // The final templates, for reading when this fails.
    let mut report = Vec::new();
    for s in templates.services() {
        for t in templates.miner(s).expect("listed").templates() {
            report.push(format!("{s}: {} x{}", t.template, t.count));
        }
    }
    report.sort();
    let ga = grouping_accuracy(&truth, &predicted);
    eprintln!("grouping accuracy {ga:.3}\n{}", report.join("\n"));
    assert!(ga >= 0.95, "grouping accuracy {ga:.3}");
    // No two statements share a template.
    let statements: std::collections::HashSet<&String> = truth.iter().collect();
    let groups: std::collections::HashSet<&(String, TemplateId)> = predicted.iter().collect();
    assert!(
        groups.len() >= statements.len(),
        "{} groups for {} statements",
        groups.len(),
        statements.len()
    );
}

#[test]
fn accuracy_measure_can_fail() {
    let id = |n| TemplateId(n);
    let truth: Vec<String> = ["a", "a", "b", "b"].iter().map(|s| s.to_string()).collect();
    let merged: Vec<(String, TemplateId)> = (0..4).map(|_| ("s".into(), id(1))).collect();
    assert_eq!(grouping_accuracy(&truth, &merged), 0.0);
    let split = vec![
        ("s".into(), id(1)),
        ("s".into(), id(2)),
        ("s".into(), id(3)),
        ("s".into(), id(3)),
    ];
    assert_eq!(grouping_accuracy(&truth, &split), 0.5);
}
