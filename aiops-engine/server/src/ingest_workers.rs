//! The threads that decode, store and mine what is pushed: one per core
//! the engine may use, and at a lower priority than the runtime's. Under
//! overload the console, the query API and detection still get the CPU;
//! intake slows instead, its slots fill, and senders are answered 429.

use std::panic::AssertUnwindSafe;

/// Niceness of the workers: a CPU weight of 110 against the runtime's
/// 1024 (niceness 0), so a page render waits for a few percent of a core,
/// not for the intake's backlog.
pub const WORKER_NICENESS: i32 = 10;

pub struct IngestWorkers {
    pool: rayon::ThreadPool,
}

/// The pool was shut down before it ran the work: only when the engine stops.
#[derive(Debug, thiserror::Error)]
#[error("the ingest workers have stopped")]
pub struct WorkersStopped;

impl IngestWorkers {
    /// `threads` workers; `std::thread::available_parallelism` is the
    /// usual count (it follows a cgroup's CPU limit).
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("aiops-ingest-{i}"))
            .start_handler(|_| lower_priority())
            .build()
            .map_err(std::io::Error::other)?;
        Ok(IngestWorkers { pool })
    }

    /// One worker per core this process may use.
    pub fn per_core() -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(cores)
    }

    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Runs `work` on a worker; a panic in it resumes in the caller, as
    /// if the work had run there.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, WorkersStopped> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            // a panic must not abort the process (rayon's default for spawn)
            let _ = done.send(std::panic::catch_unwind(AssertUnwindSafe(work)));
        });
        match result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => Err(WorkersStopped),
        }
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn lower_priority() {
    // SAFETY: setpriority takes three integers and touches no memory of
    // ours. On Linux, niceness is per thread, and PRIO_PROCESS with who 0
    // names the calling thread only (a documented departure from POSIX).
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, WORKER_NICENESS) };
    if rc != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "ingest worker keeps the runtime's priority; under overload, intake competes with the console"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The calling thread's niceness and name, as the kernel reports them.
    fn nice_and_name_of_this_thread() -> (i32, String) {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        let name = stat[stat.find('(').expect("(") + 1..stat.rfind(')').expect(")")].to_owned();
        // after the name: state is field 3, nice field 19
        let rest: Vec<&str> = stat[stat.rfind(')').expect(")") + 1..]
            .split_whitespace()
            .collect();
        (rest[16].parse().expect("nice"), name)
    }

    #[tokio::test]
    async fn work_runs_on_named_threads_at_lower_priority() {
        let workers = IngestWorkers::new(2).expect("pool");
        assert_eq!(workers.threads(), 2);
        let (nice, name) = workers
            .run(nice_and_name_of_this_thread)
            .await
            .expect("ran");
        assert_eq!(nice, WORKER_NICENESS);
        // the kernel keeps 15 bytes of a thread's name
        assert!(name.starts_with("aiops-ingest-"), "{name}");
        let (runtime_nice, _) = nice_and_name_of_this_thread();
        assert_eq!(runtime_nice, 0, "the caller's thread is not lowered");
    }

    #[tokio::test]
    async fn a_panic_in_the_work_reaches_the_caller_and_the_pool_goes_on() {
        let workers = std::sync::Arc::new(IngestWorkers::new(1).expect("pool"));
        let shared = workers.clone();
        let caught = tokio::spawn(async move {
            let _ = shared.run(|| panic!("bad batch")).await;
        })
        .await;
        assert!(caught.expect_err("panicked").is_panic());
        assert_eq!(workers.run(|| 7).await.expect("ran"), 7);
    }
}
