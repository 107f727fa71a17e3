//! Streaming log template mining and log signals.
//!
//! Lines go through [`Templates::observe`] (one [`Miner`] per service): the
//! line is taken apart ([`extract`]: JSON, logfmt or plain), its variables
//! are masked ([`mask`]: `<IP>`, `<UUID>`, `<HEX>`, `<NUM>`, `<ID>`, `<TS>`)
//! and the result is grouped by Drain into templates with stable ids.
//! [`LogSignals`] turns the observations into signals: new templates,
//! rate shifts, error bursts.
//!
//! Pure and deterministic: time is an input and nothing reads the clock, so
//! the same lines in the same order give the same templates, ids and
//! signals, in tests with simulated time and in replays.

mod drain;
pub mod extract;
mod id;
mod json;
mod level;
pub mod mask;
mod plain;
mod registry;
mod signals;
mod snapshot;

pub use drain::{Miner, MinerConfig, MinerStats, Observation, TemplateInfo, WILDCARD};
pub use extract::{Extracted, Format, Preprocessor, extract};
pub use id::TemplateId;
pub use level::Level;
pub use mask::{Mask, MaskConfig};
pub use registry::{OVERFLOW_SERVICE, Templates, TemplatesConfig, TemplatesSnapshot};
pub use signals::{Direction, LogSignal, LogSignalKind, LogSignals, SignalsConfig};
pub use snapshot::{MinerSnapshot, RestoreError, SNAPSHOT_VERSION, TemplateSnapshot};
