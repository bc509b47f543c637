//! A hash map split into shards that grow one at a time.
//!
//! The ledger's maps of members and of idempotency keys grow with every
//! booking (bookings themselves live in `table.rs`). A
//! `HashMap` grows by doubling: the insert that crosses its threshold
//! allocates a table twice the size and moves every entry into it. Under the
//! decision lock, that one insert holds up every request: the slowest answer
//! of an 8 s sustained benchmark run (~480k bookings) was ~80–130 ms, and the
//! pause grows with the map (seconds, at tens of millions of bookings). Split
//! into [`SHARDS`] maps, each doubling moves a 16th of the entries, and the
//! shards cross their thresholds at different moments: the slowest answer of
//! the same run is ~15 ms. (64 shards gave the same, and cost ~4% of
//! throughput in A/B pairs; 16 cost nothing measurable.)

use std::borrow::Borrow;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher, Hash};

type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Shards per map: a power of two (see [`ShardedMap::shard`]).
const SHARDS: usize = 16;

/// A hash map in [`SHARDS`] shards, chosen by the key's hash.
#[derive(Clone, Debug)]
pub(super) struct ShardedMap<K, V> {
    /// Picks the shard. Each shard hashes with a seed of its own as well, so
    /// the keys of one shard do not share bits of their in-shard hash.
    picker: foldhash::fast::RandomState,
    shards: Vec<Map<K, V>>,
}

impl<K, V> Default for ShardedMap<K, V> {
    fn default() -> Self {
        Self { picker: Default::default(), shards: (0..SHARDS).map(|_| Map::default()).collect() }
    }
}

impl<K: Hash + Eq, V> ShardedMap<K, V> {
    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> usize {
        // The top bits of the picker's hash, as many as SHARDS needs.
        (self.picker.hash_one(key) >> (u64::BITS - SHARDS.trailing_zeros())) as usize
    }

    pub(super) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shards.get(self.shard(key))?.get(key)
    }

    fn shard_mut(&mut self, key: &K) -> &mut Map<K, V> {
        let shard = self.shard(key) % self.shards.len();
        &mut self.shards[shard]
    }

    pub(super) fn entry(&mut self, key: K) -> Entry<'_, K, V> {
        self.shard_mut(&key).entry(key)
    }

    pub(super) fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.shard_mut(&key).insert(key, value)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(Map::len).sum()
    }

    #[cfg(test)]
    pub(super) fn values(&self) -> impl Iterator<Item = &V> {
        self.shards.iter().flat_map(Map::values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_behaves_as_one_map_and_spreads_its_keys_over_every_shard() {
        let mut map = ShardedMap::default();
        for n in 0..10_000_u32 {
            assert_eq!(map.insert(format!("key_{n}"), n), None);
        }
        assert_eq!(map.insert("key_7".to_string(), 70), Some(7));
        assert_eq!(map.len(), 10_000);
        assert_eq!(map.get("key_7"), Some(&70));
        assert_eq!(map.get("key_9999"), Some(&9999));
        assert_eq!(map.get("key_10000"), None);
        *map.entry("key_8".to_string()).or_insert(0) += 1;
        assert_eq!(map.get("key_8"), Some(&9));
        assert_eq!(map.values().count(), 10_000);
        // 625 keys per shard on average; none empty, none holding a big share.
        assert_eq!(map.shards.len(), SHARDS);
        assert!(map.shards.iter().all(|shard| (400..900).contains(&shard.len())));
    }
}
