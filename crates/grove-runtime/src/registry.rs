//! A keyed process registry, like Elixir's `Registry`: unique keys with values (for `via`
//! names), or duplicate keys (for pub/sub dispatch).
//!
//! Entries belong to processes and are removed when their process exits. The registry is split
//! into partitions by key, each behind its own lock, so registrations of different keys from many
//! processes do not contend on one lock.
//!
//! ```
//! use grove_runtime::registry::{Registry, Keys};
//! use grove_runtime::{spawn, send, Context};
//! # let rt = tokio::runtime::Runtime::new().unwrap();
//! # rt.block_on(async {
//! // Pub/sub: several processes subscribe to a topic; a publisher dispatches to all of them.
//! let topics: Registry<String, ()> = Registry::new(Keys::Duplicate);
//! for _ in 0..3 {
//!     let listener = spawn(|mut ctx: Context<String>| async move { let _ = ctx.recv().await; });
//!     topics.register(listener, "news".to_string(), ()).unwrap();
//! }
//! assert_eq!(topics.lookup(&"news".to_string()).len(), 3);
//! // Each listener gets the message (and then exits, which removes its entry).
//! topics.dispatch(&"news".to_string(), |pid, ()| send(pid.assume_type::<String>(), "hi".into()));
//! # });
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, Weak};

use parking_lot::RwLock;

use crate::pid::Pid;
use crate::process::{add_exit_hook, is_alive, try_send, SendError};

/// Whether a key names one process or many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keys {
    /// A key is held by at most one process (Elixir's `:unique`): names, `via` tuples.
    Unique,
    /// A key may be held by many processes, each with its own value (Elixir's `:duplicate`):
    /// topics, groups.
    Duplicate,
}

/// Why a registration failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    /// The unique key is held by another process.
    #[error("the key is already registered to {holder}; unregister it there first")]
    AlreadyRegistered {
        /// The process holding the key.
        holder: Pid,
    },
    /// The process is not alive.
    #[error("{0} is not alive, so it cannot hold a registry key")]
    NotAlive(Pid),
}

struct Partition<K, V> {
    entries: HashMap<K, Vec<(Pid, V)>>,
    by_pid: HashMap<Pid, Vec<K>>,
}

struct Inner<K, V> {
    keys: Keys,
    hasher: foldhash::fast::RandomState,
    partitions: Box<[RwLock<Partition<K, V>>]>,
    /// Processes whose exit hook is installed.
    members: papaya::HashSet<Pid>,
}

/// A keyed registry of processes. Cloning it is cheap and shares the same registry.
pub struct Registry<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for Registry<K, V> {
    fn clone(&self) -> Self {
        Registry {
            inner: self.inner.clone(),
        }
    }
}

impl<K, V> Registry<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// A registry with one partition per core.
    pub fn new(keys: Keys) -> Self {
        let partitions = std::thread::available_parallelism().map_or(4, |n| n.get());
        Self::with_partitions(keys, partitions)
    }

    /// A registry with `partitions` partitions (at least one).
    pub fn with_partitions(keys: Keys, partitions: usize) -> Self {
        let partitions = (0..partitions.max(1))
            .map(|_| {
                RwLock::new(Partition {
                    entries: HashMap::new(),
                    by_pid: HashMap::new(),
                })
            })
            .collect();
        Registry {
            inner: Arc::new(Inner {
                keys,
                hasher: foldhash::fast::RandomState::default(),
                partitions,
                members: papaya::HashSet::new(),
            }),
        }
    }

    fn partition(&self, key: &K) -> &RwLock<Partition<K, V>> {
        let index = self.inner.hasher.hash_one(key) as usize % self.inner.partitions.len();
        &self.inner.partitions[index]
    }

    /// Registers `pid` under `key` with `value`. In a unique registry the key must be free.
    /// The entry is removed when `pid` exits.
    pub fn register(&self, pid: impl Into<Pid>, key: K, value: V) -> Result<(), RegistryError> {
        let pid = pid.into();
        {
            let mut partition = self.partition(&key).write();
            let holders = partition.entries.entry(key.clone()).or_default();
            if self.inner.keys == Keys::Unique {
                if let Some((holder, _)) = holders.first() {
                    return Err(RegistryError::AlreadyRegistered { holder: *holder });
                }
            }
            holders.push((pid, value));
            partition.by_pid.entry(pid).or_default().push(key.clone());
        }
        if self.inner.members.pin().insert(pid) {
            let registry = Arc::downgrade(&self.inner);
            let hook = Box::new(move |pid: Pid, _: &crate::ExitReason| forget(&registry, pid));
            if add_exit_hook(pid, hook).is_err() {
                // The process died before its hook went in. Another registration may have seen it
                // as a member (so installed no hook) and returned Ok while it was still alive:
                // drop all its entries here, or they would outlive it.
                forget(&Arc::downgrade(&self.inner), pid);
            }
        }
        // The exit hook may have run before the entry went in; then the process is dead by now.
        if !is_alive(pid) {
            self.unregister(pid, &key);
            return Err(RegistryError::NotAlive(pid));
        }
        Ok(())
    }

    /// Removes every entry of `pid` under `key`.
    pub fn unregister(&self, pid: impl Into<Pid>, key: &K) {
        let pid = pid.into();
        let mut partition = self.partition(key).write();
        remove_entries(&mut partition, pid, key);
        if let Some(keys) = partition.by_pid.get_mut(&pid) {
            keys.retain(|k| k != key);
            if keys.is_empty() {
                partition.by_pid.remove(&pid);
            }
        }
    }

    /// The processes registered under `key`, with their values.
    pub fn lookup(&self, key: &K) -> Vec<(Pid, V)>
    where
        V: Clone,
    {
        self.partition(key)
            .read()
            .entries
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    /// The process holding `key` (the first one, in a duplicate registry): a `via` name lookup.
    pub fn whereis(&self, key: &K) -> Option<Pid> {
        self.partition(key)
            .read()
            .entries
            .get(key)
            .and_then(|holders| holders.first().map(|(pid, _)| *pid))
    }

    /// `key` as a destination, looked up in this registry at each use (Elixir's
    /// `{:via, Registry, {registry, key}}`): give it to `send`, `monitor`, `link`, or to
    /// `Server::via` for a `GenServer`.
    pub fn via(&self, key: K) -> crate::Dest
    where
        K: std::fmt::Debug,
    {
        crate::Dest::Via(crate::dest::Via::new(ViaKey {
            registry: self.clone(),
            key,
        }))
    }

    /// Calls `f` with each process registered under `key` and its value, without copying the
    /// entries. `f` runs under the partition's read lock: it must not register or unregister.
    pub fn dispatch(&self, key: &K, mut f: impl FnMut(Pid, &V)) {
        let partition = self.partition(key).read();
        if let Some(holders) = partition.entries.get(key) {
            for (pid, value) in holders {
                f(*pid, value);
            }
        }
    }

    /// Sends `message` to the process holding `key`: the `via` form of sending by name
    /// (Elixir's `{:via, Registry, {registry, key}}`). A key nobody holds is an error, as for
    /// [`crate::send_named`]; in a duplicate registry the first holder receives it (use
    /// [`Registry::dispatch`] to reach them all).
    pub fn send<M: Send + 'static>(&self, key: &K, message: M) -> Result<(), SendError<M>>
    where
        K: std::fmt::Debug,
    {
        match self.whereis(key) {
            Some(pid) => try_send(pid.assume_type::<M>(), message),
            None => Err(SendError::NotRegistered {
                name: Arc::from(format!("{key:?}")),
                message,
            }),
        }
    }

    /// The keys `pid` is registered under.
    pub fn keys(&self, pid: impl Into<Pid>) -> Vec<K> {
        let pid = pid.into();
        self.inner
            .partitions
            .iter()
            .flat_map(|p| p.read().by_pid.get(&pid).cloned().unwrap_or_default())
            .collect()
    }

    /// The number of entries.
    pub fn count(&self) -> usize {
        self.inner
            .partitions
            .iter()
            .map(|p| p.read().entries.values().map(Vec::len).sum::<usize>())
            .sum()
    }
}

fn remove_entries<K: Eq + Hash, V>(partition: &mut Partition<K, V>, pid: Pid, key: &K) {
    if let Some(holders) = partition.entries.get_mut(key) {
        holders.retain(|(holder, _)| *holder != pid);
        if holders.is_empty() {
            partition.entries.remove(key);
        }
    }
}

/// Drops every entry of an exited process.
fn forget<K: Eq + Hash, V>(registry: &Weak<Inner<K, V>>, pid: Pid) {
    let Some(inner) = registry.upgrade() else {
        return;
    };
    for partition in inner.partitions.iter() {
        let mut partition = partition.write();
        if let Some(keys) = partition.by_pid.remove(&pid) {
            for key in keys {
                remove_entries(&mut partition, pid, &key);
            }
        }
    }
    inner.members.pin().remove(&pid);
}

/// A key of a [`Registry`] as a destination.
struct ViaKey<K, V> {
    registry: Registry<K, V>,
    key: K,
}

impl<K, V> crate::dest::ViaName for ViaKey<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + std::fmt::Debug + 'static,
    V: Send + Sync + 'static,
{
    fn whereis(&self) -> Option<Pid> {
        self.registry.whereis(&self.key)
    }

    fn describe(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{via, {:?}}}", self.key)
    }
}
