//! Reading a NAB data directory: `<dir>/data/<category>/<file>.csv`, each
//! a `timestamp,value` header and one row per sample.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::NaiveDateTime;

/// One NAB series, in file order.
#[derive(Debug, Clone)]
pub struct Series {
    /// `<category>/<file>.csv`, the key NAB's windows file uses.
    pub key: String,
    pub category: String,
    /// The file name without `.csv`.
    pub name: String,
    pub path: PathBuf,
    pub timestamps: Vec<NaiveDateTime>,
    /// The timestamp text as read, written back unchanged in the results.
    pub timestamp_text: Vec<String>,
    pub values: Vec<f64>,
    /// The value text as read, written back unchanged in the results.
    pub value_text: Vec<String>,
    /// What was odd but kept: a timestamp earlier than the row before it
    /// (a clock change), at most [`MAX_WARNINGS`] of them named.
    pub warnings: Vec<String>,
}

/// Odd rows named per file; the rest are counted in the last warning.
pub const MAX_WARNINGS: usize = 5;

/// Why a data file was refused.
#[derive(Debug)]
pub struct DataError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

impl std::error::Error for DataError {}

/// NAB timestamps: `2014-04-01 00:00:00` in data files, with an optional
/// fraction (`2014-04-10 07:15:00.000000`) in the windows file.
pub fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.f").ok()
}

/// Reads one series; every refusal names the file and line.
pub fn read_series(path: &Path, category: &str, name: &str) -> Result<Series, DataError> {
    let err = |line: usize, message: String| DataError {
        path: path.to_path_buf(),
        line,
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(0, format!("cannot read: {e}")))?;
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, h)| h.trim()).unwrap_or("");
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    if columns.len() < 2 || columns[0] != "timestamp" || columns[1] != "value" {
        return Err(err(
            1,
            format!("header must start with `timestamp,value`, found `{header}`"),
        ));
    }
    let mut series = Series {
        key: format!("{category}/{name}.csv"),
        category: category.to_string(),
        name: name.to_string(),
        path: path.to_path_buf(),
        timestamps: Vec::new(),
        timestamp_text: Vec::new(),
        values: Vec::new(),
        value_text: Vec::new(),
        warnings: Vec::new(),
    };
    let mut steps_back = 0usize;
    for (index, raw) in lines {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let mut fields = raw.split(',');
        let (Some(ts_text), Some(value_text)) = (fields.next(), fields.next()) else {
            return Err(err(
                line,
                format!("expected `timestamp,value`, found `{raw}`"),
            ));
        };
        let ts = parse_timestamp(ts_text).ok_or_else(|| {
            err(
                line,
                format!("timestamp `{ts_text}` is not `YYYY-MM-DD HH:MM:SS`"),
            )
        })?;
        let value: f64 = value_text
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| err(line, format!("value `{value_text}` is not a finite number")))?;
        // real data steps back (a clock change): NAB's runner feeds rows in
        // file order, and so does this; the detector sees the time as is
        if let Some(last) = series.timestamps.last()
            && ts < *last
        {
            steps_back += 1;
            if steps_back <= MAX_WARNINGS {
                series.warnings.push(format!(
                    "{}:{line}: timestamp {} is earlier than the row before it ({last}); kept in file order",
                    path.display(),
                    ts_text.trim()
                ));
            }
        }
        series.timestamps.push(ts);
        series.timestamp_text.push(ts_text.trim().to_string());
        series.values.push(value);
        series.value_text.push(value_text.trim().to_string());
    }
    if series.values.is_empty() {
        return Err(err(1, "no data rows".to_string()));
    }
    if steps_back > MAX_WARNINGS {
        series.warnings.push(format!(
            "{}: {} more rows earlier than the row before them",
            path.display(),
            steps_back - MAX_WARNINGS
        ));
    }
    Ok(series)
}

/// Every `<dir>/data/<category>/<file>.csv`, sorted by key so runs are
/// reproducible.
pub fn read_corpus(dir: &Path) -> anyhow::Result<Vec<Series>> {
    let data = dir.join("data");
    if !dir.is_dir() {
        bail!("data directory {} does not exist", dir.display());
    }
    if !data.is_dir() {
        bail!(
            "{} has no `data` folder (expected <dir>/data/<category>/<file>.csv)",
            dir.display()
        );
    }
    let mut found = Vec::new();
    for category in sorted_entries(&data)? {
        if !category.is_dir() {
            continue;
        }
        let category_name = file_name(&category);
        for file in sorted_entries(&category)? {
            let is_csv = file.extension().is_some_and(|e| e == "csv");
            if !file.is_file() || !is_csv || file_name(&file).starts_with('.') {
                continue;
            }
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            found.push(read_series(&file, &category_name, &stem)?);
        }
    }
    if found.is_empty() {
        bail!("no <category>/<file>.csv files under {}", data.display());
    }
    found.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(found)
}

fn sorted_entries(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot list {}", dir.display()))?;
    entries.sort();
    Ok(entries)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock change (an hour repeated) is kept in file order and said,
    /// not a refusal of the whole run.
    #[test]
    fn a_step_back_in_time_is_kept_in_file_order_with_a_warning() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("clock.csv");
        std::fs::write(
            &path,
            "timestamp,value\n2014-11-02 01:30:00,1\n2014-11-02 01:45:00,2\n2014-11-02 01:00:00,3\n2014-11-02 01:15:00,4\n",
        )
        .expect("write");
        let series = read_series(&path, "realX", "clock").expect("read");
        assert_eq!(series.values, vec![1.0, 2.0, 3.0, 4.0], "file order");
        assert_eq!(series.warnings.len(), 1, "{:?}", series.warnings);
        assert!(
            series.warnings[0].ends_with(
                "clock.csv:4: timestamp 2014-11-02 01:00:00 is earlier than the row before it (2014-11-02 01:45:00); kept in file order"
            ),
            "{}",
            series.warnings[0]
        );
    }

    #[test]
    fn timestamps_with_and_without_fraction() {
        let a = parse_timestamp("2014-04-10 07:15:00").expect("plain");
        let b = parse_timestamp("2014-04-10 07:15:00.000000").expect("fraction");
        assert_eq!(a, b);
        assert!(parse_timestamp("2014-04-10T07:15").is_none());
        assert!(parse_timestamp("yesterday").is_none());
    }
}
