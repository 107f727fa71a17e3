//! Finding RCAEval-layout cases on disk and reading what each one says.
//!
//! A case is a folder holding `data.csv` and `inject_time.txt`. The true
//! root-cause service is the prefix before the first `_` of the nearest
//! folder name, from the case up, that has one: `checkout_delay_1/` and
//! RCAEval's own `checkout_delay/1/` both mean `checkout`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

pub const DATA: &str = "data.csv";
pub const INJECT: &str = "inject_time.txt";

/// RCAEval nests at most `<system>/<service>_<fault>/<n>/`.
const MAX_DEPTH: usize = 4;
const MAX_CASES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseDir {
    pub path: PathBuf,
    /// The path below the cases folder, `/`-separated: the case's name in
    /// the output.
    pub name: String,
}

/// What a cases folder holds.
#[derive(Debug, Default)]
pub struct Found {
    /// Case folders, sorted by name.
    pub cases: Vec<CaseDir>,
    /// Folders with files but neither case file and no folder inside, such
    /// as the labelled logs `aiops eval chaos --record` writes beside its
    /// cases: not cases, named so the run can say what it passed over.
    pub skipped: Vec<String>,
}

/// Case folders under `root`. A folder is a case when it holds either
/// file, or is empty (then it is a case with missing files, reported as
/// such rather than skipped).
pub fn discover(root: &Path) -> anyhow::Result<Found> {
    if !root.is_dir() {
        bail!("{}: not a folder", root.display());
    }
    let mut found = Found::default();
    if is_case(root) {
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| root.display().to_string());
        found.cases.push(CaseDir {
            path: root.to_owned(),
            name,
        });
        return Ok(found);
    }
    walk(root, "", 1, &mut found)?;
    Ok(found)
}

fn is_case(dir: &Path) -> bool {
    dir.join(DATA).exists() || dir.join(INJECT).exists()
}

fn walk(dir: &Path, prefix: &str, depth: usize, found: &mut Found) -> anyhow::Result<()> {
    let mut children: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list", dir.display()))?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().is_dir())
        .map(|entry| {
            (
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            )
        })
        .filter(|(name, _)| !name.starts_with('.'))
        .collect();
    children.sort();
    for (name, path) in children {
        let name = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let (has_subfolders, has_files) = std::fs::read_dir(&path)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .fold((false, false), |(d, f), e| {
                        let is_dir = e.path().is_dir();
                        (d || is_dir, f || !is_dir)
                    })
            })
            .unwrap_or((false, false));
        if is_case(&path) || depth >= MAX_DEPTH || !(has_subfolders || has_files) {
            if found.cases.len() >= MAX_CASES {
                bail!("{}: more than {MAX_CASES} case folders", dir.display());
            }
            found.cases.push(CaseDir { path, name });
        } else if has_subfolders {
            walk(&path, &name, depth + 1, found)?;
        } else {
            found.skipped.push(name);
        }
    }
    Ok(())
}

/// The root-cause service the case's folder names give.
pub fn truth(case: &CaseDir) -> Result<String, String> {
    let folders = case.name.rsplit('/');
    for folder in folders {
        if let Some((service, _)) = folder.split_once('_')
            && !service.is_empty()
        {
            return Ok(service.to_owned());
        }
    }
    Err(format!(
        "{}: no folder name with a `_` to give the root-cause service (expected <service>_<fault>...)",
        case.path.display()
    ))
}

/// `inject_time.txt`: unix seconds on its first line (RCAEval writes an
/// integer; a fraction is accepted). Returned in milliseconds.
pub fn inject_time_ms(case: &CaseDir) -> Result<i64, String> {
    let path = case.path.join(INJECT);
    if !path.exists() {
        return Err(format!("{}: missing", path.display()));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let Some(line) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return Err(format!("{}: empty, expected unix seconds", path.display()));
    };
    let seconds: f64 = line
        .parse()
        .map_err(|_| format!("{}: {line:?} is not a unix time in seconds", path.display()))?;
    if !seconds.is_finite() || seconds.abs() > 1e11 {
        return Err(format!(
            "{}: {line:?} is not a unix time in seconds",
            path.display()
        ));
    }
    Ok((seconds * 1000.0).round() as i64)
}

pub fn data_path(case: &CaseDir) -> Result<PathBuf, String> {
    let path = case.path.join(DATA);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!("{}: missing", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str) -> CaseDir {
        CaseDir {
            path: PathBuf::from("/cases").join(name),
            name: name.to_owned(),
        }
    }

    #[test]
    fn truth_is_the_nearest_folder_prefix() {
        assert_eq!(truth(&case("payments_delay_1")).unwrap(), "payments");
        assert_eq!(truth(&case("cart_cpu/3")).unwrap(), "cart");
        assert_eq!(truth(&case("re1-ob/adservice_mem/2")).unwrap(), "adservice");
        let err = truth(&case("incident7")).unwrap_err();
        assert!(err.contains("no folder name with a `_`"), "{err}");
    }
}
