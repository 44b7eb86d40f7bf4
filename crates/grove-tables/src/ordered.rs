//! The store of an `ordered_set` table: a concurrent skiplist whose entries hold their value in
//! an atomically swappable cell, with striped locks for writers.
//!
//! Why not the skiplist alone: crossbeam's skiplist replaces a value by unlinking the old node
//! and linking a new one, so a reader in between would see the key missing. Here an overwrite
//! swaps the value inside the node, so readers see the old value or the new one, never a gap.
//! Writers of the same key serialize on one of 64 stripe locks (chosen by the key's hash), which
//! makes read-modify-write operations (`update_counter`, `take`, `insert_new`) atomic; writers
//! of different keys rarely meet, and readers take no lock at all.

use std::hash::{BuildHasher, Hash};
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use arc_swap::ArcSwap;
use crossbeam_skiplist::SkipMap;
use crossbeam_utils::CachePadded;
use parking_lot::{Mutex, MutexGuard};

const STRIPES: usize = 64;

pub(crate) struct OrderedStore<K, V> {
    map: SkipMap<K, ArcSwap<V>>,
    stripes: Box<[CachePadded<Mutex<()>>]>,
    hasher: foldhash::fast::RandomState,
}

impl<K, V> OrderedStore<K, V>
where
    K: Ord + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new() -> Self {
        OrderedStore {
            map: SkipMap::new(),
            stripes: (0..STRIPES)
                .map(|_| CachePadded::new(Mutex::new(())))
                .collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// The writers' lock for `key`.
    fn lock(&self, key: &K) -> MutexGuard<'_, ()> {
        let stripe = self.hasher.hash_one(key) as usize % STRIPES;
        self.stripes[stripe].lock()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn clear(&self) {
        self.map.clear();
    }

    pub(crate) fn get_with<R>(&self, key: &K, f: impl FnOnce(&V) -> R) -> Option<R> {
        let entry = self.map.get(key)?;
        let value = entry.value().load();
        Some(f(&value))
    }

    pub(crate) fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    pub(crate) fn insert(&self, key: K, value: V) {
        let _writer = self.lock(&key);
        match self.map.get(&key) {
            Some(entry) => entry.value().store(Arc::new(value)),
            None => {
                self.map.insert(key, ArcSwap::from_pointee(value));
            }
        }
    }

    pub(crate) fn insert_new(&self, key: K, value: V) -> bool {
        let _writer = self.lock(&key);
        if self.map.contains_key(&key) {
            return false;
        }
        self.map.insert(key, ArcSwap::from_pointee(value));
        true
    }

    /// Removes `key` if `remove` says yes for its value; returns the removed value.
    pub(crate) fn remove_if(&self, key: &K, remove: impl FnOnce(&V) -> bool) -> Option<V> {
        let _writer = self.lock(key);
        let entry = self.map.get(key)?;
        let value = entry.value().load_full();
        if !remove(&value) {
            return None;
        }
        entry.remove();
        Some(Arc::unwrap_or_clone(value))
    }

    /// Replaces the value of `key` with what `update` makes of it; `Err(None)` if `key` is
    /// absent, `Err(Some(e))` if `update` refused.
    pub(crate) fn update<R, E>(
        &self,
        key: &K,
        update: impl FnOnce(&V) -> Result<(V, R), E>,
    ) -> Result<R, Option<E>> {
        let _writer = self.lock(key);
        let entry = self.map.get(key).ok_or(None)?;
        let (new, result) = update(&entry.value().load()).map_err(Some)?;
        entry.value().store(Arc::new(new));
        Ok(result)
    }

    /// As `update` (ordered tables make no difference for this crate's own steps).
    pub(crate) fn step<R, E>(
        &self,
        key: &K,
        step: impl FnOnce(&V) -> Result<(V, R), E>,
    ) -> Result<R, Option<E>> {
        self.update(key, step)
    }

    /// As `update`, inserting `default` first when `key` is absent.
    pub(crate) fn upsert<R, E>(
        &self,
        key: K,
        default: V,
        update: impl FnOnce(&V) -> Result<(V, R), E>,
    ) -> Result<R, E> {
        let _writer = self.lock(&key);
        match self.map.get(&key) {
            Some(entry) => {
                let (new, result) = update(&entry.value().load())?;
                entry.value().store(Arc::new(new));
                Ok(result)
            }
            None => {
                let (new, result) = update(&default)?;
                self.map.insert(key, ArcSwap::from_pointee(new));
                Ok(result)
            }
        }
    }

    pub(crate) fn first(&self) -> Option<K> {
        self.map.front().map(|entry| entry.key().clone())
    }

    pub(crate) fn last(&self) -> Option<K> {
        self.map.back().map(|entry| entry.key().clone())
    }

    pub(crate) fn next(&self, key: &K) -> Option<K> {
        self.map
            .lower_bound(Bound::Excluded(key))
            .map(|entry| entry.key().clone())
    }

    pub(crate) fn prev(&self, key: &K) -> Option<K> {
        self.map
            .upper_bound(Bound::Excluded(key))
            .map(|entry| entry.key().clone())
    }

    /// Visits the objects with keys in `range`, in key order, until `visit` says stop. Writers
    /// go on meanwhile; each object is seen as it was when visited.
    pub(crate) fn scan(
        &self,
        range: impl RangeBounds<K>,
        mut visit: impl FnMut(&K, &V) -> std::ops::ControlFlow<()>,
    ) {
        for entry in self.map.range(range) {
            let value = entry.value().load();
            if visit(entry.key(), &value).is_break() {
                break;
            }
        }
    }

    /// Visits every object in key order.
    pub(crate) fn for_each(&self, mut visit: impl FnMut(&K, &V)) {
        self.scan(.., |key, value| {
            visit(key, value);
            std::ops::ControlFlow::Continue(())
        });
    }

    /// Approximate bytes per object: the node with its average tower, the cell and the value's
    /// own allocation.
    pub(crate) fn object_footprint() -> usize {
        std::mem::size_of::<K>() + std::mem::size_of::<V>() + 64
    }
}
