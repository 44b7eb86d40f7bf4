//! The runtime's entry points for signals from other nodes, reached through the key the runtime
//! gave this node when it installed its router (no other code in the program holds one).

use std::sync::OnceLock;

use grove_runtime::remote::RemoteKey;
use grove_runtime::{ExitReason, Pid, Ref};

pub(crate) use grove_runtime::remote::Connecting;

static KEY: OnceLock<RemoteKey> = OnceLock::new();

/// Keeps the key `set_remote_router` gave this node.
pub(crate) fn install(key: RemoteKey) {
    let _ = KEY.set(key);
}

pub(crate) fn accept_link(local: Pid, remote: Pid) -> bool {
    KEY.get().is_some_and(|key| key.accept_link(local, remote))
}

pub(crate) fn remove_link(local: Pid, remote: Pid) {
    if let Some(key) = KEY.get() {
        key.remove_link(local, remote);
    }
}

pub(crate) fn deliver_link_exit(to: Pid, from: Pid, reason: ExitReason) {
    if let Some(key) = KEY.get() {
        key.deliver_link_exit(to, from, reason);
    }
}

pub(crate) fn deliver_exit(to: Pid, from: Pid, reason: ExitReason) {
    if let Some(key) = KEY.get() {
        key.deliver_exit(to, from, reason);
    }
}

pub(crate) fn accept_monitor(target: Pid, reference: Ref, watcher: Pid) -> bool {
    KEY.get()
        .is_some_and(|key| key.accept_monitor(target, reference, watcher))
}

pub(crate) fn remove_monitor(target: Pid, reference: Ref) {
    if let Some(key) = KEY.get() {
        key.remove_monitor(target, reference);
    }
}

pub(crate) fn deliver_down(watcher: Pid, reference: Ref, target: Pid, reason: ExitReason) {
    if let Some(key) = KEY.get() {
        key.deliver_down(watcher, reference, target, reason);
    }
}

/// The key, once this node has started.
pub(crate) fn key() -> Option<&'static RemoteKey> {
    KEY.get()
}
