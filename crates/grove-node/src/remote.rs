//! What a process does with other nodes beyond `send`, `call`, `link` and `monitor` (which take
//! remote pids as they are): send to a name on a node, look a name up there, spawn a registered
//! kind of process there, and watch a whole node.

use std::time::Duration;

use grove_runtime::{Pid, Ref};
use serde::Serialize;

use crate::config::NodeError;
use crate::protocol::{Request, Response};

/// How long [`whereis`] and [`spawn`] wait for the other node's answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The pid that stands for the node `node` itself: [`monitor_node`] watches it, and the `Down`
/// that comes when the node is lost carries it (`down.pid.node_name()` is the node).
pub fn node_pid(node: &str) -> Pid {
    Pid::from_parts(node, 0, 0)
}

/// Watches the node `node` from the calling process (Erlang's `monitor_node/2`): when the
/// connection to it is lost, or cannot be made, the process gets a `Down` with
/// `noconnection` for [`node_pid`]. Connects if not connected. `None` outside processes.
pub fn monitor_node(node: &str) -> Option<Ref> {
    grove_runtime::monitor(node_pid(node))
}

/// Sends `message` to the process registered as `name` on `node` (Erlang's
/// `{Name, Node} ! Msg`). Like `send`, it never fails: if no process holds the name there, or
/// the node cannot be reached, the message is dropped. `M` must be registered for distribution.
pub fn send_named<M: Send + 'static>(name: &str, node: &str, message: M) {
    grove_runtime::remote::send_named(name, node, message);
}

/// Waits while the connection to `to`'s node is *busy*: while more than
/// [`NodeBuilder::busy_limit`](crate::NodeBuilder::busy_limit) bytes (1 MiB by default) wait to
/// be written to it. Returns at once for a local pid, for a node with no connection, and when
/// the connection closes.
///
/// `send` never blocks: a process that sends faster than the network carries fills the queue
/// to that node, and past `max_queue_bytes` its messages are dropped and counted. Erlang
/// suspends such a sender instead (a *busy distribution port*); a Grove producer gets the same
/// pacing by awaiting this after its sends:
///
/// ```no_run
/// # async fn producer(sink: grove_runtime::Addr<u64>) {
/// for n in 0..10_000_000u64 {
///     grove_runtime::send(sink, n);
///     grove_node::wait_for_room(sink.pid()).await;
/// }
/// # }
/// ```
pub async fn wait_for_room(to: Pid) {
    if to.is_local() {
        return;
    }
    let Ok(inner) = crate::node::current_inner() else {
        return;
    };
    if let Some(session) = inner.session_for(to, false) {
        session.wait_for_room().await;
    }
}

/// The pid registered as `name` on `node`, if any (a round trip to that node).
pub async fn whereis(name: &str, node: &str) -> Result<Option<Pid>, NodeError> {
    let inner = crate::node::current_inner()?;
    if node == &*inner.name {
        return Ok(grove_runtime::whereis(name));
    }
    match ask(
        node,
        Request::Whereis {
            name: name.to_string(),
        },
    )
    .await?
    {
        Response::Whereis(pid) => Ok(pid.map(|pid| pid.on(node))),
        other => Err(unexpected(node, &other)),
    }
}

/// Why [`spawn`] did not start a process.
#[derive(Debug, thiserror::Error)]
pub enum RemoteSpawnError {
    /// The node could not be asked.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The node refused: no such kind is registered there, the arguments did not decode, or
    /// the kind's start function failed.
    #[error("{node} did not spawn a {kind}: {reason}")]
    Refused {
        /// The node.
        node: String,
        /// The kind asked for.
        kind: String,
        /// What it said.
        reason: String,
    },
    /// The arguments could not be encoded.
    #[error("the arguments could not be encoded: {0}")]
    Encode(String),
}

/// Starts a process of kind `kind` on `node` with `args`, and returns its pid. Only kinds that
/// node registered with `NodeBuilder::spawnable` can be started; the arguments are decoded there
/// as the kind's argument type. Link to or monitor the pid afterwards as with any other.
pub async fn spawn<A: Serialize>(
    node: &str,
    kind: &str,
    args: &A,
) -> Result<Pid, RemoteSpawnError> {
    let args = postcard::to_allocvec(args).map_err(|e| RemoteSpawnError::Encode(e.to_string()))?;
    let inner = crate::node::current_inner()?;
    if node == &*inner.name {
        let spawn = inner
            .registry
            .spawn_fn(kind)
            .ok_or_else(|| RemoteSpawnError::Refused {
                node: node.to_string(),
                kind: kind.to_string(),
                reason: "no process kind is registered under this name".to_string(),
            })?;
        return spawn(&args).map_err(|reason| RemoteSpawnError::Refused {
            node: node.to_string(),
            kind: kind.to_string(),
            reason,
        });
    }
    let request = Request::Spawn {
        kind: kind.to_string(),
        args,
    };
    match ask(node, request).await? {
        Response::Spawned(Ok(pid)) => Ok(pid.on(node)),
        Response::Spawned(Err(reason)) => Err(RemoteSpawnError::Refused {
            node: node.to_string(),
            kind: kind.to_string(),
            reason,
        }),
        other => Err(unexpected(node, &other).into()),
    }
}

/// Sends `request` to `node` and waits for its response.
async fn ask(node: &str, request: Request) -> Result<Response, NodeError> {
    let inner = crate::node::current_inner()?;
    let session = inner
        .session_for(node_pid(node), true)
        .ok_or_else(|| NodeError::NoConnection(node.to_string()))?;
    let (id, response) = session.request(request);
    match tokio::time::timeout(REQUEST_TIMEOUT, response).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(_)) => Err(NodeError::NoConnection(node.to_string())),
        Err(_) => {
            session.forget_request(id);
            Err(NodeError::Timeout(node.to_string(), REQUEST_TIMEOUT))
        }
    }
}

fn unexpected(node: &str, response: &Response) -> NodeError {
    NodeError::Connect {
        peer: node.to_string(),
        reason: format!("answered with an unexpected {response:?}"),
    }
}
