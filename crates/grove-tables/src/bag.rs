//! `BagTable<K, V>`: a table with many objects per key (ETS's `bag` and `duplicate_bag`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use papaya::{Compute, Operation};

use crate::core::{Inner, Store};
use crate::error::{Kind, TableError};
use crate::options::TableOptions;
use crate::set::{TableKey, TableValue};

/// What a bag value must be: a table value that can be compared, so that a `bag` keeps no two
/// equal objects under one key and `delete_object` finds the one to delete.
pub trait BagValue: TableValue + PartialEq {}
impl<T: TableValue + PartialEq> BagValue for T {}

pub(crate) struct BagStore<K, V> {
    /// The objects under each key, in insertion order. A change copies the key's list and
    /// swaps it in, so readers of a key never see a list half changed.
    map: papaya::HashMap<K, Vec<V>, foldhash::fast::RandomState>,
    /// Number of objects (not keys), kept alongside the map.
    objects: AtomicUsize,
    duplicates: bool,
}

impl<K: TableKey, V: BagValue> Store for BagStore<K, V> {
    type Handle = BagTable<K, V>;

    fn handle(inner: Arc<Inner<Self>>) -> BagTable<K, V> {
        BagTable { inner }
    }

    fn clear(&self) {
        let map = self.map.pin();
        for key in map.keys() {
            if let Some(removed) = map.remove(key) {
                self.forget(removed.len());
            }
        }
    }

    fn len(&self) -> usize {
        self.objects.load(Ordering::Relaxed)
    }

    fn object_footprint(&self) -> usize {
        std::mem::size_of::<V>() + (std::mem::size_of::<K>() + 48) / 2
    }

    fn kind(&self) -> Kind {
        if self.duplicates {
            Kind::DuplicateBag
        } else {
            Kind::Bag
        }
    }
}

impl<K, V> BagStore<K, V> {
    fn forget(&self, removed: usize) {
        // Saturating: a concurrent insert's count may land after this removal's.
        let _ = self
            .objects
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(removed))
            });
    }
}

/// A shared table with many objects per key: ETS's `bag` (no two equal objects under a key)
/// or `duplicate_bag` (duplicates kept). Objects under a key come back in insertion order.
///
/// Ownership, access, heirs and names work as for [`Table`](crate::Table).
///
/// ```
/// use grove_tables::BagTable;
///
/// let tags = BagTable::<u32, &'static str>::options().public().create().unwrap();
/// tags.insert(1, "rust").unwrap();
/// tags.insert(1, "otp").unwrap();
/// tags.insert(1, "rust").unwrap(); // a bag keeps one of equal objects
/// assert_eq!(tags.lookup(&1).unwrap(), vec!["rust", "otp"]);
/// assert_eq!(tags.count().unwrap(), 2);
/// ```
pub struct BagTable<K: TableKey, V: BagValue> {
    inner: Arc<Inner<BagStore<K, V>>>,
}

crate::handle::handle_methods!(BagTable, BagStore, [BagValue]);

impl<K: TableKey, V: BagValue> BagTable<K, V> {
    /// A protected `bag` owned by the calling process.
    pub fn new() -> Result<Self, TableError> {
        Self::options().create()
    }

    /// Options for a new bag: duplicates, access, name, heir.
    pub fn options() -> TableOptions<Self> {
        TableOptions::new(Kind::Bag)
    }

    fn store(&self) -> &BagStore<K, V> {
        &self.inner.store
    }

    /// Adds `value` under `key`; in a `bag`, nothing happens if an equal object is there.
    /// True if it was added.
    pub fn insert(&self, key: K, value: V) -> Result<bool, TableError> {
        self.inner.check_write()?;
        let store = self.store();
        let map = store.map.pin();
        let outcome = map.compute(key, |entry| match entry {
            None => Operation::Insert(vec![value.clone()]),
            Some((_, values)) if !store.duplicates && values.contains(&value) => {
                Operation::Abort(())
            }
            Some((_, values)) => {
                let mut next = Vec::with_capacity(values.len() + 1);
                next.extend_from_slice(values);
                next.push(value.clone());
                Operation::Insert(next)
            }
        });
        let added = !matches!(outcome, Compute::Aborted(()));
        if added {
            store.objects.fetch_add(1, Ordering::Relaxed);
        }
        Ok(added)
    }

    /// Adds `value` under `key` only if the key has no objects yet; true if it did.
    pub fn insert_new(&self, key: K, value: V) -> Result<bool, TableError> {
        self.inner.check_write()?;
        let store = self.store();
        let added = store.map.pin().try_insert(key, vec![value]).is_ok();
        if added {
            store.objects.fetch_add(1, Ordering::Relaxed);
        }
        Ok(added)
    }

    /// Copies of the objects under `key`, in insertion order; empty if none.
    pub fn lookup(&self, key: &K) -> Result<Vec<V>, TableError> {
        Ok(self.lookup_with(key, <[V]>::to_vec)?.unwrap_or_default())
    }

    /// Applies `f` to the objects under `key` without copying them out.
    pub fn lookup_with<R>(
        &self,
        key: &K,
        f: impl FnOnce(&[V]) -> R,
    ) -> Result<Option<R>, TableError> {
        self.inner.check_read()?;
        Ok(self.store().map.pin().get(key).map(|values| f(values)))
    }

    /// True if any object has `key`.
    pub fn member(&self, key: &K) -> Result<bool, TableError> {
        self.inner.check_read()?;
        Ok(self.store().map.pin().contains_key(key))
    }

    /// Deletes every object under `key` and says how many there were.
    pub fn delete(&self, key: &K) -> Result<usize, TableError> {
        Ok(self.take(key)?.len())
    }

    /// Removes every object under `key` and returns them.
    pub fn take(&self, key: &K) -> Result<Vec<V>, TableError> {
        self.inner.check_write()?;
        let store = self.store();
        let removed = store.map.pin().remove(key).cloned().unwrap_or_default();
        store.forget(removed.len());
        Ok(removed)
    }

    /// Deletes the objects under `key` equal to `value` (all of them in a `duplicate_bag`) and
    /// says how many.
    pub fn delete_object(&self, key: &K, value: &V) -> Result<usize, TableError> {
        self.delete_where(key, |candidate| candidate == value)
    }

    /// Deletes the objects under `key` that `matches` accepts, atomically for that key.
    fn delete_where(&self, key: &K, matches: impl Fn(&V) -> bool) -> Result<usize, TableError> {
        self.inner.check_write()?;
        let store = self.store();
        let map = store.map.pin();
        let mut removed = 0;
        let outcome = map.compute(key.clone(), |entry| {
            let Some((_, values)) = entry else {
                return Operation::Abort(());
            };
            let kept: Vec<V> = values.iter().filter(|v| !matches(v)).cloned().collect();
            removed = values.len() - kept.len();
            if removed == 0 {
                Operation::Abort(())
            } else if kept.is_empty() {
                Operation::Remove
            } else {
                Operation::Insert(kept)
            }
        });
        if matches!(outcome, Compute::Aborted(())) {
            return Ok(0);
        }
        store.forget(removed);
        Ok(removed)
    }

    /// Visits every object, key by key. Writers are not blocked; the objects of one key are
    /// seen as they were at one moment.
    pub fn for_each(&self, mut visit: impl FnMut(&K, &V)) -> Result<(), TableError> {
        self.inner.check_read()?;
        for (key, values) in self.store().map.pin().iter() {
            for value in values {
                visit(key, value);
            }
        }
        Ok(())
    }

    /// Deletes every object `matches` accepts and says how many, re-checking each key's
    /// objects as they are when it deletes them.
    pub fn select_delete(&self, matches: impl Fn(&K, &V) -> bool) -> Result<usize, TableError> {
        self.inner.check_write()?;
        let mut keys = Vec::new();
        self.lookup_keys(|key, values| {
            if values.iter().any(|value| matches(key, value)) {
                keys.push(key.clone());
            }
        })?;
        let mut deleted = 0;
        for key in keys {
            deleted += self.delete_where(&key, |value| matches(&key, value))?;
        }
        Ok(deleted)
    }

    fn lookup_keys(&self, mut visit: impl FnMut(&K, &[V])) -> Result<(), TableError> {
        self.inner.check_read()?;
        for (key, values) in self.store().map.pin().iter() {
            visit(key, values);
        }
        Ok(())
    }
}

impl<K: TableKey, V: BagValue> TableOptions<BagTable<K, V>> {
    /// A `duplicate_bag`: equal objects under one key are all kept.
    pub fn duplicates(mut self) -> Self {
        self.kind = Kind::DuplicateBag;
        self
    }

    /// Creates the table, owned by the calling process.
    pub fn create(self) -> Result<BagTable<K, V>, TableError> {
        let store = BagStore {
            map: papaya::HashMap::with_hasher(Default::default()),
            objects: AtomicUsize::new(0),
            duplicates: self.kind == Kind::DuplicateBag,
        };
        Inner::create(store, self.setup).map(|inner| BagTable { inner })
    }
}
