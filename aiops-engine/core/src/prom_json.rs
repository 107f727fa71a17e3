//! The JSON bodies of Prometheus' HTTP API, so Grafana and other clients
//! read the engine as a Prometheus data source:
//!
//! - series: `{"status":"success","data":[{"__name__":"up","job":"x"}]}`
//! - matrix: `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{..},"values":[[1700000000.5,"1"]]}]}}`
//! - error:  `{"status":"error","errorType":"bad_data","error":"..."}`

use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

use crate::labels::Labels;
use crate::query::{QueryError, RangeSeries};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Success,
    Error,
}

/// Prometheus' `errorType` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    BadData,
    Execution,
    Timeout,
    Canceled,
    Internal,
    Unavailable,
    NotFound,
}

impl ErrorType {
    /// The HTTP status Prometheus answers with for this error type.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorType::BadData => 400,
            ErrorType::Execution => 422,
            ErrorType::Canceled | ErrorType::Timeout => 503,
            ErrorType::Internal => 500,
            ErrorType::Unavailable => 503,
            ErrorType::NotFound => 404,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesResponse {
    pub status: Status,
    pub data: Vec<Labels>,
}

impl SeriesResponse {
    pub fn new(data: Vec<Labels>) -> Self {
        SeriesResponse {
            status: Status::Success,
            data,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultType {
    Matrix,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixResponse {
    pub status: Status,
    pub data: MatrixData,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatrixData {
    pub result_type: ResultType,
    pub result: Vec<MatrixSeries>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixSeries {
    pub metric: Labels,
    pub values: Vec<PromPoint>,
}

impl MatrixResponse {
    pub fn new(series: Vec<RangeSeries>) -> Self {
        let result = series
            .into_iter()
            .map(|s| MatrixSeries {
                metric: s.labels,
                values: s
                    .points
                    .into_iter()
                    .map(|(ts_ms, value)| PromPoint { ts_ms, value })
                    .collect(),
            })
            .collect();
        MatrixResponse {
            status: Status::Success,
            data: MatrixData {
                result_type: ResultType::Matrix,
                result,
            },
        }
    }
}

/// `[<unix seconds>, "<value>"]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PromPoint {
    pub ts_ms: i64,
    pub value: f64,
}

impl Serialize for PromPoint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(2)?;
        // whole seconds as an integer, as Prometheus writes them; otherwise
        // the shortest float: 1.78 where Prometheus writes 1.780, the same number
        if self.ts_ms % 1000 == 0 {
            tuple.serialize_element(&(self.ts_ms / 1000))?;
        } else {
            tuple.serialize_element(&(self.ts_ms as f64 / 1000.0))?;
        }
        tuple.serialize_element(&format_value(self.value))?;
        tuple.end()
    }
}

/// A sample value as Prometheus writes it (Go's `FormatFloat(v, 'f', -1,
/// 64)`): shortest round-tripping digits, never an exponent, and `NaN`,
/// `+Inf`, `-Inf`. Rust's `Display` for `f64` has the same digits rule.
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 {
            "+Inf".to_owned()
        } else {
            "-Inf".to_owned()
        };
    }
    value.to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    pub status: Status,
    pub error_type: ErrorType,
    pub error: String,
}

impl ErrorResponse {
    pub fn new(error_type: ErrorType, error: impl Into<String>) -> Self {
        ErrorResponse {
            status: Status::Error,
            error_type,
            error: error.into(),
        }
    }

    pub fn bad_data(error: impl Into<String>) -> Self {
        ErrorResponse::new(ErrorType::BadData, error)
    }
}

impl From<&QueryError> for ErrorResponse {
    fn from(err: &QueryError) -> Self {
        ErrorResponse::new(err.error_type(), err.to_string())
    }
}

impl From<&crate::selector::SelectorError> for ErrorResponse {
    fn from(err: &crate::selector::SelectorError) -> Self {
        ErrorResponse::bad_data(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_format_as_prometheus() {
        let cases = [
            (1.0, "1"),
            (0.1, "0.1"),
            (-0.0, "-0"),
            (1e21, "1000000000000000000000"),
            (1.5e-7, "0.00000015"),
            (123456.789, "123456.789"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::from_bits(crate::model::STALE_NAN_BITS), "NaN"),
        ];
        for (v, s) in cases {
            assert_eq!(format_value(v), s);
        }
    }

    #[test]
    fn series_json() {
        let body =
            SeriesResponse::new(vec![Labels::from_pairs([("job", "x"), ("__name__", "up")])]);
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"status":"success","data":[{"__name__":"up","job":"x"}]}"#
        );
        assert_eq!(
            serde_json::to_string(&SeriesResponse::new(vec![])).unwrap(),
            r#"{"status":"success","data":[]}"#
        );
    }

    #[test]
    fn matrix_json() {
        let body = MatrixResponse::new(vec![RangeSeries {
            labels: Labels::from_pairs([("__name__", "up")]),
            points: vec![
                (1_435_781_430_000, 1.0),
                (1_435_781_430_781, f64::INFINITY),
                (-1_500, 0.5),
            ],
        }]);
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up"},"values":[[1435781430,"1"],[1435781430.781,"+Inf"],[-1.5,"0.5"]]}]}}"#
        );
    }

    #[test]
    fn error_json() {
        let body = ErrorResponse::from(&QueryError::NonPositiveStep);
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"status":"error","errorType":"bad_data","error":"zero or negative query resolution step widths are not accepted; try a positive integer"}"#
        );
        let parsed: ErrorResponse =
            serde_json::from_str(r#"{"status":"error","errorType":"execution","error":"x"}"#)
                .unwrap();
        assert_eq!(parsed, ErrorResponse::new(ErrorType::Execution, "x"));
        assert_eq!(ErrorType::BadData.http_status(), 400);
    }
}
