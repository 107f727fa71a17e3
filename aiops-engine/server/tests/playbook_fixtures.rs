//! `aiops playbook test` on incidents recorded from real chaos-suite runs
//! (`rules/playbooks/fixtures/*.json`, saved by `aiops eval chaos` as the
//! incident API answered when the faulted service was first named): every
//! shipped playbook is rehearsed against every fixture, when it was
//! recorded and a minute later (rules on how long an incident has been
//! open), and the decisions must read as committed in
//! `<fixture>.expected.txt`. `*.at-clear.json` are recorded when the fault
//! was cleared: the incident with everything that joined it. Regenerate with
//! `UPDATE_FIXTURES=1` after a deliberate change, and read the diff.

use std::path::Path;
use std::process::Command;

#[test]
fn shipped_playbooks_decide_on_recorded_incidents_as_committed() {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/playbooks");
    let mut playbooks: Vec<_> = std::fs::read_dir(&rules)
        .expect("rules/playbooks")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    playbooks.sort();
    let mut fixtures: Vec<_> = std::fs::read_dir(rules.join("fixtures"))
        .expect("rules/playbooks/fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 3, "{fixtures:?}");
    let update = std::env::var_os("UPDATE_FIXTURES").is_some();
    let mut failures = Vec::new();
    for fixture in &fixtures {
        let recorded: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture).expect("fixture"))
                .expect("json");
        let updated = recorded["data"]["updated_at_ms"]
            .as_i64()
            .expect("the incident's updated_at_ms");
        let mut got = String::new();
        for (playbook, at) in playbooks
            .iter()
            .flat_map(|p| [(p, updated), (p, updated + 60_000)])
        {
            let run = Command::new(env!("CARGO_BIN_EXE_aiops"))
                .args(["playbook", "test"])
                .arg(playbook)
                .arg("--incident")
                .arg(fixture)
                .arg("--at")
                .arg(at.to_string())
                .output()
                .expect("aiops playbook test");
            assert!(
                run.status.success(),
                "{}: {}",
                fixture.display(),
                String::from_utf8_lossy(&run.stderr)
            );
            got.push_str(&format!(
                "## {}\n",
                playbook.file_name().and_then(|n| n.to_str()).unwrap_or("")
            ));
            got.push_str(&String::from_utf8_lossy(&run.stdout));
        }
        let name = fixture.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let expected_path = fixture.with_file_name(name.replace(".json", ".expected.txt"));
        if update {
            std::fs::write(&expected_path, &got).expect("write expected");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != got {
            failures.push(format!(
                "{} differs from {}:\n{got}",
                fixture.display(),
                expected_path.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
