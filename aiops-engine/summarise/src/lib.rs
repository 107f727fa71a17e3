//! Incident summaries. The evidence (every item a summary may cite, each
//! with a stable id, redacted, ordered for a budget), redaction of whatever
//! the engine shows or sends, and the deterministic summary that is always
//! there. The LLM's summary, when one is configured, is checked against the
//! same evidence and falls back to this one.

pub mod context;
pub mod digest;
pub mod evidence;
pub mod llm;
pub mod prompts;
pub mod redact;
pub mod summary;
pub mod validate;
pub mod writer;

pub use digest::{DigestTracker, LogDigest, TemplateChange, TemplateCount};
pub use evidence::{EvidenceItem, LogExamples, gather, material_hash};
pub use llm::{Api, ChatClient, ModelEndpoint};
pub use redact::Redactor;
pub use summary::{PROMPT_VERSION, Summary, deterministic};
pub use writer::{Budgets, SummaryWriter, WriteReport};

#[cfg(test)]
mod real_model_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod writer_tests;
