//! From telemetry to incidents: service signals derived from the store,
//! streaming detectors over them, log template signals, changes and alerts,
//! grouped into incidents by time and the dependency graph, with the likely
//! root cause ranked. Pure and deterministic: time is always an argument.

pub mod analyzer;
pub mod changes;
pub mod correlate;
pub mod derive;
pub mod graph;
pub mod history;
pub mod incident;
pub mod logs;
pub mod rank;
pub mod rules;
pub mod severity;
pub mod signal;
pub mod similar;
pub mod watch;

pub use aiops_templates::TemplatesSnapshot;
pub use analyzer::{AnalysisConfig, Analyzer, Deriver, LogFeed, ServiceView};
pub use changes::{OutsideChange, OutsideChangeKind};
pub use correlate::{Correlator, CorrelatorConfig, LifecycleError};
pub use graph::Graph;
pub use history::{Column, History, HistoryConfig};
pub use incident::{Cause, Incident, IncidentState, Member, TimelineEntry, WindowCause};
pub use rules::RulesFile;
pub use severity::Severity;
pub use signal::{Direction, Signal, SignalKind, Weight};
pub use similar::{Fingerprint, PastAction, PastIncident, SimilarIncident, SimilarIndex};
