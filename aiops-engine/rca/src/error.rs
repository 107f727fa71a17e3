//! What can go wrong building a frame or ranking it; every message names
//! the file, line, column or number that was wrong.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RcaError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {bytes} bytes, more than the {limit} this reader takes", path.display())]
    FileTooLarge {
        path: PathBuf,
        bytes: u64,
        limit: u64,
    },
    #[error("{}: not a readable csv: {message}", path.display())]
    Csv { path: PathBuf, message: String },
    #[error("{}: no `time` column (the header has: {header})", path.display())]
    NoTimeColumn { path: PathBuf, header: String },
    #[error("{}: no data rows after the header", path.display())]
    NoRows { path: PathBuf },
    #[error("{}: line {line}, column `{column}`: {cell:?} is not a number", path.display())]
    NotNumeric {
        path: PathBuf,
        line: usize,
        column: String,
        cell: String,
    },
    #[error("{}: line {line}: the `time` cell is empty", path.display())]
    MissingTime { path: PathBuf, line: usize },
    #[error("{}: line {line}: time {value} is not a unix time in seconds", path.display())]
    BadTime {
        path: PathBuf,
        line: usize,
        value: f64,
    },
    #[error(
        "{what}: {rows} rows x {columns} columns is more than the {limit} cells a frame may hold"
    )]
    TooManyCells {
        what: String,
        rows: usize,
        columns: usize,
        limit: usize,
    },
    #[error("no metric column to rank ({0})")]
    NoMetricColumns(String),
    #[error("series {index}: empty {field}")]
    EmptyName { index: usize, field: &'static str },
    #[error("series {service}/{metric} is given twice (or its column name `{column}` clashes)")]
    DuplicateSeries {
        service: String,
        metric: String,
        column: String,
    },
    #[error("the alignment step must be a positive number of milliseconds, not {0}")]
    BadStep(i64),
    #[error(
        "onset {onset_ms} ms is outside the data ({first_ms} ms to {last_ms} ms): nothing to compare"
    )]
    OnsetOutsideData {
        onset_ms: i64,
        first_ms: i64,
        last_ms: i64,
    },
    #[error(
        "only {rows} rows before the onset; at least {needed} are needed to learn the baseline"
    )]
    TooFewBefore { rows: usize, needed: usize },
    #[error("no column has enough values on both sides of the onset to be scored")]
    NothingScorable,
    #[error("polars: {context}: {message}")]
    Polars { context: String, message: String },
}

pub type Result<T> = std::result::Result<T, RcaError>;

/// Wraps an unexpected polars failure with what we were doing, so the
/// message still says where it happened.
pub(crate) fn polars(
    context: impl Into<String>,
) -> impl FnOnce(polars::error::PolarsError) -> RcaError {
    let context = context.into();
    move |e| RcaError::Polars {
        context,
        message: e.to_string(),
    }
}
