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

use papaya::{Compute, Operation, ResizeMode};

use crate::set::{TableKey, TableValue};

pub(crate) struct HashStore<K, V> {
    map: papaya::HashMap<K, V, foldhash::fast::RandomState>,
}

impl<K: TableKey, V: TableValue> HashStore<K, V> {
    pub(crate) fn new() -> Self {
        HashStore {
            map: papaya::HashMap::builder()
                .hasher(Default::default())
                .resize_mode(ResizeMode::Blocking)
                .build(),
        }
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
