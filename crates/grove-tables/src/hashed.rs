//! The store of a `set` table: papaya's lock-free hash map.
//!
//! Why this map: readers never lock or write shared memory, and an overwrite swaps the entry's
//! pointer in place, so a reader sees the old object or the new one and never finds the key
//! missing; an iterator sees each entry present throughout exactly once, even across a resize.
//! (scc's `HashIndex` measured faster in this machine's lookups and inserts, but it overwrites
//! by linking a new entry and unlinking the old one, and the operations test
//! `readers_never_see_an_overwritten_key_missing` caught readers missing the key in between.)
//!
//! Resizing is blocking (the writer that triggers a resize finishes it) rather than
//! incremental: an incremental resize left unfinished when writes stop makes every later
//! lookup check two tables, which halved lookups after a bulk load in `grove-bench`.
//!
//! Read-modify-write operations use `compute`, a compare-and-swap loop: the closure may run more
//! than once when writers race on one key, and only the last run's result is stored.
//!
//! A table of integers of at most 64 bits is kept differently ([`crate::counters`]): each value
//! sits in a cell that `update_counter` changes in place, as ETS adds to a counter in place,
//! instead of a new entry per change.

use papaya::{Compute, Operation, ResizeMode};

use crate::counters::CounterMap;
use crate::set::{TableKey, TableValue};

/// The store of a hashed table: any values, or integer counters changed in place.
pub(crate) enum HashStore<K, V> {
    Values(ValueMap<K, V>),
    Counters(CounterMap<K, V>),
}

/// Runs `$body` with `$map` bound to whichever map the store has: both have the same methods.
macro_rules! on_map {
    ($store:expr, $map:ident => $body:expr) => {
        match $store {
            HashStore::Values($map) => $body,
            HashStore::Counters($map) => $body,
        }
    };
}

impl<K: TableKey, V: TableValue> HashStore<K, V> {
    pub(crate) fn new() -> Self {
        if crate::counter::small_integer::<V>() {
            HashStore::Counters(CounterMap::new())
        } else {
            HashStore::Values(ValueMap::new())
        }
    }

    pub(crate) fn len(&self) -> usize {
        on_map!(self, map => map.len())
    }

    pub(crate) fn clear(&self) {
        on_map!(self, map => map.clear())
    }

    #[inline]
    pub(crate) fn get_with<R>(&self, key: &K, f: impl FnOnce(&V) -> R) -> Option<R> {
        on_map!(self, map => map.get_with(key, f))
    }

    pub(crate) fn contains(&self, key: &K) -> bool {
        on_map!(self, map => map.contains(key))
    }

    pub(crate) fn insert(&self, key: K, value: V) {
        on_map!(self, map => map.insert(key, value))
    }

    pub(crate) fn insert_new(&self, key: K, value: V) -> bool {
        on_map!(self, map => map.insert_new(key, value))
    }

    /// Removes `key` if `remove` says yes for its value; returns the removed value.
    pub(crate) fn remove_if(&self, key: &K, remove: impl Fn(&V) -> bool) -> Option<V> {
        on_map!(self, map => map.remove_if(key, remove))
    }

    /// Replaces the value of `key` with what `update` makes of it; `Err(None)` if `key` is
    /// absent, `Err(Some(e))` if `update` refused.
    pub(crate) fn update<R, E>(
        &self,
        key: &K,
        update: impl Fn(&V) -> Result<(V, R), E>,
    ) -> Result<R, Option<E>> {
        on_map!(self, map => map.update(key, update))
    }

    /// As `update`, for a step of this crate's own that touches no table (`update_counter`'s
    /// addition): a counter table runs it under the value's lock, once.
    pub(crate) fn step<R, E>(
        &self,
        key: &K,
        step: impl Fn(&V) -> Result<(V, R), E>,
    ) -> Result<R, Option<E>> {
        match self {
            HashStore::Values(map) => map.update(key, step),
            HashStore::Counters(map) => map.step(key, step),
        }
    }

    /// As `step`, starting from `default` when `key` is absent.
    pub(crate) fn upsert<R, E>(
        &self,
        key: K,
        default: V,
        step: impl Fn(&V) -> Result<(V, R), E>,
    ) -> Result<R, E> {
        on_map!(self, map => map.upsert(key, default, step))
    }

    /// Visits every object; writers go on meanwhile.
    pub(crate) fn for_each(&self, visit: impl FnMut(&K, &V)) {
        on_map!(self, map => map.for_each(visit))
    }

    /// Approximate bytes per object.
    pub(crate) fn object_footprint() -> usize {
        if crate::counter::small_integer::<V>() {
            CounterMap::<K, V>::object_footprint()
        } else {
            ValueMap::<K, V>::object_footprint()
        }
    }
}

/// Any values: papaya's map, each change a new entry.
pub(crate) struct ValueMap<K, V> {
    map: papaya::HashMap<K, V, foldhash::fast::RandomState>,
}

/// The map both kinds of store keep their entries in.
pub(crate) fn new_map<K: TableKey, T>() -> papaya::HashMap<K, T, foldhash::fast::RandomState> {
    papaya::HashMap::builder()
        .hasher(Default::default())
        .resize_mode(ResizeMode::Blocking)
        .build()
}

impl<K: TableKey, V: TableValue> ValueMap<K, V> {
    pub(crate) fn new() -> Self {
        ValueMap { map: new_map() }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn clear(&self) {
        self.map.pin().clear();
    }

    #[inline]
    pub(crate) fn get_with<R>(&self, key: &K, f: impl FnOnce(&V) -> R) -> Option<R> {
        self.map.pin().get(key).map(f)
    }

    pub(crate) fn contains(&self, key: &K) -> bool {
        self.map.pin().contains_key(key)
    }

    pub(crate) fn insert(&self, key: K, value: V) {
        self.map.pin().insert(key, value);
    }

    pub(crate) fn insert_new(&self, key: K, value: V) -> bool {
        self.map.pin().try_insert(key, value).is_ok()
    }

    /// Removes `key` if `remove` says yes for its value; returns the removed value.
    pub(crate) fn remove_if(&self, key: &K, remove: impl Fn(&V) -> bool) -> Option<V> {
        match self.map.pin().remove_if(key, |_, value| remove(value)) {
            Ok(removed) => removed.map(|(_, value)| value.clone()),
            Err(_) => None,
        }
    }

    /// Replaces the value of `key` with what `update` makes of it; `Err(None)` if `key` is
    /// absent, `Err(Some(e))` if `update` refused.
    pub(crate) fn update<R, E>(
        &self,
        key: &K,
        update: impl Fn(&V) -> Result<(V, R), E>,
    ) -> Result<R, Option<E>> {
        self.compute(key.clone(), |current: Option<&V>| {
            current
                .ok_or(None)
                .and_then(|value| update(value).map_err(Some))
        })
    }

    /// As `update`, starting from `default` when `key` is absent.
    pub(crate) fn upsert<R, E>(
        &self,
        key: K,
        default: V,
        update: impl Fn(&V) -> Result<(V, R), E>,
    ) -> Result<R, E> {
        self.compute(key, |current: Option<&V>| {
            update(current.unwrap_or(&default))
        })
    }

    /// Runs `step` on the current value (if any) in papaya's compare-and-swap loop and stores
    /// what it returns, or stops with its error.
    fn compute<R, E>(
        &self,
        key: K,
        step: impl Fn(Option<&V>) -> Result<(V, R), E>,
    ) -> Result<R, E> {
        let map = self.map.pin();
        // The result of the run whose value was stored (the closure's last run).
        let mut result = None;
        let outcome = map.compute(key, |entry| match step(entry.map(|(_, value)| value)) {
            Ok((next, r)) => {
                result = Some(r);
                Operation::Insert(next)
            }
            Err(error) => Operation::Abort(error),
        });
        match (outcome, result) {
            (Compute::Aborted(error), _) => Err(error),
            (_, Some(result)) => Ok(result),
            // `Insert` is the only other outcome, and it always sets the result first.
            (_, None) => unreachable!("papaya stored a value without running the closure"),
        }
    }

    /// Visits every object; writers go on meanwhile.
    pub(crate) fn for_each(&self, mut visit: impl FnMut(&K, &V)) {
        for (key, value) in self.map.pin().iter() {
            visit(key, value);
        }
    }

    /// Approximate bytes per object: the node papaya allocates for it, its slot and its
    /// metadata byte in the table.
    pub(crate) fn object_footprint() -> usize {
        std::mem::size_of::<(K, V)>() + 16 + 9
    }
}
