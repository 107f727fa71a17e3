//! The one process supervisor of the project: `shop up`, `aiops demo` (through
//! `shop up`) and the chaos harness keep their processes running with it.
//! Each process has a restart policy, a release (a version and the settings
//! that came with it) with the one before it kept for a roll-back, and a
//! state anyone can read. [`control`] serves restart, deploy, roll back and
//! state over a small authenticated HTTP API, and [`client`] speaks it: that
//! is how the engine's remediation acts on processes it did not start,
//! without linking any of their code.
//!
//! ```
//! # tokio_test_block(async {
//! use supervisor::{Options, Output, Spec, Supervisor};
//!
//! let sup = Supervisor::new();
//! let spec = Spec { program: "sleep".into(), args: vec!["30".into()], env: vec![] };
//! sup.start("napper", spec, Options { output: Output::Discard, ..Options::default() }).unwrap();
//! let before = sup.state("napper").unwrap();
//! let after = sup.restart("napper").await.unwrap();
//! assert_eq!(after.starts, before.starts.max(1) + 1);
//! assert_eq!(after.restarts, 1);
//! sup.stop_all(&[]).await;
//! # });
//! # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Runtime::new().unwrap().block_on(f)
//! # }
//! ```

pub mod client;
pub mod control;
mod process;

use std::sync::Arc;

use parking_lot::RwLock;

pub use process::{Options, Output, Process, ProcessState, Release, Spec, Status};

/// Why a request about a process was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("no process named {0:?}")]
    Unknown(String),
    #[error("a process named {0:?} is already supervised")]
    Duplicate(String),
    #[error("{0} has no previous release to roll back to")]
    NoPreviousRelease(String),
    #[error("{0} has too many requests queued; try again")]
    Busy(String),
    #[error("{0} is stopped")]
    Stopped(String),
    #[error("{0} could not be started: {1}")]
    Start(String, String),
}

/// The processes one program supervises, by name.
#[derive(Default)]
pub struct Supervisor {
    processes: RwLock<Vec<Arc<Process>>>,
}

impl Supervisor {
    pub fn new() -> Arc<Supervisor> {
        Arc::new(Supervisor::default())
    }

    /// Starts `spec` under `name` and keeps it running by `options`.
    pub fn start(&self, name: &str, spec: Spec, options: Options) -> Result<(), ControlError> {
        let mut processes = self.processes.write();
        if processes.iter().any(|p| p.name() == name) {
            return Err(ControlError::Duplicate(name.to_owned()));
        }
        processes.push(Arc::new(Process::start(name, spec, options)));
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<Arc<Process>> {
        self.processes
            .read()
            .iter()
            .find(|p| p.name() == name)
            .cloned()
    }

    fn find(&self, name: &str) -> Result<Arc<Process>, ControlError> {
        self.get(name)
            .ok_or_else(|| ControlError::Unknown(name.to_owned()))
    }

    pub fn state(&self, name: &str) -> Option<ProcessState> {
        self.get(name).map(|p| p.state())
    }

    /// Every process's state, in the order they were started.
    pub fn states(&self) -> Vec<ProcessState> {
        self.processes.read().iter().map(|p| p.state()).collect()
    }

    pub async fn restart(&self, name: &str) -> Result<ProcessState, ControlError> {
        self.find(name)?.restart().await
    }

    pub async fn deploy(&self, name: &str, release: Release) -> Result<ProcessState, ControlError> {
        self.find(name)?.deploy(release).await
    }

    pub async fn rollback(&self, name: &str) -> Result<ProcessState, ControlError> {
        self.find(name)?.rollback().await
    }

    /// A receiver that sees a new value after each start of `name`.
    pub fn starts(&self, name: &str) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.get(name).map(|p| p.starts())
    }

    /// Stops the processes named in `order` one after the other, then the
    /// rest in the reverse of their start order.
    pub async fn stop_all(&self, order: &[&str]) {
        let mut rest: Vec<Arc<Process>> = self.processes.read().clone();
        for name in order {
            if let Some(at) = rest.iter().position(|p| p.name() == *name) {
                rest.remove(at).stop().await;
            }
        }
        for process in rest.into_iter().rev() {
            process.stop().await;
        }
    }
}

#[cfg(test)]
mod tests;
