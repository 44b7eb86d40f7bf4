//! The node: this OS process's identity in a cluster, its listener, and its sessions with the
//! other nodes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use grove_runtime::Pid;
use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::config::{Config, NodeBuilder, NodeError, Transport};
use crate::handshake::{Identity, PeerInfo};
use crate::session::{Phase, Session};
use crate::stats::{NodeStats, Stats};
use crate::tls::Tls;
use crate::types::Registry;

/// Something that happened to a connection, from [`Node::events`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// A node connected (or reconnected: see its creation).
    Up {
        /// Its name.
        node: Arc<str>,
        /// Its creation: a new value means the node restarted, and pids of its earlier life
        /// are gone.
        creation: u32,
    },
    /// A connection was lost: links and monitors over it have fired `noconnection`.
    Down {
        /// The node's name.
        node: Arc<str>,
        /// What happened (the peer closed, heartbeat timeout, ...).
        reason: String,
    },
}

/// The running node; a cheap handle (clone it freely). [`Node::current`] finds it from anywhere.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.inner.name)
            .field("listen", &self.inner.listen_addr)
            .finish()
    }
}

pub(crate) struct NodeInner {
    pub(crate) name: Arc<str>,
    pub(crate) creation: u32,
    pub(crate) listen_addr: SocketAddr,
    pub(crate) advertise: String,
    pub(crate) config: Config,
    pub(crate) registry: Registry,
    pub(crate) tls: Option<Tls>,
    /// Sessions by the node index of their peer's pids.
    pub(crate) sessions: papaya::HashMap<u32, Arc<Session>>,
    /// Serializes the creation and replacement of sessions (a structural change, rare).
    pub(crate) structure: Mutex<()>,
    /// Where peers listen, by name: learned from handshakes, from peers, from `connect`.
    pub(crate) addresses: Mutex<HashMap<Arc<str>, String>>,
    /// Peers whose last connection attempt failed, and when: not retried on every send.
    pub(crate) failed: Mutex<HashMap<Arc<str>, Instant>>,
    pub(crate) events: broadcast::Sender<NodeEvent>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) handshakes: Arc<crate::admission::Admission>,
    /// What large messages still arriving in fragments may hold, across all connections.
    pub(crate) reassembly: Arc<crate::dispatch::ReassemblyBudget>,
    pub(crate) runtime: tokio::runtime::Handle,
}

static NODE: OnceLock<Node> = OnceLock::new();

/// How long a peer that could not be reached is left alone before a send tries again.
pub(crate) const RETRY_AFTER: Duration = Duration::from_millis(500);

impl NodeBuilder {
    /// Starts the node: names this OS process's pids after it, listens, and starts discovery.
    /// There is one node per OS process; a second start fails with
    /// [`NodeError::AlreadyStarted`].
    pub async fn start(self) -> Result<Node, NodeError> {
        let (config, registry) = self.into_config()?;
        if let Some(node) = NODE.get() {
            return Err(NodeError::AlreadyStarted(node.name().to_string()));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NodeError::NoRuntime)?;
        let tls = match &config.transport {
            Transport::Tls(files) => Some(Tls::load(files)?),
            Transport::SecretOnly => None,
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| NodeError::Bind {
                addr: config.listen,
                source,
            })?;
        let listen_addr = listener.local_addr().map_err(|source| NodeError::Bind {
            addr: config.listen,
            source,
        })?;
        let advertise = config.advertise.clone().unwrap_or_else(|| {
            if listen_addr.ip().is_unspecified() {
                let host = config.name.split_once('@').map_or("", |(_, h)| h);
                format!("{host}:{}", listen_addr.port())
            } else {
                listen_addr.to_string()
            }
        });
        grove_runtime::pid::set_node_name(&config.name);
        let (events, _) = broadcast::channel(1024);
        let inner = Arc::new(NodeInner {
            name: Arc::from(config.name.as_str()),
            creation: grove_runtime::node().creation,
            listen_addr,
            advertise,
            handshakes: crate::admission::Admission::new(
                config.max_handshakes,
                config.max_handshakes_per_address,
            ),
            reassembly: Arc::new(crate::dispatch::ReassemblyBudget::new(
                config.max_reassembly_bytes,
            )),
            config,
            registry,
            tls,
            sessions: papaya::HashMap::new(),
            structure: Mutex::new(()),
            addresses: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
            events,
            stats: Arc::new(Stats::default()),
            runtime,
        });
        let node = Node {
            inner: inner.clone(),
        };
        // The router first: if another node (or other code) installed one, nothing of this
        // node is left behind half-started.
        let router = Arc::new(crate::router::Router(inner.clone()));
        match grove_runtime::remote::set_remote_router(router) {
            Some(key) => crate::rt::install(key),
            None => return Err(NodeError::AlreadyStarted(inner.name.to_string())),
        }
        if NODE.set(node.clone()).is_err() {
            return Err(NodeError::AlreadyStarted(inner.name.to_string()));
        }
        inner
            .runtime
            .spawn(crate::connection::accept_loop(inner.clone(), listener));
        crate::discovery::start(&inner);
        tracing::info!(node = %inner.name, listen = %listen_addr, tls = inner.tls.is_some(), "node started");
        Ok(node)
    }
}

impl Node {
    /// The node running in this OS process, if one was started.
    pub fn current() -> Option<Node> {
        NODE.get().cloned()
    }

    /// This node's name, `name@host`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// This node's creation: it differs on every start.
    pub fn creation(&self) -> u32 {
        self.inner.creation
    }

    /// The address the node listens on (with the real port when it was asked for port 0).
    pub fn listen_addr(&self) -> SocketAddr {
        self.inner.listen_addr
    }

    /// The nodes this one is connected to (Erlang's `nodes()`).
    pub fn nodes(&self) -> Vec<String> {
        let mut nodes: Vec<String> = self
            .inner
            .sessions
            .pin()
            .values()
            .filter(|s| matches!(s.phase(), Phase::Up(_)))
            .map(|s| s.peer_name.to_string())
            .collect();
        nodes.sort();
        nodes
    }

    /// Subscribes to connection events: a node coming up, a connection lost. (A receiver that
    /// falls more than 1024 events behind skips the oldest.)
    pub fn events(&self) -> broadcast::Receiver<NodeEvent> {
        self.inner.events.subscribe()
    }

    /// The node's counters.
    pub fn stats(&self) -> NodeStats {
        self.inner.stats.snapshot()
    }

    /// How many bytes wait to be written to the node `name` (the queue
    /// [`crate::wait_for_room`] paces producers by); `None` when not connected or connecting.
    pub fn queued_bytes(&self, name: &str) -> Option<usize> {
        let index = crate::remote::node_pid(name).node_index();
        let session = self.inner.sessions.pin().get(&index).cloned()?;
        let bytes = session.out.lock().queued_bytes();
        Some(bytes)
    }

    /// Connects to the node listening at `addr` (`host:port`) and returns its name. Already
    /// connected is not an error.
    pub async fn connect(&self, addr: &str) -> Result<String, NodeError> {
        crate::connection::connect_addr(self.inner.clone(), addr.to_string(), None)
            .await
            .map(|name| name.to_string())
    }

    /// Connects to the node `name` (Erlang's `net_kernel:connect_node`), at the address it is
    /// known by, and waits until the connection is up.
    pub async fn connect_node(&self, name: &str) -> Result<(), NodeError> {
        let probe = crate::remote::node_pid(name);
        let session = self
            .inner
            .session_for(probe, true)
            .ok_or_else(|| NodeError::NoConnection(name.to_string()))?;
        session_up(
            &session,
            self.inner.config.handshake_timeout + self.inner.config.connect_timeout,
        )
        .await
        .map_err(|_| NodeError::NoConnection(name.to_string()))
    }

    /// Closes the connection to `name`; links and monitors over it fire `noconnection`. True
    /// if there was one.
    pub fn disconnect(&self, name: &str) -> bool {
        let index = crate::remote::node_pid(name).node_index();
        let session = self.inner.sessions.pin().get(&index).cloned();
        match session {
            Some(session) => {
                self.inner
                    .close_session(&session, "disconnected on request".to_string());
                true
            }
            None => false,
        }
    }
}

/// Waits until `session` is up; an error if it closes or the time runs out.
pub(crate) async fn session_up(session: &Session, within: Duration) -> Result<(), ()> {
    let wait = async {
        loop {
            let changed = session.phase_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match session.phase() {
                Phase::Up(_) => return Ok(()),
                Phase::Closed => return Err(()),
                Phase::Connecting => changed.await,
            }
        }
    };
    tokio::time::timeout(within, wait).await.unwrap_or(Err(()))
}

/// The running node's internals, for the free functions (`whereis`, `spawn`, ...).
pub(crate) fn current_inner() -> Result<Arc<NodeInner>, NodeError> {
    NODE.get()
        .map(|node| node.inner.clone())
        .ok_or(NodeError::NotStarted)
}

/// What the acceptor of a handshake decided.
pub(crate) enum Decision {
    Accept(Arc<Session>),
    Refuse(&'static str),
}

/// Refusal reasons the initiator recognizes: the peer is (or is about to be) connected to us
/// through another connection, so this one is not needed.
pub(crate) const REFUSE_DUPLICATE: &str = "already connected";
pub(crate) const REFUSE_SIMULTANEOUS: &str = "simultaneous connection; the other one is kept";

impl NodeInner {
    pub(crate) fn identity(&self) -> Identity {
        Identity {
            name: self.name.to_string(),
            creation: self.creation,
            listen: Some(self.advertise.clone()),
        }
    }

    fn new_session(self: &Arc<Self>, name: &str, index: u32) -> Arc<Session> {
        Session::new(
            Arc::downgrade(self),
            Arc::from(name),
            index,
            self.config.max_queue_bytes,
            self.config.busy_limit,
            self.stats.clone(),
        )
    }

    /// The session for `pid`'s node; with `create`, starts connecting when there is none
    /// (Erlang connects on first use). `None` for this node's earlier lives and for a peer that
    /// failed to connect a moment ago.
    pub(crate) fn session_for(self: &Arc<Self>, pid: Pid, create: bool) -> Option<Arc<Session>> {
        let index = pid.node_index();
        if let Some(session) = self.sessions.pin().get(&index) {
            return Some(session.clone());
        }
        if !create {
            return None;
        }
        let name = pid.node_name();
        if *name == *self.name {
            return None; // an earlier life of this node: its processes are gone
        }
        if let Some(when) = self.failed.lock().get(&name) {
            if when.elapsed() < RETRY_AFTER {
                return None;
            }
        }
        let session = {
            let _structure = self.structure.lock();
            let sessions = self.sessions.pin();
            if let Some(session) = sessions.get(&index) {
                return Some(session.clone());
            }
            let session = self.new_session(&name, index);
            sessions.insert(index, session.clone());
            session
        };
        self.runtime.spawn(crate::connection::connect_named(
            self.clone(),
            session.clone(),
        ));
        Some(session)
    }

    /// An outgoing connection learned its peer's name: the session to run it in, or `None`
    /// if the peer is already connected or being connected to.
    pub(crate) fn claim_outgoing(self: &Arc<Self>, peer: &PeerInfo) -> Option<Arc<Session>> {
        let index = crate::remote::node_pid(&peer.name).node_index();
        let _structure = self.structure.lock();
        let sessions = self.sessions.pin();
        if sessions.get(&index).is_some() {
            return None;
        }
        let session = self.new_session(&peer.name, index);
        sessions.insert(index, session.clone());
        Some(session)
    }

    /// An incoming connection authenticated as `peer`: take it or not. When both nodes connect
    /// to each other at once, the connection opened by the node with the smaller name is kept
    /// (both sides decide the same way, so exactly one survives).
    pub(crate) fn decide_incoming(self: &Arc<Self>, peer: &PeerInfo) -> Decision {
        let index = crate::remote::node_pid(&peer.name).node_index();
        let _structure = self.structure.lock();
        let sessions = self.sessions.pin();
        if let Some(existing) = sessions.get(&index).cloned() {
            match existing.phase() {
                Phase::Connecting => {
                    if *self.name < *peer.name {
                        return Decision::Refuse(REFUSE_SIMULTANEOUS);
                    }
                    return Decision::Accept(existing);
                }
                Phase::Up(up) if up.creation == peer.creation => {
                    return Decision::Refuse(REFUSE_DUPLICATE);
                }
                Phase::Up(_) => {
                    // The peer restarted: its earlier life is gone, whatever the old socket says.
                    let why = format!("{} restarted (new creation {})", peer.name, peer.creation);
                    existing.close(why.clone());
                    self.after_close(&existing, true, why);
                }
                Phase::Closed => {}
            }
        }
        let session = self.new_session(&peer.name, index);
        sessions.insert(index, session.clone());
        Decision::Accept(session)
    }

    /// A handshake finished: the session is up with `peer`.
    pub(crate) fn session_up(&self, session: &Arc<Session>, peer: &PeerInfo) {
        self.failed.lock().remove(&*session.peer_name);
        if let Some(listen) = &peer.listen {
            self.addresses
                .lock()
                .insert(session.peer_name.clone(), listen.clone());
        }
        self.stats.connections_up.fetch_add(1, Ordering::Relaxed);
        tracing::info!(peer = %peer.name, creation = peer.creation, "node connected");
        let _ = self.events.send(NodeEvent::Up {
            node: session.peer_name.clone(),
            creation: peer.creation,
        });
    }

    /// A connection attempt for `session` failed: closes it unless it came up meanwhile
    /// through the peer's connection to us.
    pub(crate) fn attempt_failed(&self, session: &Session, why: String) {
        if session.close_if_connecting(why.clone()) {
            self.failed
                .lock()
                .insert(session.peer_name.clone(), Instant::now());
            self.after_close(session, false, why);
        }
    }

    /// Closes `session` and forgets it.
    pub(crate) fn close_session(&self, session: &Session, why: String) {
        let was_up = matches!(session.phase(), Phase::Up(_));
        if session.close(why.clone()) {
            if !was_up {
                self.failed
                    .lock()
                    .insert(session.peer_name.clone(), Instant::now());
            }
            self.after_close(session, was_up, why);
        }
    }

    fn after_close(&self, session: &Session, was_up: bool, why: String) {
        let sessions = self.sessions.pin();
        if sessions
            .get(&session.node_index)
            .is_some_and(|current| std::ptr::eq(Arc::as_ptr(current), session))
        {
            sessions.remove(&session.node_index);
        }
        if was_up {
            self.stats.connections_lost.fetch_add(1, Ordering::Relaxed);
            let _ = self.events.send(NodeEvent::Down {
                node: session.peer_name.clone(),
                reason: why,
            });
        }
    }

    /// Where to reach `name`: an address learned for it, or its host on the default port.
    pub(crate) fn address_of(&self, name: &str) -> String {
        if let Some(addr) = self.addresses.lock().get(name) {
            return addr.clone();
        }
        let host = name.split_once('@').map_or(name, |(_, host)| host);
        format!("{host}:{}", self.config.default_port)
    }

    /// The nodes this one is connected to, with their addresses (for the mesh).
    pub(crate) fn known_peers(&self) -> Vec<(String, String)> {
        let addresses = self.addresses.lock();
        self.sessions
            .pin()
            .values()
            .filter(|s| matches!(s.phase(), Phase::Up(_)))
            .filter_map(|s| {
                addresses
                    .get(&s.peer_name)
                    .map(|addr| (s.peer_name.to_string(), addr.clone()))
            })
            .collect()
    }
}
