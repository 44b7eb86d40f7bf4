//! Durable tables, as Erlang's DETS: the table operations on a crash-safe file.
//!
//! A [`DurableTable`] keeps its objects in a [redb](https://docs.rs/redb) file: an embedded,
//! copy-on-write B-tree store whose commits are atomic and durable (a commit returns once the
//! data is on disk, and a crash at any moment leaves the last committed state). Nothing runs
//! besides the program: no server, no background process.
//!
//! Each write is one commit unless grouped in a [`transaction`](DurableTable::transaction),
//! which commits all its writes at once (or none, if the closure fails or panics); batching is
//! what makes bulk writes fast, since every commit waits for the disk. Reads see the last
//! commit and never wait for writers.
//!
//! Keys and values are stored serialized (postcard), so they must be serde types. Like DETS,
//! the kinds are set, bag and duplicate bag (no ordered set), and `lookup` returns every object
//! under the key.
//!
//! ```
//! use grove_tables::{DurableKind, DurableTable};
//!
//! let dir = std::env::temp_dir().join(format!("grove-doc-durable-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("sessions.redb");
//! {
//!     let sessions = DurableTable::<String, u64>::open(&path, DurableKind::Set).unwrap();
//!     sessions
//!         .transaction(|tx| {
//!             tx.insert("alice".into(), 1)?;
//!             tx.insert("bob".into(), 2)
//!         })
//!         .unwrap();
//! } // closed when the last handle is dropped
//! let sessions = DurableTable::<String, u64>::open(&path, DurableKind::Set).unwrap();
//! assert_eq!(sessions.get(&"bob".to_string()).unwrap(), Some(2));
//! # drop(sessions);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod store;
mod transaction;

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use redb::{Database, ReadableDatabase};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::bag::{BagTable, BagValue};
use crate::counter::Counter;
use crate::error::{Kind, TableError};
use crate::set::{Table, TableKey, TableValue};

pub use transaction::Transaction;

use store::{decode, encode, OBJECTS};

/// The kinds a durable table can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DurableKind {
    /// One object per key.
    Set,
    /// Many objects per key, no two equal (equal meaning the same serialized bytes).
    Bag,
    /// Many objects per key, duplicates kept.
    DuplicateBag,
}

impl DurableKind {
    fn as_str(self) -> &'static str {
        match self {
            DurableKind::Set => "set",
            DurableKind::Bag => "bag",
            DurableKind::DuplicateBag => "duplicate_bag",
        }
    }

    fn parse(text: &[u8]) -> Option<DurableKind> {
        match text {
            b"set" => Some(DurableKind::Set),
            b"bag" => Some(DurableKind::Bag),
            b"duplicate_bag" => Some(DurableKind::DuplicateBag),
            _ => None,
        }
    }

    /// The durable kind that stores an in-memory table of `kind`.
    fn of(kind: Kind) -> DurableKind {
        match kind {
            Kind::Set | Kind::OrderedSet => DurableKind::Set,
            Kind::Bag => DurableKind::Bag,
            Kind::DuplicateBag => DurableKind::DuplicateBag,
        }
    }
}

impl fmt::Display for DurableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a durable table operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DurableError {
    /// The store failed: an I/O error, a full disk, a file that is not a table.
    #[error("the durable table's store failed: {0}; check the file, its permissions and free disk space")]
    Store(#[from] redb::Error),
    /// The path could not be resolved.
    #[error("cannot use {path}: {source}")]
    Path {
        /// The path given.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A key or value could not be serialized.
    #[error("cannot serialize a {what}: {reason}")]
    Encode {
        /// "key" or "value".
        what: &'static str,
        /// The serializer's message.
        reason: String,
    },
    /// Stored bytes do not decode as the table's key or value type.
    #[error(
        "a stored {what} does not decode as the table's {what} type ({reason}); open the file with \
         the types it was written with"
    )]
    Decode {
        /// "key" or "value".
        what: &'static str,
        /// The deserializer's message.
        reason: String,
    },
    /// The file holds a table of another kind.
    #[error("{path} holds a {file} table, not a {asked}; open it as a {file}")]
    KindMismatch {
        /// The file.
        path: PathBuf,
        /// The kind in the file.
        file: DurableKind,
        /// The kind asked for.
        asked: DurableKind,
    },
    /// The file is already open in this program with other key or value types.
    #[error("{0} is already open with other key or value types; use the same types everywhere")]
    WrongType(PathBuf),
    /// A set-only operation (`update_counter`, `update_element`) on a bag.
    #[error("{0} needs a durable set, and this table is a bag")]
    NotASet(&'static str),
    /// An in-memory table operation failed (snapshot and restore).
    #[error(transparent)]
    Table(#[from] TableError),
}

impl DurableError {
    fn store(error: impl Into<redb::Error>) -> DurableError {
        DurableError::Store(error.into())
    }
}

/// A summary of a durable table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableInfo {
    /// The file.
    pub path: PathBuf,
    /// Set, bag or duplicate bag.
    pub kind: DurableKind,
    /// Number of objects.
    pub size: u64,
    /// Bytes the file takes on disk.
    pub file_bytes: u64,
}

struct Durable {
    db: Database,
    path: PathBuf,
    kind: DurableKind,
    types: TypeId,
}

/// A table on disk, as DETS: set, bag or duplicate bag, with keys and values serialized.
///
/// The handle is cheap to clone and may be shared by any number of processes; the file stays
/// open while a handle exists, and opening the same path again in this program gives the same
/// table. Every write is its own commit, durable when it returns; group writes with
/// [`transaction`](Self::transaction) to commit them together.
pub struct DurableTable<K, V> {
    inner: Arc<Durable>,
    _types: PhantomData<fn(K) -> V>,
}

impl<K, V> Clone for DurableTable<K, V> {
    fn clone(&self) -> Self {
        DurableTable {
            inner: self.inner.clone(),
            _types: PhantomData,
        }
    }
}

impl<K, V> fmt::Debug for DurableTable<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableTable")
            .field("path", &self.inner.path)
            .field("kind", &self.inner.kind)
            .finish()
    }
}

/// The files open in this program, so that opening one twice shares it (the store allows one
/// opener per file).
fn open_files() -> &'static Mutex<HashMap<PathBuf, Weak<Durable>>> {
    static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<Durable>>>> = OnceLock::new();
    OPEN.get_or_init(Default::default)
}

/// `path` made absolute with its directory resolved, so two spellings of one file match.
fn resolve(path: &Path) -> Result<PathBuf, DurableError> {
    let failed = |source| DurableError::Path {
        path: path.to_path_buf(),
        source,
    };
    let file = path.file_name().ok_or_else(|| {
        failed(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path names no file",
        ))
    })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok(std::fs::canonicalize(&dir).map_err(failed)?.join(file))
}

impl<K, V> DurableTable<K, V>
where
    K: Serialize + DeserializeOwned + 'static,
    V: Serialize + DeserializeOwned + 'static,
{
    /// Opens the table in the file at `path`, creating it as a `kind` table if it does not
    /// exist. An existing file must hold a table of that kind.
    pub fn open(path: impl AsRef<Path>, kind: DurableKind) -> Result<Self, DurableError> {
        let path = resolve(path.as_ref())?;
        let types = TypeId::of::<(K, V)>();
        let mut open = open_files()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(inner) = open.get(&path).and_then(Weak::upgrade) {
            if inner.types != types {
                return Err(DurableError::WrongType(path));
            }
            if inner.kind != kind {
                return Err(DurableError::KindMismatch {
                    path,
                    file: inner.kind,
                    asked: kind,
                });
            }
            return Ok(Self::wrap(inner));
        }
        let db = Database::create(&path).map_err(DurableError::store)?;
        let file_kind = store::init(&db, kind)?;
        if file_kind != kind {
            return Err(DurableError::KindMismatch {
                path,
                file: file_kind,
                asked: kind,
            });
        }
        let inner = Arc::new(Durable {
            db,
            path: path.clone(),
            kind,
            types,
        });
        open.retain(|_, table| table.strong_count() > 0);
        open.insert(path, Arc::downgrade(&inner));
        Ok(Self::wrap(inner))
    }

    fn wrap(inner: Arc<Durable>) -> Self {
        DurableTable {
            inner,
            _types: PhantomData,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Set, bag or duplicate bag.
    pub fn kind(&self) -> DurableKind {
        self.inner.kind
    }

    /// Runs `f` in one write transaction and commits its writes at once: all of them or, if
    /// `f` returns an error (or panics), none. Other writers wait; readers see the state before
    /// until the commit.
    pub fn transaction<R>(
        &self,
        f: impl FnOnce(&mut Transaction<'_, K, V>) -> Result<R, DurableError>,
    ) -> Result<R, DurableError> {
        let txn = self.inner.db.begin_write().map_err(DurableError::store)?;
        let result = {
            let mut tx = Transaction::open(&txn, self.inner.kind)?;
            f(&mut tx)?
        };
        txn.commit().map_err(DurableError::store)?;
        Ok(result)
    }

    /// Runs `f` on a read-only view of the last commit.
    fn read<R>(
        &self,
        f: impl FnOnce(&redb::ReadOnlyTable<&'static [u8], &'static [u8]>) -> Result<R, DurableError>,
    ) -> Result<R, DurableError> {
        let txn = self.inner.db.begin_read().map_err(DurableError::store)?;
        let objects = txn.open_table(OBJECTS).map_err(DurableError::store)?;
        f(&objects)
    }

    /// Inserts `value` under `key` and commits. In a set it replaces the key's object; in a bag
    /// it is skipped if an equal object is there. True if it was stored.
    pub fn insert(&self, key: K, value: V) -> Result<bool, DurableError> {
        self.transaction(|tx| tx.insert(key, value))
    }

    /// Inserts every pair in one commit.
    pub fn insert_many(
        &self,
        objects: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), DurableError> {
        self.transaction(|tx| {
            for (key, value) in objects {
                tx.insert(key, value)?;
            }
            Ok(())
        })
    }

    /// Inserts only if no object has `key`; true if it did.
    pub fn insert_new(&self, key: K, value: V) -> Result<bool, DurableError> {
        self.transaction(|tx| tx.insert_new(key, value))
    }

    /// The objects under `key`, in insertion order (at most one in a set).
    pub fn lookup(&self, key: &K) -> Result<Vec<V>, DurableError> {
        let key = encode(key, "key")?;
        self.read(|objects| store::values_under(objects, &key))
    }

    /// The object under `key` in a set (the first one in a bag).
    pub fn get(&self, key: &K) -> Result<Option<V>, DurableError> {
        Ok(self.lookup(key)?.into_iter().next())
    }

    /// True if an object has `key`.
    pub fn member(&self, key: &K) -> Result<bool, DurableError> {
        let key = encode(key, "key")?;
        self.read(|objects| store::has_key(objects, &key))
    }

    /// Deletes every object under `key` and says how many.
    pub fn delete(&self, key: &K) -> Result<usize, DurableError> {
        self.transaction(|tx| tx.delete(key))
    }

    /// Deletes the objects under `key` equal to `value` and says how many.
    pub fn delete_object(&self, key: &K, value: &V) -> Result<usize, DurableError> {
        self.transaction(|tx| tx.delete_object(key, value))
    }

    /// Removes the objects under `key` and returns them.
    pub fn take(&self, key: &K) -> Result<Vec<V>, DurableError> {
        self.transaction(|tx| tx.take(key))
    }

    /// Adds `increment` to the counter under `key` (a set) and returns the new value.
    pub fn update_counter(&self, key: &K, increment: i64) -> Result<V, DurableError>
    where
        V: Counter,
    {
        self.transaction(|tx| tx.update_counter(key, increment))
    }

    /// As `update_counter`, starting from `default` when the key has no counter.
    pub fn update_counter_or(&self, key: &K, increment: i64, default: V) -> Result<V, DurableError>
    where
        V: Counter,
    {
        self.transaction(|tx| tx.update_counter_or(key, increment, default))
    }

    /// Changes the object under `key` (a set) with `change`; false if there is none.
    pub fn update_element(
        &self,
        key: &K,
        change: impl FnOnce(&mut V),
    ) -> Result<bool, DurableError> {
        self.transaction(|tx| tx.update_element(key, change))
    }

    /// Visits every object of the last commit, in the order of their serialized keys.
    pub fn for_each(&self, mut visit: impl FnMut(K, V)) -> Result<(), DurableError> {
        self.read(|objects| {
            store::scan(objects, |key, value| {
                visit(decode(key, "key")?, decode(value, "value")?);
                Ok(())
            })
        })
    }

    /// For each object, keeps what `select` returns.
    pub fn select<R>(
        &self,
        mut select: impl FnMut(&K, &V) -> Option<R>,
    ) -> Result<Vec<R>, DurableError> {
        let mut selected = Vec::new();
        self.for_each(|key, value| selected.extend(select(&key, &value)))?;
        Ok(selected)
    }

    /// Copies of every object.
    pub fn to_list(&self) -> Result<Vec<(K, V)>, DurableError> {
        let mut objects = Vec::new();
        self.for_each(|key, value| objects.push((key, value)))?;
        Ok(objects)
    }

    /// Deletes every object `matches` accepts, in one commit, and says how many.
    pub fn select_delete(
        &self,
        matches: impl FnMut(&K, &V) -> bool,
    ) -> Result<usize, DurableError> {
        self.transaction(|tx| tx.select_delete(matches))
    }

    /// Number of objects.
    pub fn count(&self) -> Result<u64, DurableError> {
        self.read(|objects| {
            use redb::ReadableTableMetadata;
            objects.len().map_err(DurableError::store)
        })
    }

    /// Deletes every object, in one commit.
    pub fn clear(&self) -> Result<(), DurableError> {
        self.transaction(|tx| tx.clear())
    }

    /// Path, kind, size and bytes on disk.
    pub fn info(&self) -> Result<DurableInfo, DurableError> {
        let file_bytes = std::fs::metadata(&self.inner.path)
            .map_err(|source| DurableError::Path {
                path: self.inner.path.clone(),
                source,
            })?
            .len();
        Ok(DurableInfo {
            path: self.inner.path.clone(),
            kind: self.inner.kind,
            size: self.count()?,
            file_bytes,
        })
    }

    fn check_kind(&self, kind: Kind) -> Result<(), DurableError> {
        let wanted = DurableKind::of(kind);
        if wanted == self.inner.kind {
            return Ok(());
        }
        Err(DurableError::KindMismatch {
            path: self.inner.path.clone(),
            file: self.inner.kind,
            asked: wanted,
        })
    }

    /// Replaces this table's contents with a copy of `table`'s, in one commit, and says how
    /// many objects were written: so a node restart does not start cold. Writers of `table`
    /// are not stopped; an object they change meanwhile is copied before or after the change.
    pub fn snapshot(&self, table: &Table<K, V>) -> Result<usize, DurableError>
    where
        K: TableKey,
        V: TableValue,
    {
        self.check_kind(table.info()?.kind)?;
        let objects = table.to_list()?;
        self.replace_with(objects)
    }

    /// As [`snapshot`](Self::snapshot), for a bag.
    pub fn snapshot_bag(&self, table: &BagTable<K, V>) -> Result<usize, DurableError>
    where
        K: TableKey,
        V: BagValue,
    {
        self.check_kind(table.info()?.kind)?;
        let objects = table.to_list()?;
        self.replace_with(objects)
    }

    fn replace_with(&self, objects: Vec<(K, V)>) -> Result<usize, DurableError> {
        let count = objects.len();
        self.transaction(|tx| {
            tx.clear()?;
            for (key, value) in objects {
                tx.insert(key, value)?;
            }
            Ok(count)
        })
    }

    /// Inserts every object of this table into `table` (which must be writable by the caller)
    /// and says how many.
    pub fn restore(&self, table: &Table<K, V>) -> Result<usize, DurableError>
    where
        K: TableKey,
        V: TableValue,
    {
        self.check_kind(table.info()?.kind)?;
        let objects = self.to_list()?;
        let count = objects.len();
        table.insert_many(objects)?;
        Ok(count)
    }

    /// As [`restore`](Self::restore), into a bag.
    pub fn restore_bag(&self, table: &BagTable<K, V>) -> Result<usize, DurableError>
    where
        K: TableKey,
        V: BagValue,
    {
        self.check_kind(table.info()?.kind)?;
        let objects = self.to_list()?;
        let count = objects.len();
        for (key, value) in objects {
            table.insert(key, value)?;
        }
        Ok(count)
    }
}
