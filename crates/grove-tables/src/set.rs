//! `Table<K, V>`: a table with one object per key, hashed (`set`) or ordered (`ordered_set`).

use std::hash::Hash;
use std::ops::{ControlFlow, RangeBounds};
use std::sync::Arc;

use crate::core::{Inner, Store};
use crate::counter::{self, Counter};
use crate::error::{Kind, TableError};
use crate::hashed::HashStore;
use crate::options::TableOptions;
use crate::ordered::OrderedStore;

/// What a table key must be: hashable and ordered (either kind of table can hold it), cloned
/// out on iteration, and shared across threads.
pub trait TableKey: Hash + Ord + Clone + Send + Sync + 'static {}
impl<T: Hash + Ord + Clone + Send + Sync + 'static> TableKey for T {}

/// What a table value must be: cloned out on lookup (as ETS copies), shared across threads. For
/// large values, store an `Arc<T>` so a lookup clones a pointer.
pub trait TableValue: Clone + Send + Sync + 'static {}
impl<T: Clone + Send + Sync + 'static> TableValue for T {}

/// Runs `$body` with `$store` bound to whichever store the table has: both have the same
/// methods, so most operations are written once.
macro_rules! on_store {
    ($stores:expr, $store:ident => $body:expr) => {
        match $stores {
            UniqueStore::Hash($store) => $body,
            UniqueStore::Ordered($store) => $body,
        }
    };
}

pub(crate) enum UniqueStore<K: TableKey, V: TableValue> {
    Hash(HashStore<K, V>),
    /// Boxed: the skiplist's head is large, and most tables are hashed.
    Ordered(Box<OrderedStore<K, V>>),
}

impl<K: TableKey, V: TableValue> Store for UniqueStore<K, V> {
    type Handle = Table<K, V>;

    fn handle(inner: Arc<Inner<Self>>) -> Table<K, V> {
        Table { inner }
    }

    fn clear(&self) {
        on_store!(self, store => store.clear())
    }

    fn len(&self) -> usize {
        on_store!(self, store => store.len())
    }

    fn object_footprint(&self) -> usize {
        match self {
            UniqueStore::Hash(_) => HashStore::<K, V>::object_footprint(),
            UniqueStore::Ordered(_) => OrderedStore::<K, V>::object_footprint(),
        }
    }

    fn kind(&self) -> Kind {
        match self {
            UniqueStore::Hash(_) => Kind::Set,
            UniqueStore::Ordered(_) => Kind::OrderedSet,
        }
    }
}

/// A shared table with one object per key: ETS's `set` (hashed) or `ordered_set` (kept in key
/// order, with `first`/`next`/`range`).
///
/// A `Table` is a cheap handle (clone it freely, send it to other processes). The table is
/// owned by the process that created it: when the owner exits, the table is deleted, or handed
/// to its heir. Any process holding a handle reads it directly, without going through the
/// owner; who may write is set by its [`Access`](crate::Access).
///
/// Every operation returns `Err(TableError::Deleted)` once the table is gone, and
/// `Err(TableError::AccessDenied)` when the access rule refuses the caller.
///
/// ```
/// use grove_tables::Table;
///
/// let hits = Table::<&'static str, u64>::options().public().create().unwrap();
/// hits.insert("home", 1).unwrap();
/// assert_eq!(hits.update_counter(&"home", 2).unwrap(), 3);
/// assert_eq!(hits.lookup(&"home").unwrap(), Some(3));
/// assert_eq!(hits.take(&"home").unwrap(), Some(3));
/// assert!(!hits.member(&"home").unwrap());
/// ```
pub struct Table<K: TableKey, V: TableValue> {
    inner: Arc<Inner<UniqueStore<K, V>>>,
}

crate::handle::handle_methods!(Table, UniqueStore, [TableValue]);

impl<K: TableKey, V: TableValue> Table<K, V> {
    /// A protected `set` owned by the calling process. Outside a process, use
    /// `Table::options().public().create()`.
    pub fn new() -> Result<Self, TableError> {
        Self::options().create()
    }

    /// Options for a new table: kind, access, name, heir.
    pub fn options() -> TableOptions<Self> {
        TableOptions::new(Kind::Set)
    }

    fn create(options: TableOptions<Self>) -> Result<Self, TableError> {
        let store = match options.kind {
            Kind::OrderedSet => UniqueStore::Ordered(Box::new(OrderedStore::new())),
            _ => UniqueStore::Hash(HashStore::new()),
        };
        Inner::create(store, options.setup).map(|inner| Table { inner })
    }

    /// Inserts `value` under `key`, replacing any object with that key. Readers see the old
    /// object or the new one, never neither.
    pub fn insert(&self, key: K, value: V) -> Result<(), TableError> {
        self.inner.check_write()?;
        on_store!(&self.inner.store, store => store.insert(key, value));
        Ok(())
    }

    /// Inserts every pair. Each object is inserted atomically, but unlike ETS's list insert
    /// the batch as a whole is not isolated: a concurrent reader may see part of it.
    pub fn insert_many(&self, objects: impl IntoIterator<Item = (K, V)>) -> Result<(), TableError> {
        self.inner.check_write()?;
        on_store!(&self.inner.store, store => {
            for (key, value) in objects {
                store.insert(key, value);
            }
        });
        Ok(())
    }

    /// Inserts only if no object has `key`; true if it did.
    pub fn insert_new(&self, key: K, value: V) -> Result<bool, TableError> {
        self.inner.check_write()?;
        Ok(on_store!(&self.inner.store, store => store.insert_new(key, value)))
    }

    /// A copy of the object under `key`.
    #[inline]
    pub fn lookup(&self, key: &K) -> Result<Option<V>, TableError> {
        self.lookup_with(key, V::clone)
    }

    /// Applies `f` to the object under `key` without copying it out: read one field of a large
    /// value (ETS's `lookup_element`).
    #[inline]
    pub fn lookup_with<R>(
        &self,
        key: &K,
        f: impl FnOnce(&V) -> R,
    ) -> Result<Option<R>, TableError> {
        self.inner.check_read()?;
        Ok(on_store!(&self.inner.store, store => store.get_with(key, f)))
    }

    /// True if an object has `key`.
    pub fn member(&self, key: &K) -> Result<bool, TableError> {
        self.inner.check_read()?;
        Ok(on_store!(&self.inner.store, store => store.contains(key)))
    }

    /// Deletes the object under `key`; true if there was one.
    pub fn delete(&self, key: &K) -> Result<bool, TableError> {
        Ok(self.take_if(key, |_| true)?.is_some())
    }

    /// Deletes the object under `key` only if it equals `value`; true if it did.
    pub fn delete_object(&self, key: &K, value: &V) -> Result<bool, TableError>
    where
        V: PartialEq,
    {
        Ok(self.take_if(key, |current| current == value)?.is_some())
    }

    /// Removes the object under `key` and returns it.
    pub fn take(&self, key: &K) -> Result<Option<V>, TableError> {
        self.take_if(key, |_| true)
    }

    fn take_if(&self, key: &K, remove: impl Fn(&V) -> bool) -> Result<Option<V>, TableError> {
        self.inner.check_write()?;
        Ok(on_store!(&self.inner.store, store => store.remove_if(key, remove)))
    }

    /// Atomically adds `increment` to the counter under `key` and returns the new value; fails
    /// with `KeyNotFound` if there is none (use [`update_counter_or`](Self::update_counter_or)
    /// to start one). Concurrent updates never lose an increment.
    pub fn update_counter(&self, key: &K, increment: i64) -> Result<V, TableError>
    where
        V: Counter,
    {
        self.inner.check_write()?;
        on_store!(&self.inner.store, store => store.step(key, |counter: &V| counter::step(counter, increment)))
            .map_err(|refused| refused.unwrap_or(TableError::KeyNotFound))
    }

    /// As [`update_counter`](Self::update_counter), starting from `default` when there is no
    /// counter under `key` (ETS's `update_counter/4`).
    pub fn update_counter_or(&self, key: K, increment: i64, default: V) -> Result<V, TableError>
    where
        V: Counter,
    {
        self.upsert(key, default, |counter: &V| {
            counter::step(counter, increment)
        })
    }

    /// Atomically changes the object under `key` with `change`, applied to a copy that then
    /// replaces it; false if there is no such object. `change` may run more than once when
    /// writers race on the key (only the last run's result is stored), so it should only
    /// change the value it is given.
    pub fn update_element(&self, key: &K, change: impl Fn(&mut V)) -> Result<bool, TableError> {
        match self.update(key, |value: &V| {
            let mut next = value.clone();
            change(&mut next);
            Ok((next, ()))
        }) {
            Ok(()) => Ok(true),
            Err(TableError::KeyNotFound) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Replaces the object under `key` with what `update` makes of it, atomically.
    fn update<R>(
        &self,
        key: &K,
        update: impl Fn(&V) -> Result<(V, R), TableError>,
    ) -> Result<R, TableError> {
        self.inner.check_write()?;
        on_store!(&self.inner.store, store => store.update(key, update))
            .map_err(|refused| refused.unwrap_or(TableError::KeyNotFound))
    }

    /// As `update`, starting from `default` when `key` is absent.
    fn upsert<R>(
        &self,
        key: K,
        default: V,
        update: impl Fn(&V) -> Result<(V, R), TableError>,
    ) -> Result<R, TableError> {
        self.inner.check_write()?;
        on_store!(&self.inner.store, store => store.upsert(key, default, update))
    }

    /// The smallest key of an ordered table.
    pub fn first(&self) -> Result<Option<K>, TableError> {
        let tree = self.ordered("first")?;
        Ok(tree.first())
    }

    /// The largest key of an ordered table.
    pub fn last(&self) -> Result<Option<K>, TableError> {
        let tree = self.ordered("last")?;
        Ok(tree.last())
    }

    /// The smallest key after `key` in an ordered table (`key` itself need not be present), so
    /// a walk with `first`/`next` goes on while others write.
    pub fn next(&self, key: &K) -> Result<Option<K>, TableError> {
        let tree = self.ordered("next")?;
        Ok(tree.next(key))
    }

    /// The largest key before `key` in an ordered table.
    pub fn prev(&self, key: &K) -> Result<Option<K>, TableError> {
        let tree = self.ordered("prev")?;
        Ok(tree.prev(key))
    }

    /// Copies of the objects with keys in `range`, in key order (ordered tables).
    pub fn range(&self, range: impl RangeBounds<K>) -> Result<Vec<(K, V)>, TableError> {
        self.select_range(range, |key, value| Some((key.clone(), value.clone())))
    }

    /// For each object with a key in `range`, in key order, keeps what `select` returns
    /// (ordered tables): a range query that copies out only what it needs.
    pub fn select_range<R>(
        &self,
        range: impl RangeBounds<K>,
        mut select: impl FnMut(&K, &V) -> Option<R>,
    ) -> Result<Vec<R>, TableError> {
        let tree = self.ordered("select_range")?;
        let mut selected = Vec::new();
        tree.scan(range, |key, value| {
            selected.extend(select(key, value));
            ControlFlow::Continue(())
        });
        Ok(selected)
    }

    fn ordered(&self, operation: &'static str) -> Result<&OrderedStore<K, V>, TableError> {
        self.inner.check_read()?;
        match &self.inner.store {
            UniqueStore::Ordered(tree) => Ok(tree),
            UniqueStore::Hash(_) => Err(TableError::NotOrdered(operation)),
        }
    }

    /// Visits every object (in key order for an ordered table). Writers are not blocked. An
    /// object present and unchanged throughout the walk is seen exactly once; one inserted or
    /// deleted during it may or may not be seen; one overwritten during it is seen once, before
    /// or after the change.
    pub fn for_each(&self, visit: impl FnMut(&K, &V)) -> Result<(), TableError> {
        self.inner.check_read()?;
        on_store!(&self.inner.store, store => store.for_each(visit));
        Ok(())
    }

    /// Deletes every object `matches` accepts and says how many. Each deletion re-checks the
    /// object as it is at that moment, so an object updated meanwhile to no longer match stays:
    /// a sweep of expired entries never deletes one just refreshed.
    pub fn select_delete(&self, matches: impl Fn(&K, &V) -> bool) -> Result<usize, TableError> {
        self.inner.check_write()?;
        let candidates = self.select(|key, value| matches(key, value).then(|| key.clone()))?;
        let mut deleted = 0;
        for key in candidates {
            if self.take_if(&key, |value| matches(&key, value))?.is_some() {
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

impl<K: TableKey, V: TableValue> TableOptions<Table<K, V>> {
    /// An `ordered_set`: keys kept in order, with `first`/`next`/`prev`/`last`/`range`.
    pub fn ordered(mut self) -> Self {
        self.kind = Kind::OrderedSet;
        self
    }

    /// Creates the table, owned by the calling process.
    pub fn create(self) -> Result<Table<K, V>, TableError> {
        Table::create(self)
    }
}
