//! What every in-memory table has besides its data: an owner process, an access rule, an
//! optional heir and name, and the life cycle that ties them together.
//!
//! A table follows its owner's life through a runtime exit hook (not a monitor: a table is not
//! a process and has no mailbox). When the owner exits, the table goes to its heir if one was
//! named and is alive, who is told with a [`TableTransfer`] message; otherwise it is deleted.
//! Reads and writes never go through the owner: they check two atomics (deleted? owner id) and
//! touch the data directly.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use grove_runtime::{on_exit, self_pid, try_deliver, Addr, OnExit, Pid};
use parking_lot::Mutex;

use crate::error::{Access, Kind, OwnerName, TableError};

/// The message an heir, or the receiver of [`give_away`](crate::Table::give_away), gets when a
/// table becomes theirs: ETS's `{'ETS-TRANSFER', Table, FromPid, HeirData}`.
///
/// The receiving process's message type must implement `From<TableTransfer<T, D>>`, where `T`
/// is the table's handle type and `D` the data given with the heir or the give-away.
#[derive(Debug, Clone)]
pub struct TableTransfer<T, D = ()> {
    /// The table, now owned by the receiver.
    pub table: T,
    /// The previous owner.
    pub from: Pid,
    /// The data named with the heir or the give-away.
    pub data: D,
}

/// A summary of a table, as `ets:info/1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// The table's name, if it has one.
    pub name: Option<Arc<str>>,
    /// Set, ordered set, bag or duplicate bag.
    pub kind: Kind,
    /// Who may read and write.
    pub access: Access,
    /// The owning process; `None` for a public table created outside any process.
    pub owner: Option<Pid>,
    /// The process that inherits the table when the owner exits.
    pub heir: Option<Pid>,
    /// Number of objects.
    pub size: usize,
    /// An estimate of the bytes the table itself uses for its objects and index. Memory that
    /// keys and values own on the heap (a `String`'s text) is not counted.
    pub memory: usize,
}

/// The data of one kind of table, as the shared core sees it.
pub(crate) trait Store: Send + Sync + Sized + 'static {
    /// The public handle over this store (`Table<K, V>`, `BagTable<K, V>`).
    type Handle: Clone + Send + 'static;
    fn handle(inner: Arc<Inner<Self>>) -> Self::Handle;
    fn clear(&self);
    fn len(&self) -> usize;
    /// Estimated bytes per object, for `info`.
    fn object_footprint(&self) -> usize;
    fn kind(&self) -> Kind;
}

/// Delivers a `TableTransfer` to a new owner; false if its mailbox refused it.
type Deliver<T> = Box<dyn FnOnce(T, Pid) -> bool + Send>;

struct Heir<T> {
    pid: Pid,
    deliver: Deliver<T>,
}

struct Ownership<T> {
    owner: Option<Pid>,
    /// The exit hook on the current owner.
    hook: Option<OnExit>,
    heir: Option<Heir<T>>,
}

/// A table: its data and everything around it.
pub(crate) struct Inner<S: Store> {
    pub(crate) store: S,
    access: Access,
    name: Option<Arc<str>>,
    /// The owner's pid serial (pids are never reused on a node), 0 for none: what the access
    /// check of every operation reads.
    owner_id: AtomicU64,
    deleted: AtomicBool,
    ownership: Mutex<Ownership<S::Handle>>,
}

/// How a table is created; filled in by `TableOptions`.
pub(crate) struct Setup<T> {
    pub(crate) access: Access,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) heir: Option<(Pid, Deliver<T>)>,
}

impl<T> Default for Setup<T> {
    fn default() -> Self {
        Setup {
            access: Access::Protected,
            name: None,
            heir: None,
        }
    }
}

/// Builds the delivery of a `TableTransfer` to `to`.
pub(crate) fn deliver_to<T, D, M>(to: Addr<M>, data: D) -> (Pid, Deliver<T>)
where
    T: Send + 'static,
    D: Send + 'static,
    M: From<TableTransfer<T, D>> + Send + 'static,
{
    let deliver: Deliver<T> = Box::new(move |table, from| {
        let transfer = TableTransfer { table, from, data };
        try_deliver(to, M::from(transfer)).is_ok()
    });
    (to.pid(), deliver)
}

impl<S: Store> Inner<S> {
    /// Creates a table owned by the calling process and registers its name.
    pub(crate) fn create(store: S, setup: Setup<S::Handle>) -> Result<Arc<Self>, TableError> {
        let owner = self_pid();
        if owner.is_none() && setup.access != Access::Public {
            return Err(TableError::NoOwner {
                access: setup.access,
            });
        }
        let inner = Arc::new(Inner {
            store,
            access: setup.access,
            name: setup.name.clone(),
            owner_id: AtomicU64::new(owner.map_or(0, |pid| pid.id())),
            deleted: AtomicBool::new(false),
            ownership: Mutex::new(Ownership {
                owner,
                hook: None,
                heir: setup.heir.map(|(pid, deliver)| Heir { pid, deliver }),
            }),
        });
        if let Some(name) = &setup.name {
            let entry: Arc<dyn Any + Send + Sync> = inner.clone();
            if names().pin().try_insert(name.clone(), entry).is_err() {
                return Err(TableError::NameTaken(name.clone()));
            }
        }
        if let Some(owner) = owner {
            match watch_owner(&inner, owner) {
                Ok(hook) => inner.ownership.lock().hook = Some(hook),
                // Only reachable if the creating process is being taken down right now.
                Err(()) => inner.delete_now(),
            }
        }
        Ok(inner)
    }

    pub(crate) fn access(&self) -> Access {
        self.access
    }

    pub(crate) fn name(&self) -> Option<&Arc<str>> {
        self.name.as_ref()
    }

    /// May the calling process read? Checked by every read.
    #[inline]
    pub(crate) fn check_read(&self) -> Result<(), TableError> {
        if self.deleted.load(Ordering::Acquire) {
            return Err(TableError::Deleted);
        }
        if self.access == Access::Private && !self.caller_owns() {
            return Err(self.denied("read"));
        }
        Ok(())
    }

    /// May the calling process write? Checked by every write.
    #[inline]
    pub(crate) fn check_write(&self) -> Result<(), TableError> {
        if self.deleted.load(Ordering::Acquire) {
            return Err(TableError::Deleted);
        }
        if self.access != Access::Public && !self.caller_owns() {
            return Err(self.denied("write"));
        }
        Ok(())
    }

    #[inline]
    fn caller_owns(&self) -> bool {
        let owner = self.owner_id.load(Ordering::Acquire);
        owner != 0 && self_pid().is_some_and(|me| me.is_local() && me.id() == owner)
    }

    fn denied(&self, operation: &'static str) -> TableError {
        TableError::AccessDenied {
            operation,
            access: self.access,
            owner: OwnerName(self.ownership.lock().owner),
            caller: OwnerName(self_pid()),
        }
    }

    pub(crate) fn info(&self) -> Result<TableInfo, TableError> {
        self.check_read()?;
        let ownership = self.ownership.lock();
        let size = self.store.len();
        Ok(TableInfo {
            name: self.name.clone(),
            kind: self.store.kind(),
            access: self.access,
            owner: ownership.owner,
            heir: ownership.heir.as_ref().map(|heir| heir.pid),
            size,
            memory: size * self.store.object_footprint(),
        })
    }

    pub(crate) fn owner(&self) -> Option<Pid> {
        self.ownership.lock().owner
    }

    /// Only the owner may change who owns or inherits the table (a public table made outside a
    /// process has no owner, so nobody may).
    fn check_owner(&self, operation: &'static str) -> Result<Pid, TableError> {
        if self.deleted.load(Ordering::Acquire) {
            return Err(TableError::Deleted);
        }
        let owner = self.ownership.lock().owner;
        match (owner, self_pid()) {
            (Some(owner), Some(me)) if owner == me => Ok(owner),
            (owner, caller) => Err(TableError::AccessDenied {
                operation,
                access: self.access,
                owner: OwnerName(owner),
                caller: OwnerName(caller),
            }),
        }
    }

    pub(crate) fn set_heir(
        &self,
        heir: Option<(Pid, Deliver<S::Handle>)>,
    ) -> Result<(), TableError> {
        self.check_owner("set the heir")?;
        self.ownership.lock().heir = heir.map(|(pid, deliver)| Heir { pid, deliver });
        Ok(())
    }

    /// Deletes the table: every handle's next operation fails with `Deleted`.
    pub(crate) fn delete(&self) -> Result<(), TableError> {
        self.check_write()?;
        if let Some(hook) = self.ownership.lock().hook.take() {
            hook.cancel();
        }
        self.delete_now();
        Ok(())
    }

    fn delete_now(&self) {
        if self.deleted.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(name) = &self.name {
            let me = self as *const Self as *const ();
            let _ = names().pin().remove_if(name, |_, entry| {
                std::ptr::eq(Arc::as_ptr(entry) as *const (), me)
            });
        }
        let mut ownership = self.ownership.lock();
        ownership.heir = None;
        ownership.owner = None;
        drop(ownership);
        self.owner_id.store(0, Ordering::Release);
        self.store.clear();
    }
}

/// Hands the table to `to` (a live local process other than the owner), who gets a
/// `TableTransfer`. Only the owner may give a table away.
pub(crate) fn give_away<S: Store>(
    inner: &Arc<Inner<S>>,
    to: Pid,
    deliver: Deliver<S::Handle>,
) -> Result<(), TableError> {
    let from = inner.check_owner("give away")?;
    if to == from {
        return Err(TableError::AlreadyOwner(to));
    }
    if !to.is_local() {
        return Err(TableError::NoProc(to));
    }
    // The hook is installed under the lock, so if `to` exits right away the hook waits for the
    // lock and then finds `to` the owner.
    let mut ownership = inner.ownership.lock();
    let hook = watch_owner(inner, to).map_err(|()| TableError::NoProc(to))?;
    if let Some(old) = ownership.hook.replace(hook) {
        old.cancel();
    }
    ownership.owner = Some(to);
    inner.owner_id.store(to.id(), Ordering::Release);
    drop(ownership);
    let handle = S::handle(inner.clone());
    if !deliver(handle, from) {
        tracing::warn!(table = ?inner.name, %to, "the new owner's mailbox refused the TableTransfer message; it owns the table without being told");
    }
    Ok(())
}

/// Installs the hook that acts on `owner`'s exit. Err if `owner` is not alive.
fn watch_owner<S: Store>(inner: &Arc<Inner<S>>, owner: Pid) -> Result<OnExit, ()> {
    let table = Arc::downgrade(inner);
    on_exit(owner, move |pid, _reason| owner_exited(&table, pid)).map_err(|_| ())
}

/// The owner exited: the heir inherits the table, or it is deleted.
fn owner_exited<S: Store>(table: &Weak<Inner<S>>, pid: Pid) {
    // Every handle dropped: the data is freed with the last one, nothing to do.
    let Some(inner) = table.upgrade() else {
        return;
    };
    let mut ownership = inner.ownership.lock();
    if ownership.owner != Some(pid) {
        // Given away since this hook was installed.
        return;
    }
    ownership.hook = None;
    // As in ETS, the heir inherits once: the new owner names the next heir if it wants one.
    let heir = ownership.heir.take();
    if let Some(Heir { pid: heir, deliver }) = heir.filter(|heir| heir.pid != pid) {
        if let Ok(hook) = watch_owner(&inner, heir) {
            ownership.owner = Some(heir);
            ownership.hook = Some(hook);
            inner.owner_id.store(heir.id(), Ordering::Release);
            drop(ownership);
            if !deliver(S::handle(inner.clone()), pid) {
                tracing::warn!(table = ?inner.name, %heir, "the heir's mailbox refused the TableTransfer message; it owns the table without being told");
            }
            return;
        }
    }
    drop(ownership);
    inner.delete_now();
}

type Names = papaya::HashMap<Arc<str>, Arc<dyn Any + Send + Sync>, foldhash::fast::RandomState>;

/// Named tables of this node.
fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(|| papaya::HashMap::with_hasher(foldhash::fast::RandomState::default()))
}

/// The live table named `name`, if its store is `S`.
pub(crate) fn whereis<S: Store>(name: &str) -> Result<Arc<Inner<S>>, TableError> {
    let names = names().pin();
    let Some(entry) = names.get(name) else {
        return Err(TableError::NoSuchTable(Arc::from(name)));
    };
    entry
        .clone()
        .downcast::<Inner<S>>()
        .map_err(|_| TableError::WrongType {
            name: Arc::from(name),
            expected: std::any::type_name::<S::Handle>(),
        })
}

/// Names of the live named tables, for introspection.
pub fn named_tables() -> Vec<Arc<str>> {
    names().pin().keys().cloned().collect()
}
