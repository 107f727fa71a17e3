//! NAB's label files: `combined_windows.json` (the anomaly windows of each
//! file, as timestamps) and `profiles.json` (the scoring profiles).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;

use super::data::{Series, parse_timestamp};
use super::score::{Costs, Window};

/// The windows of every file named in the windows file, unresolved.
pub type RawWindows = BTreeMap<String, Vec<(String, String)>>;

pub fn read_windows(path: &Path) -> anyhow::Result<RawWindows> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read windows file {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not a JSON object of \"<category>/<file>.csv\": [[start, end], ...]",
            path.display()
        )
    })
}

/// Turns one file's window timestamps into row indices. As NAB's labeler,
/// each limit must be a timestamp of the file (its first row of that time,
/// when a clock change repeats one); windows must be in order and must not
/// overlap.
pub fn resolve_windows(
    windows_path: &Path,
    series: &Series,
    raw: &[(String, String)],
) -> anyhow::Result<Vec<Window>> {
    let mut out: Vec<Window> = Vec::with_capacity(raw.len());
    for (n, (start_text, end_text)) in raw.iter().enumerate() {
        let at = |text: &str| -> anyhow::Result<usize> {
            let ts = parse_timestamp(text).with_context(|| {
                format!(
                    "{}: {} window {}: `{text}` is not a timestamp",
                    windows_path.display(),
                    series.key,
                    n + 1
                )
            })?;
            // rows are in file order, which a clock change leaves unsorted:
            // the first row of that time, as NAB's pandas lookup takes it
            series
                .timestamps
                .iter()
                .position(|t| *t == ts)
                .with_context(|| {
                    format!(
                        "{}: {} window {}: timestamp {text} is not a row of {} (NAB needs each limit to be one)",
                        windows_path.display(),
                        series.key,
                        n + 1,
                        series.path.display()
                    )
                })
        };
        let window = Window {
            start: at(start_text)?,
            end: at(end_text)?,
        };
        if window.end < window.start {
            bail!(
                "{}: {} window {}: ends ({end_text}) before it starts ({start_text})",
                windows_path.display(),
                series.key,
                n + 1
            );
        }
        if let Some(previous) = out.last()
            && window.start <= previous.end
        {
            bail!(
                "{}: {} window {} starts ({start_text}) before window {} ends",
                windows_path.display(),
                series.key,
                n + 1,
                n
            );
        }
        out.push(window);
    }
    Ok(out)
}

/// A scoring profile by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub costs: Costs,
}

#[derive(Deserialize)]
struct ProfileFile {
    #[serde(rename = "CostMatrix")]
    cost_matrix: CostMatrix,
}

#[derive(Deserialize)]
struct CostMatrix {
    #[serde(rename = "tpWeight")]
    tp: f64,
    #[serde(rename = "fpWeight")]
    fp: f64,
    #[serde(rename = "fnWeight")]
    fn_: f64,
}

/// NAB's `config/profiles.json`.
pub fn nab_profiles() -> Vec<Profile> {
    let profile = |name: &str, fp: f64, fn_: f64| Profile {
        name: name.to_string(),
        costs: Costs { tp: 1.0, fp, fn_ },
    };
    vec![
        profile("standard", 0.11, 1.0),
        profile("reward_low_FP_rate", 0.22, 1.0),
        profile("reward_low_FN_rate", 0.11, 2.0),
    ]
}

/// Profiles from `path` in NAB's format, in NAB's order where names match.
pub fn read_profiles(path: &Path) -> anyhow::Result<Vec<Profile>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read profiles file {}", path.display()))?;
    let parsed: BTreeMap<String, ProfileFile> = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not NAB's profiles format ({{\"<name>\": {{\"CostMatrix\": {{\"tpWeight\", \"fpWeight\", \"fnWeight\"}}}}}})",
            path.display()
        )
    })?;
    if parsed.is_empty() {
        bail!("{}: no profiles", path.display());
    }
    let order = |name: &str| {
        nab_profiles()
            .iter()
            .position(|p| p.name == name)
            .unwrap_or(usize::MAX)
    };
    let mut profiles: Vec<Profile> = parsed
        .into_iter()
        .map(|(name, p)| Profile {
            name,
            costs: Costs {
                tp: p.cost_matrix.tp,
                fp: p.cost_matrix.fp,
                fn_: p.cost_matrix.fn_,
            },
        })
        .collect();
    for p in &profiles {
        let c = p.costs;
        if !(c.tp.is_finite() && c.fp.is_finite() && c.fn_.is_finite()) || c.tp <= 0.0 {
            bail!(
                "{}: profile {}: weights must be finite and tpWeight above 0",
                path.display(),
                p.name
            );
        }
    }
    profiles.sort_by_key(|p| order(&p.name));
    Ok(profiles)
}
