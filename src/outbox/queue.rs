//! The queues and the keys of their items. Keys are `lane ‖ 0x00 ‖ seq` (seq big-endian, from
//! the store's monotonic id generator), so one prefix scan yields a lane's items in enqueue
//! order.

use crate::relay::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Queue {
    /// Work for HubSpot: publishing, closing threads, message statuses.
    HubSpot,
    /// Verified HubSpot webhook events waiting to be turned into bot events.
    Inbound,
    /// Events waiting to be delivered to the bot's webhook.
    Bot,
}

impl Queue {
    pub(crate) const ALL: [Queue; 3] = [Queue::HubSpot, Queue::Inbound, Queue::Bot];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Queue::HubSpot => "hubspot",
            Queue::Inbound => "inbound",
            Queue::Bot => "bot",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemKey(Vec<u8>);

impl ItemKey {
    pub(crate) fn new(lane: &str, seq: u64) -> ItemKey {
        debug_assert!(!lane.as_bytes().contains(&0));
        let mut key = Vec::with_capacity(lane.len() + 9);
        key.extend_from_slice(lane.as_bytes());
        key.push(0);
        key.extend_from_slice(&seq.to_be_bytes());
        ItemKey(key)
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<ItemKey, StoreError> {
        if bytes.len() < 9 || bytes[bytes.len() - 9] != 0 {
            return Err(StoreError::Corrupt("outbox key".into()));
        }
        Ok(ItemKey(bytes.to_vec()))
    }

    pub fn lane(&self) -> &str {
        std::str::from_utf8(&self.0[..self.0.len() - 9]).unwrap_or("")
    }

    pub(crate) fn seq(&self) -> u64 {
        u64::from_be_bytes(self.0[self.0.len() - 8..].try_into().expect("8 bytes"))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

pub(crate) fn lane_prefix(lane: &str) -> Vec<u8> {
    let mut p = lane.as_bytes().to_vec();
    p.push(0);
    p
}
