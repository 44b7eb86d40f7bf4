//! The process table: every live local process, by serial number.
//!
//! A lock-free map (papaya) so that a send looks its receiver up without writing to shared memory:
//! two senders feeding one process never contend on the table, only on the mailbox.

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

/// Runs `f` on the record of a local pid without touching its reference count (the hot path of
/// `send`).
pub(crate) fn with<R>(pid: Pid, f: impl FnOnce(&dyn AnyCell) -> R) -> Option<R> {
    if !pid.is_local() {
        return None;
    }
    let guard = table().pin();
    guard.get(&pid.id()).map(|cell| f(&**cell))
}

pub(crate) fn len() -> usize {
    table().len()
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
