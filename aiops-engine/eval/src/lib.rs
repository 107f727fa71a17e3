//! `aiops eval`: measures the engine's detection on data in published
//! layouts, so anyone can reproduce the numbers on data the project has
//! never seen. Each subcommand lives in its own module; [`cli`] ties them
//! to the `aiops` binary.

pub mod chaos;
pub mod cli;
pub mod logs;
pub mod nab;
pub mod provenance;
#[cfg(feature = "rca")]
pub mod rca;
pub mod similar;
pub mod summaries;
