//! Watches a stack's containers: looks on every container event Docker
//! reports (start, die, destroy), every network (dis)connection, and on an
//! interval besides, in case the event stream drops, and hands the changes
//! the tracker finds to the caller.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::EventsOptionsBuilder;
use futures::StreamExt;
use tokio::sync::watch as signal;

use crate::client::DockerTarget;
use crate::tracker::{ChangeTracker, ContainerChange};

#[derive(Debug, Clone, PartialEq)]
pub struct WatchConfig {
    /// Looks at least this often, events or not.
    pub poll_every: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            poll_every: Duration::from_secs(5),
        }
    }
}

/// An event is followed by more (die, then start): look once they settle.
const EVENT_SETTLE: Duration = Duration::from_millis(250);
/// Waits before subscribing again after the event stream ended or failed.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(5);

/// Runs until `stop` turns true. `now_ms` is the engine's clock;
/// `on_changes` gets every batch of changes with the time of the look.
pub async fn watch(
    target: DockerTarget,
    config: WatchConfig,
    now_ms: impl Fn() -> i64,
    mut on_changes: impl FnMut(Vec<ContainerChange>, i64),
    mut stop: signal::Receiver<bool>,
) {
    let mut tracker = ChangeTracker::new();
    let mut ticker = tokio::time::interval(config.poll_every.max(Duration::from_millis(100)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    let mut events = subscribe(&target);
    let mut resubscribe_at: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            event = events.next(), if resubscribe_at.is_none() => {
                match event {
                    Some(Ok(_)) => tokio::time::sleep(EVENT_SETTLE).await,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "docker event stream failed; polling until it is back");
                        resubscribe_at = Some(tokio::time::Instant::now() + RESUBSCRIBE_AFTER);
                    }
                    None => {
                        resubscribe_at = Some(tokio::time::Instant::now() + RESUBSCRIBE_AFTER);
                    }
                }
            }
            _ = stop.changed() => return,
        }
        if resubscribe_at.is_some_and(|at| at <= tokio::time::Instant::now()) {
            resubscribe_at = None;
            events = subscribe(&target);
        }
        match target.containers().await {
            Ok(containers) => {
                if std::mem::take(&mut failing) {
                    tracing::info!("docker engine answers again");
                }
                let now = now_ms();
                let changes = tracker.observe(&containers, now);
                if !changes.is_empty() {
                    on_changes(changes, now);
                }
            }
            Err(e) => {
                // said once per outage, not every poll
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(error = %e, "cannot list the stack's containers; retrying");
                }
            }
        }
    }
}

type Events = std::pin::Pin<
    Box<
        dyn futures::Stream<Item = Result<bollard::models::EventMessage, bollard::errors::Error>>
            + Send,
    >,
>;

/// Container events of the stack, and network (dis)connections: those are
/// the network's events, which carry its labels, not the container's, so
/// they come unfiltered by label and the next look finds whose they were.
fn subscribe(target: &DockerTarget) -> Events {
    let mut containers: HashMap<&str, Vec<String>> = HashMap::new();
    containers.insert("type", vec!["container".into()]);
    containers.insert(
        "event",
        ["start", "die", "destroy", "restart"]
            .map(String::from)
            .to_vec(),
    );
    containers.insert("label", vec![target.selector().service_label.clone()]);
    let mut networks: HashMap<&str, Vec<String>> = HashMap::new();
    networks.insert("type", vec!["network".into()]);
    networks.insert("event", vec!["connect".into(), "disconnect".into()]);
    let client = target.client();
    Box::pin(futures::stream::select(
        client.events(Some(
            EventsOptionsBuilder::new().filters(&containers).build(),
        )),
        client.events(Some(EventsOptionsBuilder::new().filters(&networks).build())),
    ))
}
