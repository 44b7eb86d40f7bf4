//! How a durable table lays out its objects in the redb file.
//!
//! One redb table holds every object. Its key is the serialized object key followed by an
//! 8-byte big-endian sequence number: always 0 in a set, the insertion counter in a bag (so a
//! key's objects come back in insertion order). Serialized keys of one type never prefix one
//! another (postcard encodings are self-delimiting), so the objects of one key are exactly the
//! range from `key ++ 0` to `key ++ u64::MAX`. A second table holds the kind and the counter.

use redb::{Database, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{DurableError, DurableKind};

pub(super) const OBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("grove_objects");
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("grove_meta");
pub(super) const KIND: &str = "kind";
pub(super) const NEXT_SEQ: &str = "next_seq";
const SEQ_BYTES: usize = 8;

pub(super) fn encode<T: Serialize>(value: &T, what: &'static str) -> Result<Vec<u8>, DurableError> {
    postcard::to_stdvec(value).map_err(|error| DurableError::Encode {
        what,
        reason: error.to_string(),
    })
}

pub(super) fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, DurableError> {
    let failed = |reason: String| DurableError::Decode { what, reason };
    // Bytes left over mean the stored data is of another type that happens to start like this
    // one (a string read as a number), so they are an error too.
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(failed(format!("{} bytes left over", rest.len()))),
        Err(error) => Err(failed(error.to_string())),
    }
}

/// The stored key of the object `seq` under `key`.
pub(super) fn object_key(key: &[u8], seq: u64) -> Vec<u8> {
    let mut stored = Vec::with_capacity(key.len() + SEQ_BYTES);
    stored.extend_from_slice(key);
    stored.extend_from_slice(&seq.to_be_bytes());
    stored
}

/// The user key part of a stored key.
pub(super) fn user_key(stored: &[u8]) -> &[u8] {
    &stored[..stored.len().saturating_sub(SEQ_BYTES)]
}

/// The first and last stored keys an object under `key` can have.
fn bounds(key: &[u8]) -> (Vec<u8>, Vec<u8>) {
    (object_key(key, 0), object_key(key, u64::MAX))
}

/// Creates the tables of a new file and returns the kind the file holds.
pub(super) fn init(db: &Database, kind: DurableKind) -> Result<DurableKind, DurableError> {
    let txn = db.begin_write().map_err(DurableError::store)?;
    let file_kind = {
        txn.open_table(OBJECTS).map_err(DurableError::store)?;
        let mut meta = txn.open_table(META).map_err(DurableError::store)?;
        let stored = meta
            .get(KIND)
            .map_err(DurableError::store)?
            .map(|kind| kind.value().to_vec());
        match stored {
            Some(text) => DurableKind::parse(&text).ok_or_else(|| DurableError::Decode {
                what: "kind",
                reason: format!("unknown table kind {:?}", String::from_utf8_lossy(&text)),
            })?,
            None => {
                meta.insert(KIND, kind.as_str().as_bytes())
                    .map_err(DurableError::store)?;
                kind
            }
        }
    };
    txn.commit().map_err(DurableError::store)?;
    Ok(file_kind)
}

/// The stored keys and values of the objects under `key`, in insertion order.
/// A stored key and its value bytes.
pub(super) type StoredObject = (Vec<u8>, Vec<u8>);

pub(super) fn objects_under<T>(objects: &T, key: &[u8]) -> Result<Vec<StoredObject>, DurableError>
where
    T: ReadableTable<&'static [u8], &'static [u8]> + ?Sized,
{
    let (first, last) = bounds(key);
    let mut found = Vec::new();
    for entry in objects
        .range(first.as_slice()..=last.as_slice())
        .map_err(DurableError::store)?
    {
        let (stored, value) = entry.map_err(DurableError::store)?;
        found.push((stored.value().to_vec(), value.value().to_vec()));
    }
    Ok(found)
}

/// The decoded values under `key`.
pub(super) fn values_under<T, V>(objects: &T, key: &[u8]) -> Result<Vec<V>, DurableError>
where
    T: ReadableTable<&'static [u8], &'static [u8]> + ?Sized,
    V: DeserializeOwned,
{
    objects_under(objects, key)?
        .iter()
        .map(|(_, value)| decode(value, "value"))
        .collect()
}

pub(super) fn has_key<T>(objects: &T, key: &[u8]) -> Result<bool, DurableError>
where
    T: ReadableTable<&'static [u8], &'static [u8]> + ?Sized,
{
    let (first, last) = bounds(key);
    let mut range = objects
        .range(first.as_slice()..=last.as_slice())
        .map_err(DurableError::store)?;
    Ok(range
        .next()
        .transpose()
        .map_err(DurableError::store)?
        .is_some())
}

/// Visits every object: its user key bytes and value bytes.
pub(super) fn scan<T>(
    objects: &T,
    mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), DurableError>,
) -> Result<(), DurableError>
where
    T: ReadableTable<&'static [u8], &'static [u8]> + ?Sized,
{
    for entry in objects.iter().map_err(DurableError::store)? {
        let (stored, value) = entry.map_err(DurableError::store)?;
        visit(user_key(stored.value()), value.value())?;
    }
    Ok(())
}
