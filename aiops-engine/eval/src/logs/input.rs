//! Reading a raw log and its Loghub structured CSV, with errors that name
//! the file and line.

use std::path::Path;

use anyhow::{Context, bail};

/// One row of the truth: Loghub's `LineId`, `Content` and `EventTemplate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruthRow {
    pub line_id: String,
    pub content: String,
    pub template: String,
    /// The optional `Service` column (the shop's labelled corpus has it).
    pub service: Option<String>,
}

/// The columns the truth must have.
const NEEDED: [&str; 3] = ["LineId", "Content", "EventTemplate"];

/// Reads a Loghub `*_structured.csv`: a header row naming at least
/// `LineId`, `Content` and `EventTemplate`, in any order, then one row per
/// log line; fields may be quoted (commas, quotes, newlines inside).
pub fn read_truth(path: &Path) -> anyhow::Result<Vec<TruthRow>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the truth file {}", path.display()))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(std::io::BufReader::new(file));
    let headers = reader.headers().map_err(|e| csv_error(path, &e))?.clone();
    let mut index = [0usize; 3];
    for (slot, name) in index.iter_mut().zip(NEEDED) {
        *slot = headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
            .with_context(|| {
                format!(
                    "{}: line 1: the header has no {name} column (it has: {})",
                    path.display(),
                    headers.iter().collect::<Vec<_>>().join(", ")
                )
            })?;
    }
    let service = headers.iter().position(|h| h == "Service");
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, &e))?;
        let field = |i: usize| record.get(index[i]).unwrap_or_default().to_string();
        rows.push(TruthRow {
            line_id: field(0),
            content: field(1),
            template: field(2),
            service: service.and_then(|i| record.get(i)).map(str::to_string),
        });
    }
    Ok(rows)
}

fn csv_error(path: &Path, e: &csv::Error) -> anyhow::Error {
    let line = e.position().map(|p| p.line());
    match (line, e.kind()) {
        (Some(line), csv::ErrorKind::Utf8 { .. }) => {
            anyhow::anyhow!("{}: line {line}: not valid UTF-8", path.display())
        }
        (Some(line), _) => anyhow::anyhow!("{}: line {line}: {e}", path.display()),
        (None, _) => anyhow::anyhow!("{}: {e}", path.display()),
    }
}

/// Reads a raw log, one entry per line (`\n`, with or without `\r`).
/// A final newline does not make an empty last entry.
pub fn read_log(path: &Path) -> anyhow::Result<Vec<String>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the log file {}", path.display()))?;
    let mut lines = Vec::new();
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    if body.is_empty() && bytes.len() <= 1 {
        return Ok(lines);
    }
    for (n, raw) in body.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        match std::str::from_utf8(raw) {
            Ok(s) => lines.push(s.to_string()),
            Err(e) => bail!(
                "{}: line {}: not valid UTF-8 (at byte {} of the line)",
                path.display(),
                n + 1,
                e.valid_up_to()
            ),
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, body: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("aiops-eval-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let p = dir.join(name);
        std::fs::write(&p, body).expect("write");
        p
    }

    #[test]
    fn quoted_fields_and_column_order() {
        let p = temp(
            "q.csv",
            b"EventTemplate,LineId,Content\n\"a, \"\"b\"\" <*>\",1,\"a, \"\"b\"\" 7\"\nc,2,c\n",
        );
        let rows = read_truth(&p).expect("reads");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].content, "a, \"b\" 7");
        assert_eq!(rows[0].template, "a, \"b\" <*>");
        assert_eq!(rows[1].line_id, "2");
    }

    #[test]
    fn missing_column_is_named() {
        let p = temp("m.csv", b"LineId,Content\n1,x\n");
        let e = read_truth(&p).expect_err("no template column").to_string();
        assert!(e.contains("EventTemplate") && e.contains("m.csv"), "{e}");
    }

    #[test]
    fn log_lines_and_bad_utf8() {
        let p = temp("a.log", b"one\r\ntwo\n\nfour\n");
        assert_eq!(read_log(&p).expect("reads"), ["one", "two", "", "four"]);
        let p = temp("b.log", b"ok\nbad \xff here\n");
        let e = read_log(&p).expect_err("bad utf-8").to_string();
        assert!(e.contains("b.log: line 2"), "{e}");
        let p = temp("c.log", b"");
        assert!(read_log(&p).expect("empty").is_empty());
    }
}
