//! Destinations: where a message, a call, a link or a monitor goes. A pid, or a name looked up
//! at each use, as Elixir's `GenServer.call(:kv, ...)`, `{:kv, node}` and
//! `{:via, Registry, key}` are.
//!
//! A name is resolved when it is used, not when the `Dest` is made: after a restart under the
//! same name, the same `Dest` reaches the new process. A name nobody holds resolves to nothing,
//! and each use says what that means (a call fails with `noproc`, a monitor fires at once with
//! `noproc`, [`send_to`] hands the message back with `NotRegistered`).
//!
//! ```
//! use grove_runtime::{register, spawn, Context, Dest};
//! # let rt = tokio::runtime::Runtime::new().unwrap();
//! # rt.block_on(async {
//! let logger = spawn(|mut ctx: Context<String>| async move { let _ = ctx.recv().await; });
//! let by_name = Dest::from("dest_doc_logger");
//! assert_eq!(by_name.whereis(), None);
//! register("dest_doc_logger", logger).unwrap();
//! assert_eq!(by_name.whereis(), Some(logger.pid()));
//! # });
//! ```

use std::fmt;
use std::sync::Arc;

use crate::pid::{Addr, Pid};

/// Where something goes: a process, or a name resolved at each use.
#[derive(Clone)]
pub enum Dest {
    /// A process, on this node or another.
    Pid(Pid),
    /// The process registered under this name on this node.
    Name(Arc<str>),
    /// The process registered under `name` on the node `node` (Erlang's `{Name, Node}`).
    Remote {
        /// The registered name.
        name: Arc<str>,
        /// The node's name (`name@host`).
        node: Arc<str>,
    },
    /// A name in a registry other than the local one (Elixir's `{:via, Module, Key}`).
    Via(Via),
}

/// Where a destination resolves to now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// This process.
    Pid(Pid),
    /// The process registered under `name` on the other node `node`: resolved there.
    Remote {
        /// The registered name.
        name: Arc<str>,
        /// The node's name.
        node: Arc<str>,
    },
    /// Nobody holds the name.
    Nobody,
}

impl Dest {
    /// The process registered as `name` on `node`. On this node's own name, the same as a
    /// local name.
    pub fn remote(name: impl Into<Arc<str>>, node: impl Into<Arc<str>>) -> Dest {
        Dest::Remote {
            name: name.into(),
            node: node.into(),
        }
    }

    /// Who the destination names now. A name on another node is resolved there, so it comes
    /// back as [`Resolved::Remote`].
    pub fn resolve(&self) -> Resolved {
        let found = match self {
            Dest::Pid(pid) => Some(*pid),
            Dest::Name(name) => crate::names::whereis(name),
            Dest::Via(via) => via.0.whereis(),
            Dest::Remote { name, node } => {
                if **node != *crate::pid::node().name {
                    return Resolved::Remote {
                        name: name.clone(),
                        node: node.clone(),
                    };
                }
                crate::names::whereis(name)
            }
        };
        found.map_or(Resolved::Nobody, Resolved::Pid)
    }

    /// The pid the destination names now, if it can be known here: `None` for a name nobody
    /// holds and for a name on another node.
    pub fn whereis(&self) -> Option<Pid> {
        match self.resolve() {
            Resolved::Pid(pid) => Some(pid),
            _ => None,
        }
    }

    /// The pid, if this destination is one (no lookup).
    pub fn as_pid(&self) -> Option<Pid> {
        match self {
            Dest::Pid(pid) => Some(*pid),
            _ => None,
        }
    }
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dest::Pid(pid) => write!(f, "{pid}"),
            Dest::Name(name) => write!(f, "{name}"),
            Dest::Remote { name, node } => write!(f, "{{{name}, {node}}}"),
            Dest::Via(via) => write!(f, "{via:?}"),
        }
    }
}

impl fmt::Debug for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl PartialEq for Dest {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Dest::Pid(a), Dest::Pid(b)) => a == b,
            (Dest::Name(a), Dest::Name(b)) => a == b,
            (
                Dest::Remote { name, node },
                Dest::Remote {
                    name: other_name,
                    node: other_node,
                },
            ) => name == other_name && node == other_node,
            (Dest::Via(a), Dest::Via(b)) => Arc::ptr_eq(&a.0, &b.0),
            _ => false,
        }
    }
}

impl Eq for Dest {}

impl std::hash::Hash for Dest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Dest::Pid(pid) => pid.hash(state),
            Dest::Name(name) => name.hash(state),
            Dest::Remote { name, node } => (name, node).hash(state),
            Dest::Via(via) => (Arc::as_ptr(&via.0) as *const () as usize).hash(state),
        }
    }
}

impl From<Pid> for Dest {
    fn from(pid: Pid) -> Dest {
        Dest::Pid(pid)
    }
}

impl<M> From<Addr<M>> for Dest {
    fn from(addr: Addr<M>) -> Dest {
        Dest::Pid(addr.pid())
    }
}

impl From<&str> for Dest {
    fn from(name: &str) -> Dest {
        Dest::Name(Arc::from(name))
    }
}

impl From<String> for Dest {
    fn from(name: String) -> Dest {
        Dest::Name(Arc::from(name))
    }
}

impl From<Arc<str>> for Dest {
    fn from(name: Arc<str>) -> Dest {
        Dest::Name(name)
    }
}

impl From<(&str, &str)> for Dest {
    fn from((name, node): (&str, &str)) -> Dest {
        Dest::remote(name, node)
    }
}

impl From<&Dest> for Dest {
    fn from(dest: &Dest) -> Dest {
        dest.clone()
    }
}

impl From<Via> for Dest {
    fn from(via: Via) -> Dest {
        Dest::Via(via)
    }
}

/// A name in some registry, resolved at each use: what [`crate::registry::Registry::via`]
/// makes, and what another registry (the cluster's) implements [`ViaName`] for.
#[derive(Clone)]
pub struct Via(Arc<dyn ViaName>);

impl Via {
    /// A destination looked up through `name` at each use.
    pub fn new(name: impl ViaName) -> Via {
        Via(Arc::new(name))
    }
}

impl fmt::Debug for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.describe(f)
    }
}

/// A key in a registry, as a destination: how to find who holds it now.
pub trait ViaName: Send + Sync + 'static {
    /// The process holding the key now, if any.
    fn whereis(&self) -> Option<Pid>;
    /// Writes the name for logs and errors.
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// Sends `message` to whoever `dest` names now (Erlang's `Dest ! Msg`, Elixir's
/// `send(:kv, msg)`): a pid, a local name, `(name, node)`, or a registry key through `via`.
///
/// - A local name or registry key nobody holds is an error, with the message handed back
///   ([`crate::SendError::NotRegistered`]), as Erlang's `Name ! Msg` raises `badarg`.
/// - A `(name, node)` is looked up on that node (this node's own name: here), and a message to
///   a name nobody holds there is dropped, as Erlang's `{Name, Node} ! Msg` is.
/// - A process that takes another message type, or a full bounded mailbox, is an error as with
///   [`crate::try_send`]; a message to a pid that is no longer alive is dropped, as in Erlang.
///
/// ```
/// use grove_runtime::{register, send_to, spawn, Context, SendError};
/// # let rt = tokio::runtime::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let (tx, rx) = tokio::sync::oneshot::channel();
/// let logger = spawn(move |mut ctx: Context<String>| async move {
///     let _ = tx.send(ctx.recv().await.into_user());
/// });
/// assert!(matches!(
///     send_to("send_to_doc_logger", "early".to_string()),
///     Err(SendError::NotRegistered { .. })
/// ));
/// register("send_to_doc_logger", logger).unwrap();
/// send_to("send_to_doc_logger", "hello".to_string()).unwrap();
/// assert_eq!(rx.await.unwrap().as_deref(), Some("hello"));
/// # });
/// ```
pub fn send_to<M: Send + 'static>(
    dest: impl Into<Dest>,
    message: M,
) -> Result<(), crate::SendError<M>> {
    let dest = dest.into();
    match dest.resolve() {
        Resolved::Pid(pid) => crate::try_send(pid.assume_type(), message),
        Resolved::Remote { name, node } => {
            crate::remote::send_named(&name, &node, message);
            Ok(())
        }
        // `{Name, Node} ! Msg` to a free name is dropped, even on this node.
        Resolved::Nobody if matches!(dest, Dest::Remote { .. }) => Ok(()),
        Resolved::Nobody => Err(crate::SendError::NotRegistered {
            name: Arc::from(dest.to_string()),
            message,
        }),
    }
}

/// `me` monitors `dest`: a pid, whoever holds a local or `via` name now (a name nobody holds
/// gives `Down` with `noproc` at once, for a pid of no process), or whoever holds a name on
/// another node, resolved there.
pub(crate) fn monitor(me: &dyn crate::cell::AnyCell, dest: Dest) -> crate::pid::Ref {
    match dest.resolve() {
        Resolved::Pid(pid) => crate::signal::monitor(me, pid, &crate::table::Global),
        Resolved::Nobody => crate::signal::monitor(me, Pid::nobody(), &crate::table::Global),
        Resolved::Remote { name, node } => crate::signal::monitor_name(me, &name, &node),
    }
}

/// Why a link to a destination could not be made before any signal was sent.
pub(crate) enum Unlinkable {
    /// A name on another node: links are between pids, and resolving it takes a round trip.
    RemoteName(Arc<str>, Arc<str>),
}

/// The pid a link to `dest` goes to: a name nobody holds links to no process (and so gets
/// `noproc`); a name on another node cannot be linked by name.
pub(crate) fn link_target(dest: Dest) -> Result<Pid, Unlinkable> {
    match dest.resolve() {
        Resolved::Pid(pid) => Ok(pid),
        Resolved::Nobody => Ok(Pid::nobody()),
        Resolved::Remote { name, node } => Err(Unlinkable::RemoteName(name, node)),
    }
}
