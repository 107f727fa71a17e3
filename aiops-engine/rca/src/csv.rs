//! RCAEval's `data.csv`: a `time` column in unix seconds, then one column
//! per `<service>_<metric>`, read with polars' CSV reader.
//!
//! Differences from RCAEval's loader (`pd.read_csv`, inf to NaN,
//! `ffill()`, `fillna(0)`), and why:
//! - gaps are filled forward for at most [`CsvOptions::max_fill_rows`]
//!   rows, not without end, and leading gaps are left empty rather than
//!   set to 0: a series that starts late would otherwise look like one
//!   that was constant at 0 and then jumped, which this ranking takes as
//!   strong evidence;
//! - a cell that is not a number is an error naming its line and column,
//!   not a silently parsed string column;
//! - columns without a `_` (no service to credit) are left out and
//!   listed in [`MetricFrame::dropped`].

use std::path::Path;

use polars::prelude::*;

use crate::error::{RcaError, Result};
use crate::frame::{ColumnKey, DroppedColumn, MetricFrame, TIME};

/// Files above this are refused before reading: RCAEval's largest case
/// (Train Ticket, a few hundred columns at 1 s for about an hour) is tens
/// of megabytes.
pub const MAX_CSV_BYTES: u64 = 1 << 30;

#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Longest run of missing rows filled with the last value.
    pub max_fill_rows: usize,
    /// Columns whose name ends with one of these are left out (RCAEval's
    /// loader leaves out `_latency-50`, keeping the 90th percentile).
    pub drop_suffixes: Vec<String>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            max_fill_rows: 5,
            drop_suffixes: Vec::new(),
        }
    }
}

impl MetricFrame {
    pub fn from_csv(path: &Path, options: &CsvOptions) -> Result<Self> {
        let bytes = std::fs::metadata(path)
            .map_err(|source| RcaError::Io {
                path: path.to_owned(),
                source,
            })?
            .len();
        if bytes > MAX_CSV_BYTES {
            return Err(RcaError::FileTooLarge {
                path: path.to_owned(),
                bytes,
                limit: MAX_CSV_BYTES,
            });
        }
        // the schema is inferred from every row, so a stray word deep in
        // the file turns its column into strings, found below with its
        // line, instead of failing the parse without one
        let data = CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(None)
            .with_raise_if_empty(false)
            .try_into_reader_with_file_path(Some(path.to_owned()))
            .and_then(|reader| reader.finish())
            .map_err(|e| RcaError::Csv {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        let Some(time_column) = data.columns().iter().find(|c| c.name().as_str() == TIME) else {
            let header: Vec<&str> = data
                .columns()
                .iter()
                .take(8)
                .map(|c| c.name().as_str())
                .collect();
            let more = if data.width() > 8 { ", ..." } else { "" };
            return Err(RcaError::NoTimeColumn {
                path: path.to_owned(),
                header: format!("{}{more}", header.join(", ")),
            });
        };
        if data.height() == 0 {
            return Err(RcaError::NoRows {
                path: path.to_owned(),
            });
        }
        let time_ms = time_millis(path, time_column)?;

        let mut columns = Vec::new();
        let mut dropped = Vec::new();
        for column in data.columns() {
            let name = column.name().as_str();
            if name == TIME {
                continue;
            }
            if let Some(reason) = left_out(name, options) {
                dropped.push(DroppedColumn {
                    column: name.to_owned(),
                    reason,
                });
                continue;
            }
            let Some(key) = ColumnKey::parse(name) else {
                dropped.push(DroppedColumn {
                    column: name.to_owned(),
                    reason: "no `_` between a service and a metric in its name".into(),
                });
                continue;
            };
            columns.push((key, numbers(path, column)?));
        }
        MetricFrame::assemble(
            &path.display().to_string(),
            time_ms,
            columns,
            dropped,
            options.max_fill_rows,
        )
    }
}

fn left_out(name: &str, options: &CsvOptions) -> Option<String> {
    // pandas writes a repeated `time` header back as `time.1`; polars
    // names it `time_duplicated_0`
    if name == "time.1" || name.starts_with("time_duplicated") {
        return Some("a second time column".into());
    }
    options
        .drop_suffixes
        .iter()
        .find(|suffix| name.ends_with(suffix.as_str()))
        .map(|suffix| format!("left out by name (ends with {suffix})"))
}

/// Line in the file of data row `row` (the header is line 1).
fn line_of(row: usize) -> usize {
    row + 2
}

fn numbers(path: &Path, column: &Column) -> Result<Vec<Option<f64>>> {
    let name = column.name().as_str();
    let series = column.as_materialized_series();
    if series.dtype().is_primitive_numeric() {
        let floats = series
            .cast(&DataType::Float64)
            .map_err(crate::error::polars(format!("column {name}")))?;
        let floats = floats
            .f64()
            .map_err(crate::error::polars(format!("column {name}")))?;
        return Ok(floats.iter().collect());
    }
    if let Ok(strings) = series.str() {
        let mut out = Vec::with_capacity(strings.len());
        for (row, cell) in strings.iter().enumerate() {
            let Some(cell) = cell else {
                out.push(None);
                continue;
            };
            match cell.trim().parse::<f64>() {
                Ok(value) => out.push(Some(value)),
                Err(_) => {
                    return Err(RcaError::NotNumeric {
                        path: path.to_owned(),
                        line: line_of(row),
                        column: name.to_owned(),
                        cell: cell.to_owned(),
                    });
                }
            }
        }
        return Ok(out);
    }
    // booleans, dates: name the first cell that is there
    let (row, cell) = (0..series.len())
        .find_map(|row| {
            let value = series.get(row).ok()?;
            (!value.is_null()).then(|| (row, value.to_string()))
        })
        .unwrap_or((0, String::new()));
    Err(RcaError::NotNumeric {
        path: path.to_owned(),
        line: line_of(row),
        column: name.to_owned(),
        cell,
    })
}

/// Unix seconds (integer or fractional) to milliseconds.
fn time_millis(path: &Path, column: &Column) -> Result<Vec<i64>> {
    let seconds = numbers(path, column)?;
    let mut out = Vec::with_capacity(seconds.len());
    for (row, value) in seconds.into_iter().enumerate() {
        let Some(value) = value else {
            return Err(RcaError::MissingTime {
                path: path.to_owned(),
                line: line_of(row),
            });
        };
        // a year-5000 bound keeps the millisecond product far inside i64
        if !value.is_finite() || value.abs() > 1e11 {
            return Err(RcaError::BadTime {
                path: path.to_owned(),
                line: line_of(row),
                value,
            });
        }
        out.push((value * 1000.0).round() as i64);
    }
    Ok(out)
}
