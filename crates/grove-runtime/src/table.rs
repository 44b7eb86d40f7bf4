//! The process table: every live local process, by serial number.
//!
//! A lock-free map (papaya) so that a send looks its receiver up without writing to shared memory:
//! two senders feeding one process never contend on the table, only on the mailbox.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use crate::cell::AnyCell;
use crate::pid::Pid;

type Table = papaya::HashMap<u64, Arc<dyn AnyCell>, foldhash::fast::RandomState>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| papaya::HashMap::with_hasher(foldhash::fast::RandomState::default()))
}

pub(crate) fn insert(cell: Arc<dyn AnyCell>) {
    let id = cell.shared().pid.id();
    table().pin().insert(id, cell);
}

pub(crate) fn remove(pid: Pid) {
    table().pin().remove(&pid.id());
}

/// The live record of a local pid; `None` for a dead pid or one of another node or life.
pub(crate) fn lookup(pid: Pid) -> Option<Arc<dyn AnyCell>> {
    if !pid.is_local() {
        return None;
    }
    table().pin().get(&pid.id()).cloned()
}

/// How many recently used records each thread keeps at hand.
const RECENT_SLOTS: usize = 4;

/// A cached record: the process's serial number and its record.
type RecentEntry = (u64, Option<Arc<dyn AnyCell>>);

thread_local! {
    /// The records this thread sent to last. A process usually talks to the same few others, so
    /// this spares most sends the table lookup. A record found here may belong to a process that
    /// has exited since: that is harmless, because pids are never reused and a dead record says
    /// so (its mailbox is closed, it is marked not alive), exactly as a fresh lookup would.
    static RECENT: RefCell<[RecentEntry; RECENT_SLOTS]> =
        const { RefCell::new([(0, None), (0, None), (0, None), (0, None)]) };
}

/// Runs `f` on the record of a local pid without touching its reference count (the hot path of
/// `send`); `None` if the table has no such process. The record may be of a process that exited
/// since this thread cached it, so `f` must check what it relies on (a closed mailbox, the
/// `alive` flag), as every caller does. `f` may itself send (it runs under a shared
/// borrow of the thread's cache, which nested sends can read but not update).
pub(crate) fn with<R>(pid: Pid, f: impl FnOnce(&dyn AnyCell) -> R) -> Option<R> {
    if !pid.is_local() {
        return None;
    }
    let id = pid.id();
    RECENT.with(|recent| {
        if let Ok(entries) = recent.try_borrow() {
            if let Some((_, Some(cell))) = entries.iter().find(|(slot, _)| *slot == id) {
                return Some(f(&**cell));
            }
        }
        let cell = lookup(pid)?;
        let result = f(&*cell);
        if let Ok(mut entries) = recent.try_borrow_mut() {
            entries.rotate_right(1);
            entries[0] = (id, Some(cell));
        }
        Some(result)
    })
}

pub(crate) fn len() -> usize {
    table().len()
}

/// Runs `f` on every live process's record.
pub(crate) fn for_each(mut f: impl FnMut(&dyn AnyCell)) {
    let guard = table().pin();
    for (_, cell) in guard.iter() {
        f(&**cell);
    }
}

pub(crate) fn pids() -> Vec<Pid> {
    let guard = table().pin();
    let mut pids: Vec<Pid> = guard.iter().map(|(_, cell)| cell.shared().pid).collect();
    pids.sort_unstable();
    pids
}

/// The process table as the signal protocol sees it.
pub(crate) struct Global;

impl crate::signal::Lookup for Global {
    fn lookup(&self, pid: Pid) -> Option<Arc<dyn AnyCell>> {
        lookup(pid)
    }
}
