//! The seam where the distribution layer plugs in: what happens to signals aimed at pids of
//! other nodes, and how signals that arrive from other nodes reach local processes.
//!
//! Without distribution (this crate alone), a message to another node's pid is dropped and
//! logged at debug level, and a link or monitor to one fires at once with `noconnection`, as in
//! Erlang for a node that cannot be reached. `grove-node` installs a [`RemoteRouter`] to carry
//! them over the wire instead, and calls the `accept_*` and `deliver_*` methods of the
//! [`RemoteKey`] it got for it with what arrives: only the installed router has that key.
//!
//! Both halves keep the local rules of `docs/semantics.md`: an exit along a link reaches a
//! process only while it still has that link, and a `Down` only while it still holds the
//! monitor, so a late signal from a peer can never undo an `unlink` or a `demonitor`.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::exit::ExitReason;
use crate::pid::{Pid, Ref};
use crate::{signal, table};

/// Carries signals to processes on other nodes. Installed once by the distribution layer.
///
/// Every method is called with no process lock held and must not block: queue the signal for
/// the peer's connection and return. When the peer cannot be reached, the router answers for it
/// with `noconnection` through [`RemoteKey::deliver_link_exit`] and [`RemoteKey::deliver_down`].
pub trait RemoteRouter: Send + Sync + 'static {
    /// Sends a user message to a process on another node (or an earlier life of this node).
    fn send(&self, to: Pid, message: Box<dyn Any + Send>, type_name: &'static str);
    /// Sends a user message to whoever holds `name` on the node `node` (Erlang's
    /// `{Name, Node} ! Msg`); a call inside it is answered by that node if nobody does.
    fn send_named(
        &self,
        name: &str,
        node: &str,
        message: Box<dyn Any + Send>,
        type_name: &'static str,
    );
    /// `None` when a connection to `node` is up; otherwise a future that connects (or waits for
    /// the connection being made) and tells whether it came up within `within`.
    fn connect(&self, node: &str, within: Duration) -> Option<Connecting>;
    /// The local process `from` has linked to the remote `to` (the link is already in `from`'s
    /// links); ask `to`'s node to add its side.
    fn link(&self, from: Pid, to: Pid);
    /// The local process `from` removed its link with the remote `to`.
    fn unlink(&self, from: Pid, to: Pid);
    /// Tells a linked process on another node that the local `from` exited with `reason`.
    fn link_exit(&self, to: Pid, from: Pid, reason: &ExitReason);
    /// An explicit exit signal (Erlang's `exit/2`) from `from` (a local pid, or `<0.0.0>`) to
    /// the remote `to`.
    fn exit(&self, to: Pid, from: Pid, reason: ExitReason);
    /// The local `watcher` monitors the remote `target` under `reference` (already in its
    /// monitors).
    fn monitor(&self, watcher: Pid, target: Pid, reference: Ref);
    /// The local `watcher` monitors whoever holds `name` on the node `node` under `reference`
    /// (already in its monitors, with the node's pseudo-pid as the target): `node` resolves
    /// the name and answers with `Down` and `noproc` if nobody holds it.
    fn monitor_name(&self, watcher: Pid, name: &str, node: &str, reference: Ref);
    /// The local `watcher` dropped its monitor `reference` on the remote `target` (demonitor,
    /// or the watcher exited).
    fn demonitor(&self, watcher: Pid, target: Pid, reference: Ref);
    /// The local `target`, monitored by the remote `watcher`, exited with `reason`.
    fn down(&self, watcher: Pid, reference: Ref, target: Pid, reason: &ExitReason);
}

/// What [`RemoteRouter::connect`] returns while a connection is not up yet.
pub type Connecting = Pin<Box<dyn Future<Output = bool> + Send>>;

static ROUTER: OnceLock<Arc<dyn RemoteRouter>> = OnceLock::new();

/// Installs the router for remote pids, once per OS process. The one caller that installs it
/// gets the [`RemoteKey`] that delivers signals from other nodes; `None` if a router was
/// installed already.
pub fn set_remote_router(router: Arc<dyn RemoteRouter>) -> Option<RemoteKey> {
    ROUTER.set(router).ok().map(|()| RemoteKey { _private: () })
}

/// Proof of being the installed distribution layer: only [`set_remote_router`] makes one, for
/// the code that installed the router. Delivering a signal from another node (an exit, a `Down`,
/// a link or monitor a peer asks for) takes it, so no other code in the program can forge one.
#[derive(Clone)]
pub struct RemoteKey {
    _private: (),
}

impl std::fmt::Debug for RemoteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RemoteKey")
    }
}

fn router() -> Option<&'static Arc<dyn RemoteRouter>> {
    ROUTER.get()
}

pub(crate) fn send<M: Send + 'static>(to: Pid, message: M) {
    match router() {
        Some(router) => router.send(to, Box::new(message), std::any::type_name::<M>()),
        None => tracing::debug!(
            %to,
            node = %to.node_name(),
            "message to a process of another node dropped: distribution is not running"
        ),
    }
}

/// Sends `message` to whoever holds `name` on the node `node` (Erlang's `{Name, Node} ! Msg`).
/// Like `send`, it never fails: without distribution, or when the node cannot be reached, the
/// message is dropped (and logged at debug level).
pub fn send_named<M: Send + 'static>(name: &str, node: &str, message: M) {
    if *node == *crate::pid::node().name {
        let _ = crate::names::send_named(name, message);
        return;
    }
    match router() {
        Some(router) => {
            router.send_named(name, node, Box::new(message), std::any::type_name::<M>())
        }
        None => tracing::debug!(
            %name,
            %node,
            "message to a name on another node dropped: distribution is not running"
        ),
    }
}

/// Connects to `node` if no connection is up, and waits up to `within` for it: true once it
/// is up (at once if it was). False without distribution, and when it does not come up in time.
pub async fn connected(node: &str, within: Duration) -> bool {
    if *node == *crate::pid::node().name {
        return true;
    }
    let Some(router) = router() else {
        return false;
    };
    match router.connect(node, within) {
        None => true,
        Some(connecting) => connecting.await,
    }
}

pub(crate) fn link_exit(to: Pid, from: Pid, reason: &ExitReason) {
    if to.is_local() {
        return; // a local process that is already gone
    }
    if let Some(router) = router() {
        router.link_exit(to, from, reason);
    }
}

/// Hands a new link with a remote pid to the router; false when there is none (then the link
/// breaks at once with `noconnection`).
pub(crate) fn link(from: Pid, to: Pid) -> bool {
    router().map(|router| router.link(from, to)).is_some()
}

pub(crate) fn unlink(from: Pid, to: Pid) {
    if let Some(router) = router() {
        router.unlink(from, to);
    }
}

pub(crate) fn exit(to: Pid, from: Pid, reason: ExitReason) {
    if let Some(router) = router() {
        router.exit(to, from, reason);
    }
}

/// Hands a new monitor of a remote pid to the router; false when there is none.
pub(crate) fn monitor(watcher: Pid, target: Pid, reference: Ref) -> bool {
    router()
        .map(|router| router.monitor(watcher, target, reference))
        .is_some()
}

/// Hands a new monitor of a name on another node to the router; false when there is none.
pub(crate) fn monitor_name(watcher: Pid, name: &str, node: &str, reference: Ref) -> bool {
    router()
        .map(|router| router.monitor_name(watcher, name, node, reference))
        .is_some()
}

pub(crate) fn demonitor(watcher: Pid, target: Pid, reference: Ref) {
    if let Some(router) = router() {
        router.demonitor(watcher, target, reference);
    }
}

pub(crate) fn down(watcher: Pid, reference: Ref, target: Pid, reason: &ExitReason) {
    if watcher.is_local() {
        return; // a local watcher that is already gone
    }
    if let Some(router) = router() {
        router.down(watcher, reference, target, reason);
    }
}

impl RemoteKey {
    /// A remote process asks to link with the local `local`. Returns false (adding nothing) when
    /// `local` is not alive: the caller answers with `noproc`.
    pub fn accept_link(&self, local: Pid, remote: Pid) -> bool {
        table::with(local, |cell| {
            let mut control = cell.shared().control.lock();
            if control.alive {
                control.rel().links.insert(remote);
                true
            } else {
                false
            }
        })
        .unwrap_or(false)
    }

    /// A remote process removed its link with the local `local`.
    pub fn remove_link(&self, local: Pid, remote: Pid) {
        table::with(local, |cell| {
            if let Some(rel) = cell.shared().control.lock().rel.as_mut() {
                rel.links.remove(&remote);
            }
        });
    }

    /// The remote `from`, linked to the local `to`, exited with `reason` (or its node was lost:
    /// `noconnection`). Delivered only if `to` still has the link, as for a local link.
    pub fn deliver_link_exit(&self, to: Pid, from: Pid, reason: ExitReason) {
        if let Some(cell) = table::lookup(to) {
            signal::deliver_exit(&*cell, from, reason, true);
        }
    }

    /// An explicit exit signal (`exit/2`) from the remote `from` to the local `to`.
    pub fn deliver_exit(&self, to: Pid, from: Pid, reason: ExitReason) {
        if let Some(cell) = table::lookup(to) {
            signal::deliver_exit(&*cell, from, reason, false);
        }
    }

    /// The remote `watcher` monitors the local `target` under `reference`. Returns false (adding
    /// nothing) when `target` is not alive: the caller answers with `Down` and `noproc`.
    pub fn accept_monitor(&self, target: Pid, reference: Ref, watcher: Pid) -> bool {
        table::with(target, |cell| {
            let mut control = cell.shared().control.lock();
            if control.alive {
                control.rel().monitored_by.insert(reference, watcher);
                true
            } else {
                false
            }
        })
        .unwrap_or(false)
    }

    /// The remote watcher of the local `target` dropped its monitor `reference`.
    pub fn remove_monitor(&self, target: Pid, reference: Ref) {
        table::with(target, |cell| {
            if let Some(rel) = cell.shared().control.lock().rel.as_mut() {
                rel.monitored_by.remove(&reference);
            }
        });
    }

    /// The remote `target` watched by the local `watcher` under `reference` is gone with `reason`
    /// (`noconnection` when its node was lost). Delivered only if the monitor is still held.
    pub fn deliver_down(&self, watcher: Pid, reference: Ref, target: Pid, reason: ExitReason) {
        if let Some(cell) = table::lookup(watcher) {
            signal::deliver_down(&*cell, reference, target, reason);
        }
    }
}
