//! Live capacity events: one broadcast channel per gym.
//!
//! Stores publish a [`CapacityEntry`] whenever a slot's figures change (after
//! the change is durable); SSE handlers subscribe to the gym they stream.
//! Channels are per gym so a change wakes only that gym's subscribers.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use gym_core::GymId;
use gym_core::wire::CapacityEntry;
use tokio::sync::broadcast;

/// How many events a slow subscriber may fall behind before it is told it
/// lagged (and then gets a fresh snapshot instead of the missed events).
const CHANNEL_DEPTH: usize = 1024;

/// Fan-out of capacity changes to live subscribers, per gym.
#[derive(Clone, Default)]
pub struct EventHub {
    channels: Arc<RwLock<HashMap<GymId, broadcast::Sender<CapacityEntry>>>>,
}

impl EventHub {
    /// A hub with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Subscribes to a gym's capacity changes.
    pub fn subscribe(&self, gym_id: &GymId) -> broadcast::Receiver<CapacityEntry> {
        if let Ok(channels) = self.channels.read()
            && let Some(sender) = channels.get(gym_id)
        {
            return sender.subscribe();
        }
        let mut channels = self.channels.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        channels.entry(gym_id.clone()).or_insert_with(|| broadcast::channel(CHANNEL_DEPTH).0).subscribe()
    }

    /// Tells a gym's subscribers about a change. Cheap when nobody listens.
    pub fn publish(&self, gym_id: &GymId, entry: CapacityEntry) {
        let channels = self.channels.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(sender) = channels.get(gym_id) {
            // An error only means nobody is subscribed right now.
            let _ = sender.send(entry);
        }
    }

    /// The gyms that have at least one live subscriber.
    pub fn subscribed_gyms(&self) -> Vec<GymId> {
        let channels = self.channels.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        channels
            .iter()
            .filter(|(_, sender)| sender.receiver_count() > 0)
            .map(|(gym_id, _)| gym_id.clone())
            .collect()
    }

    /// Number of live subscribers over all gyms.
    pub fn subscriber_count(&self) -> usize {
        let channels = self.channels.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        channels.values().map(broadcast::Sender::receiver_count).sum()
    }
}
