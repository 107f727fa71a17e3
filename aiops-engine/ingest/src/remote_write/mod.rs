//! Prometheus remote-write, both protocol versions on one endpoint, told
//! apart by Content-Type as the 2.0 specification describes.

mod v1;
mod v2;

pub use v1::encode as encode_remote_write_v1;
pub use v2::encode as encode_remote_write_v2;

use aiops_core::model::{IgnoredParts, SampleBatch, SeriesRef, SeriesSamples};

use crate::error::IngestError;
use crate::limits::Limits;
use crate::media_type::{MediaType, content_encoding};
use crate::snappy;

/// Which protobuf message a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteWriteVersion {
    /// `prometheus.WriteRequest` (remote-write 1.0).
    V1,
    /// `io.prometheus.write.v2.Request` (remote-write 2.0).
    V2,
}

impl RemoteWriteVersion {
    /// The Content-Type a sender of this version sends.
    pub fn content_type(self) -> &'static str {
        match self {
            RemoteWriteVersion::V1 => "application/x-protobuf",
            RemoteWriteVersion::V2 => "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        }
    }

    /// The `X-Prometheus-Remote-Write-Version` header a sender of this version sends.
    pub fn version_header(self) -> &'static str {
        match self {
            RemoteWriteVersion::V1 => "0.1.0",
            RemoteWriteVersion::V2 => "2.0.0",
        }
    }
}

pub const SAMPLES_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Samples-Written";
pub const HISTOGRAMS_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Histograms-Written";
pub const EXEMPLARS_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Exemplars-Written";

/// What a 2.0 receiver reports back in the `X-Prometheus-Remote-Write-*-Written`
/// headers.
///
/// The spec asks for the number of each kind *successfully written*, 0
/// included. The engine stores float samples only: histograms and exemplars
/// are decoded, counted in [`aiops_core::model::IgnoredParts`] and dropped,
/// so they are reported as 0 written. A sender then sees honestly that they
/// were not kept (Prometheus logs a request with data but nothing written).
/// `samples` is what the decoder accepted; a server whose store drops some of
/// them should lower it before answering.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WrittenCounts {
    pub samples: u64,
    pub histograms: u64,
    pub exemplars: u64,
}

impl WrittenCounts {
    /// The three response headers, with their values.
    pub fn headers(&self) -> [(&'static str, u64); 3] {
        [
            (SAMPLES_WRITTEN_HEADER, self.samples),
            (HISTOGRAMS_WRITTEN_HEADER, self.histograms),
            (EXEMPLARS_WRITTEN_HEADER, self.exemplars),
        ]
    }
}

/// A decoded, validated remote-write request.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWriteDecoded {
    pub version: RemoteWriteVersion,
    /// Series with at least one float sample, labels sorted and checked.
    /// Series that carried only histograms or exemplars are counted in
    /// `batch.ignored` and left out.
    pub batch: SampleBatch,
    pub written: WrittenCounts,
}

impl RemoteWriteDecoded {
    /// The `-Written` headers to answer with: the three for a 2.0 request,
    /// none for 1.0 (whose senders do not read them).
    pub fn response_headers(&self) -> Vec<(&'static str, u64)> {
        match self.version {
            RemoteWriteVersion::V1 => Vec::new(),
            RemoteWriteVersion::V2 => self.written.headers().to_vec(),
        }
    }
}

/// A decoded, validated request lent to a closure: series whose strings
/// borrow from the decompressed body, which is what the store's hot path
/// takes. Same checks and contents as [`RemoteWriteDecoded`].
#[derive(Debug, Clone, Copy)]
pub struct RemoteWriteView<'a> {
    pub version: RemoteWriteVersion,
    pub series: &'a [SeriesRef<'a>],
    pub ignored: IgnoredParts,
    pub written: WrittenCounts,
}

const EXPECTED_CONTENT_TYPE: &str = "application/x-protobuf, optionally with ;proto=prometheus.WriteRequest or ;proto=io.prometheus.write.v2.Request";

/// Picks the protocol from the Content-Type header: `application/x-protobuf`
/// alone or with `proto=prometheus.WriteRequest` is 1.0, with
/// `proto=io.prometheus.write.v2.Request` is 2.0. An absent header is 1.0, as
/// Prometheus' own receiver assumes; anything else is 415, which tells a 2.0
/// sender to fall back to another message.
pub fn negotiate_version(content_type: Option<&str>) -> Result<RemoteWriteVersion, IngestError> {
    let Some(media_type) = MediaType::parse(content_type) else {
        return Ok(RemoteWriteVersion::V1);
    };
    let unsupported = || IngestError::UnsupportedContentType {
        content_type: crate::error::excerpt(content_type.unwrap_or_default()),
        expected: EXPECTED_CONTENT_TYPE,
    };
    if media_type.essence != "application/x-protobuf" {
        return Err(unsupported());
    }
    match media_type.param("proto") {
        None | Some("prometheus.WriteRequest") => Ok(RemoteWriteVersion::V1),
        Some("io.prometheus.write.v2.Request") => Ok(RemoteWriteVersion::V2),
        Some(_) => Err(unsupported()),
    }
}

/// Only snappy exists in both versions; an absent header is taken as snappy,
/// as Prometheus' receiver does.
fn check_encoding(content_encoding_header: Option<&str>) -> Result<(), IngestError> {
    match content_encoding(content_encoding_header) {
        None => Ok(()),
        Some(encoding) if encoding == "snappy" => Ok(()),
        Some(encoding) => Err(IngestError::UnsupportedContentEncoding {
            encoding: crate::error::excerpt(&encoding),
            expected: "snappy",
        }),
    }
}

/// Decodes and validates one remote-write request body.
///
/// Order of checks, cheapest first: headers (415), body size and the snappy
/// header's decoded length (413), then the decode, which counts series,
/// samples and labels per series against the limits as it goes (413/400),
/// and rejects malformed protobuf, invalid UTF-8 and invalid label sets
/// (400). Any invalid series rejects the whole request: Prometheus does not
/// retry a 400, and a partial write would have to be reported as one anyway.
/// Stale markers pass through untouched.
pub fn decode_remote_write(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
    limits: &Limits,
) -> Result<RemoteWriteDecoded, IngestError> {
    decode_remote_write_with(content_type, content_encoding, body, limits, |view| {
        let series = view
            .series
            .iter()
            .map(|series| SeriesSamples {
                labels: series
                    .labels
                    .iter()
                    .map(|&(n, v)| (n.to_owned(), v.to_owned()))
                    .collect(),
                samples: series.samples.to_vec(),
            })
            .collect();
        RemoteWriteDecoded {
            version: view.version,
            batch: SampleBatch {
                series,
                ignored: view.ignored,
            },
            written: view.written,
        }
    })
}

/// [`decode_remote_write`] without copying label strings: the decoded
/// request is lent to `use_view` (e.g. to append it to the store) while the
/// decompressed body is alive.
pub fn decode_remote_write_with<R>(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
    limits: &Limits,
    use_view: impl FnOnce(&RemoteWriteView<'_>) -> R,
) -> Result<R, IngestError> {
    let version = negotiate_version(content_type)?;
    check_encoding(content_encoding)?;
    let raw = snappy::decompress(body, limits)?;
    let written = |series: &[SeriesRef<'_>]| WrittenCounts {
        samples: series.iter().map(|s| s.samples.len() as u64).sum(),
        histograms: 0,
        exemplars: 0,
    };
    match version {
        RemoteWriteVersion::V1 => {
            let decoded = v1::decode(&raw, limits)?;
            let series = decoded.series();
            Ok(use_view(&RemoteWriteView {
                version,
                series: &series,
                ignored: decoded.ignored,
                written: written(&series),
            }))
        }
        RemoteWriteVersion::V2 => {
            let batch = v2::decode(&raw, limits)?;
            Ok(batch.with_refs(|series| {
                use_view(&RemoteWriteView {
                    version,
                    series,
                    ignored: batch.ignored,
                    written: written(series),
                })
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_versions_like_the_spec() {
        let v1 = [
            None,
            Some(""),
            Some("application/x-protobuf"),
            Some("application/x-protobuf;proto=prometheus.WriteRequest"),
            Some("Application/X-Protobuf; proto=\"prometheus.WriteRequest\""),
        ];
        for header in v1 {
            assert_eq!(
                negotiate_version(header),
                Ok(RemoteWriteVersion::V1),
                "{header:?}"
            );
        }
        let v2 = [
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            "application/x-protobuf ; proto=io.prometheus.write.v2.Request ; charset=x",
        ];
        for header in v2 {
            assert_eq!(
                negotiate_version(Some(header)),
                Ok(RemoteWriteVersion::V2),
                "{header}"
            );
        }
        for bad in [
            "application/json",
            "text/plain",
            "application/x-protobuf;proto=io.prometheus.write.v3.Request",
            "application/x-protobuf;proto=",
        ] {
            let error = negotiate_version(Some(bad)).unwrap_err();
            assert_eq!(error.status(), 415, "{bad}");
            assert_eq!(error.reason(), "unsupported_content_type");
        }
    }

    #[test]
    fn encodings() {
        assert_eq!(check_encoding(None), Ok(()));
        assert_eq!(check_encoding(Some("snappy")), Ok(()));
        assert_eq!(check_encoding(Some("SNAPPY")), Ok(()));
        for bad in ["gzip", "zstd", "snappy, gzip"] {
            let error = check_encoding(Some(bad)).unwrap_err();
            assert_eq!(error.status(), 415);
            assert_eq!(error.reason(), "unsupported_content_encoding");
        }
    }

    #[test]
    fn headers_name_what_was_written() {
        let decoded = RemoteWriteDecoded {
            version: RemoteWriteVersion::V2,
            batch: SampleBatch::default(),
            written: WrittenCounts {
                samples: 3,
                histograms: 0,
                exemplars: 0,
            },
        };
        assert_eq!(
            decoded.response_headers(),
            vec![
                ("X-Prometheus-Remote-Write-Samples-Written", 3),
                ("X-Prometheus-Remote-Write-Histograms-Written", 0),
                ("X-Prometheus-Remote-Write-Exemplars-Written", 0),
            ]
        );
        let v1 = RemoteWriteDecoded {
            version: RemoteWriteVersion::V1,
            ..decoded
        };
        assert!(v1.response_headers().is_empty());
    }
}
