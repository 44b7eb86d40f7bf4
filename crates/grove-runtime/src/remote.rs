//! The seam where the distribution layer plugs in: what happens to signals aimed at pids of
//! other nodes.
//!
//! Without distribution (this crate alone), a message to another node's pid is dropped and
//! logged at debug level, and a link or monitor to one fires at once with `noconnection`, as in
//! Erlang for a node that cannot be reached. `grove-node` installs a [`RemoteRouter`] to carry
//! them over the wire instead.

use std::any::Any;
use std::sync::{Arc, OnceLock};

use crate::exit::ExitReason;
use crate::pid::Pid;

/// Carries signals to processes on other nodes. Installed once by the distribution layer.
pub trait RemoteRouter: Send + Sync + 'static {
    /// Sends a user message to a process on another node (or an earlier life of this node).
    fn send(&self, to: Pid, message: Box<dyn Any + Send>, type_name: &'static str);
    /// Tells a linked process on another node that `from` exited with `reason`.
    fn link_exit(&self, to: Pid, from: Pid, reason: &ExitReason);
}

static ROUTER: OnceLock<Arc<dyn RemoteRouter>> = OnceLock::new();

/// Installs the router for remote pids. Returns false if one was installed already.
pub fn set_remote_router(router: Arc<dyn RemoteRouter>) -> bool {
    ROUTER.set(router).is_ok()
}

pub(crate) fn send<M: Send + 'static>(to: Pid, message: M) {
    match ROUTER.get() {
        Some(router) => router.send(to, Box::new(message), std::any::type_name::<M>()),
        None => tracing::debug!(
            %to,
            node = %to.node_name(),
            "message to a process of another node dropped: distribution is not running"
        ),
    }
}

pub(crate) fn link_exit(to: Pid, from: Pid, reason: &ExitReason) {
    if to.is_local() {
        return; // a local process that is already gone
    }
    if let Some(router) = ROUTER.get() {
        router.link_exit(to, from, reason);
    }
}
