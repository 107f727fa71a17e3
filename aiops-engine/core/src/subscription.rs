//! Fan-out of appended data to in-process consumers (detectors, live tails)
//! without copying: each append publishes one `Arc`, and every subscriber
//! gets a clone of that same `Arc`. The channel is bounded; a subscriber
//! that falls behind loses the oldest batches, sees `Lagged`, and the loss
//! is counted so it shows up in the engine's own metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

/// The sending side, owned by a store.
pub struct Feed<T> {
    sender: broadcast::Sender<Arc<T>>,
    lagged: Arc<AtomicU64>,
}

impl<T> Feed<T> {
    /// `capacity` is clamped to at least 1 (tokio panics on 0).
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Feed {
            sender,
            lagged: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Lets a store skip building a batch nobody will read.
    pub fn has_subscribers(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    pub fn publish(&self, batch: Arc<T>) {
        // an error only means nobody is subscribed right now
        let _ = self.sender.send(batch);
    }

    pub fn subscribe(&self) -> Subscription<T> {
        Subscription {
            receiver: self.sender.subscribe(),
            lagged: Arc::clone(&self.lagged),
        }
    }

    /// Batches subscribers missed by lagging, summed over all subscribers.
    pub fn lagged_total(&self) -> u64 {
        self.lagged.load(Ordering::Relaxed)
    }
}

/// A receiver that counts what it missed. `recv` and `try_recv` behave as
/// tokio's: after `Lagged(n)` the next call returns the oldest batch still
/// buffered.
pub struct Subscription<T> {
    receiver: broadcast::Receiver<Arc<T>>,
    lagged: Arc<AtomicU64>,
}

impl<T> Subscription<T> {
    pub async fn recv(&mut self) -> Result<Arc<T>, RecvError> {
        let received = self.receiver.recv().await;
        if let Err(RecvError::Lagged(missed)) = &received {
            self.lagged.fetch_add(*missed, Ordering::Relaxed);
        }
        received
    }

    pub fn try_recv(&mut self) -> Result<Arc<T>, TryRecvError> {
        let received = self.receiver.try_recv();
        if let Err(TryRecvError::Lagged(missed)) = &received {
            self.lagged.fetch_add(*missed, Ordering::Relaxed);
        }
        received
    }

    /// The bare tokio receiver, for `select!`-style code that handles
    /// `Lagged` itself; its losses are then no longer counted.
    pub fn into_receiver(self) -> broadcast::Receiver<Arc<T>> {
        self.receiver
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_counted_once_per_missed_batch() {
        let feed = Feed::new(2);
        let mut slow = feed.subscribe();
        for i in 0..5 {
            feed.publish(Arc::new(i));
        }
        assert!(matches!(slow.try_recv(), Err(TryRecvError::Lagged(3))));
        assert_eq!(feed.lagged_total(), 3);
        assert_eq!(*slow.try_recv().unwrap(), 3);
        assert_eq!(*slow.try_recv().unwrap(), 4);
        assert!(matches!(slow.try_recv(), Err(TryRecvError::Empty)));
    }

    #[tokio::test]
    async fn async_recv_counts_lag_too() {
        let feed = Feed::new(1);
        let mut slow = feed.subscribe();
        feed.publish(Arc::new("a"));
        feed.publish(Arc::new("b"));
        assert!(matches!(slow.recv().await, Err(RecvError::Lagged(1))));
        assert_eq!(*slow.recv().await.unwrap(), "b");
        assert_eq!(feed.lagged_total(), 1);
    }
}
