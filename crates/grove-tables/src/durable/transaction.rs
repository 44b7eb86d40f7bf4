//! A write transaction on a durable table: the table operations, committed together.

use std::marker::PhantomData;

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::store::{self, decode, encode, object_key, META, NEXT_SEQ, OBJECTS};
use super::{DurableError, DurableKind};
use crate::counter::{self, Counter};
use crate::error::TableError;

/// The operations of a [`DurableTable`](super::DurableTable) inside one
/// [`transaction`](super::DurableTable::transaction): they see each other's writes and commit
/// together.
pub struct Transaction<'t, K, V> {
    objects: redb::Table<'t, &'static [u8], &'static [u8]>,
    meta: redb::Table<'t, &'static str, &'static [u8]>,
    kind: DurableKind,
    _types: PhantomData<fn(K) -> V>,
}

impl<'t, K, V> Transaction<'t, K, V>
where
    K: Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    pub(super) fn open(txn: &'t WriteTransaction, kind: DurableKind) -> Result<Self, DurableError> {
        Ok(Transaction {
            objects: txn.open_table(OBJECTS).map_err(DurableError::store)?,
            meta: txn.open_table(META).map_err(DurableError::store)?,
            kind,
            _types: PhantomData,
        })
    }

    /// The sequence number of the next object of a bag.
    fn next_seq(&mut self) -> Result<u64, DurableError> {
        let current = match self.meta.get(NEXT_SEQ).map_err(DurableError::store)? {
            Some(bytes) => {
                let bytes: [u8; 8] =
                    bytes.value().try_into().map_err(|_| DurableError::Decode {
                        what: "sequence counter",
                        reason: "not 8 bytes".into(),
                    })?;
                u64::from_be_bytes(bytes)
            }
            None => 0,
        };
        let next = current.wrapping_add(1);
        self.meta
            .insert(NEXT_SEQ, next.to_be_bytes().as_slice())
            .map_err(DurableError::store)?;
        Ok(current)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), DurableError> {
        let seq = match self.kind {
            DurableKind::Set => 0,
            DurableKind::Bag | DurableKind::DuplicateBag => self.next_seq()?,
        };
        self.objects
            .insert(object_key(key, seq).as_slice(), value)
            .map_err(DurableError::store)?;
        Ok(())
    }

    /// Inserts `value` under `key`: replaces the key's object in a set, is skipped in a bag
    /// holding an equal object. True if it was stored.
    pub fn insert(&mut self, key: K, value: V) -> Result<bool, DurableError> {
        let key = encode(&key, "key")?;
        let value = encode(&value, "value")?;
        if self.kind == DurableKind::Bag
            && store::objects_under(&self.objects, &key)?
                .iter()
                .any(|(_, stored)| *stored == value)
        {
            return Ok(false);
        }
        self.put(&key, &value)?;
        Ok(true)
    }

    /// Inserts only if no object has `key`; true if it did.
    pub fn insert_new(&mut self, key: K, value: V) -> Result<bool, DurableError> {
        let key = encode(&key, "key")?;
        if store::has_key(&self.objects, &key)? {
            return Ok(false);
        }
        self.put(&key, &encode(&value, "value")?)?;
        Ok(true)
    }

    /// The objects under `key`, as this transaction sees them.
    pub fn lookup(&self, key: &K) -> Result<Vec<V>, DurableError> {
        store::values_under(&self.objects, &encode(key, "key")?)
    }

    /// The object under `key` in a set (the first in a bag).
    pub fn get(&self, key: &K) -> Result<Option<V>, DurableError> {
        Ok(self.lookup(key)?.into_iter().next())
    }

    /// True if an object has `key`.
    pub fn member(&self, key: &K) -> Result<bool, DurableError> {
        store::has_key(&self.objects, &encode(key, "key")?)
    }

    /// Deletes every object under `key` and says how many.
    pub fn delete(&mut self, key: &K) -> Result<usize, DurableError> {
        Ok(self.take(key)?.len())
    }

    /// Removes the objects under `key` and returns them.
    pub fn take(&mut self, key: &K) -> Result<Vec<V>, DurableError> {
        self.remove_where(key, |_| true)
    }

    /// Deletes the objects under `key` equal to `value` and says how many.
    pub fn delete_object(&mut self, key: &K, value: &V) -> Result<usize, DurableError> {
        let value = encode(value, "value")?;
        Ok(self
            .remove_where(key, |stored| stored == value.as_slice())?
            .len())
    }

    fn remove_where(
        &mut self,
        key: &K,
        remove: impl Fn(&[u8]) -> bool,
    ) -> Result<Vec<V>, DurableError> {
        let key = encode(key, "key")?;
        let mut removed = Vec::new();
        for (stored, value) in store::objects_under(&self.objects, &key)? {
            if remove(&value) {
                self.objects
                    .remove(stored.as_slice())
                    .map_err(DurableError::store)?;
                removed.push(decode(&value, "value")?);
            }
        }
        Ok(removed)
    }

    /// Changes the object under `key` in a set; `Ok(None)` if there is none.
    fn update<R>(
        &mut self,
        operation: &'static str,
        key: &K,
        default: Option<V>,
        update: impl FnOnce(V) -> Result<(V, R), DurableError>,
    ) -> Result<Option<R>, DurableError> {
        if self.kind != DurableKind::Set {
            return Err(DurableError::NotASet(operation));
        }
        let key = encode(key, "key")?;
        let stored = object_key(&key, 0);
        let current = match self
            .objects
            .get(stored.as_slice())
            .map_err(DurableError::store)?
        {
            Some(value) => Some(decode::<V>(value.value(), "value")?),
            None => default,
        };
        let Some(current) = current else {
            return Ok(None);
        };
        let (next, result) = update(current)?;
        self.objects
            .insert(stored.as_slice(), encode(&next, "value")?.as_slice())
            .map_err(DurableError::store)?;
        Ok(Some(result))
    }

    /// Adds `increment` to the counter under `key` (a set) and returns the new value.
    pub fn update_counter(&mut self, key: &K, increment: i64) -> Result<V, DurableError>
    where
        V: Counter,
    {
        self.update("update_counter", key, None, |counter: V| {
            Ok(counter::step(&counter, increment)?)
        })?
        .ok_or(DurableError::Table(TableError::KeyNotFound))
    }

    /// As `update_counter`, starting from `default` when the key has no counter.
    pub fn update_counter_or(
        &mut self,
        key: &K,
        increment: i64,
        default: V,
    ) -> Result<V, DurableError>
    where
        V: Counter,
    {
        self.update("update_counter", key, Some(default), |counter: V| {
            Ok(counter::step(&counter, increment)?)
        })?
        .ok_or(DurableError::Table(TableError::KeyNotFound))
    }

    /// Changes the object under `key` (a set) with `change`; false if there is none.
    pub fn update_element(
        &mut self,
        key: &K,
        change: impl FnOnce(&mut V),
    ) -> Result<bool, DurableError> {
        let updated = self.update("update_element", key, None, |mut value: V| {
            change(&mut value);
            Ok((value, ()))
        })?;
        Ok(updated.is_some())
    }

    /// Deletes every object `matches` accepts and says how many.
    pub fn select_delete(
        &mut self,
        mut matches: impl FnMut(&K, &V) -> bool,
    ) -> Result<usize, DurableError> {
        let mut doomed = Vec::new();
        for entry in self.objects.iter().map_err(DurableError::store)? {
            let (stored, value) = entry.map_err(DurableError::store)?;
            let key: K = decode(store::user_key(stored.value()), "key")?;
            let value: V = decode(value.value(), "value")?;
            if matches(&key, &value) {
                doomed.push(stored.value().to_vec());
            }
        }
        for stored in &doomed {
            self.objects
                .remove(stored.as_slice())
                .map_err(DurableError::store)?;
        }
        Ok(doomed.len())
    }

    /// Deletes every object.
    pub fn clear(&mut self) -> Result<(), DurableError> {
        self.objects
            .retain(|_, _| false)
            .map_err(DurableError::store)
    }

    /// Number of objects, as this transaction sees them.
    pub fn count(&self) -> Result<u64, DurableError> {
        self.objects.len().map_err(DurableError::store)
    }
}
