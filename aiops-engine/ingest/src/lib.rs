//! The engine's intake formats, decoded and validated into the model types
//! of `aiops_core::model`: Prometheus remote-write 1.0 and 2.0, Loki push
//! (protobuf and JSON), Alertmanager webhooks, and the scrape formats
//! (Prometheus text and OpenMetrics). Pure functions over bytes and
//! header values: no HTTP, no async, no I/O.
//!
//! Every decoder takes [`Limits`] and checks them before allocating for
//! what a sender claims (snappy's length header, protobuf element counts,
//! gzip output while reading). Every failure is an [`IngestError`] with an
//! HTTP status and a bounded reason label for a `rejected_total{reason}`
//! counter.
//!
//! The `.proto` files in `proto/` document the wire formats; [`proto`] holds
//! the matching hand-written prost messages.

mod alertmanager;
mod error;
mod exposition;
mod gzip;
mod labels;
mod limits;
mod loki;
mod media_type;
pub mod proto;
mod remote_write;
mod snappy;
mod wire;

pub use alertmanager::{decode_alertmanager, fingerprint as alert_fingerprint};
pub use error::{EXCERPT_CHARS, IngestError, Position};
pub use exposition::{
    ExposedSample, ExpositionError, ExpositionFormat, ExpositionLimits, parse_exposition,
};
pub use limits::Limits;
pub use loki::{
    DEFAULT_TENANT, decode_loki_push, encode_loki_push, encode_loki_push_json, format_selector,
    parse_selector,
};
pub use remote_write::{
    EXEMPLARS_WRITTEN_HEADER, HISTOGRAMS_WRITTEN_HEADER, RemoteWriteDecoded, RemoteWriteVersion,
    RemoteWriteView, SAMPLES_WRITTEN_HEADER, WrittenCounts, decode_remote_write,
    decode_remote_write_with, encode_remote_write_v1, encode_remote_write_v2, negotiate_version,
};

/// Raw compression helpers, for tests and the load tool.
pub mod compression {
    pub use crate::gzip::{compress as gzip_compress, decompress as gzip_decompress};
    pub use crate::snappy::{compress as snappy_compress, decompress as snappy_decompress};
}
