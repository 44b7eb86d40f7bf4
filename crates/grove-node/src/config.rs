//! How a node is set up: [`NodeBuilder`], its defaults, and the errors of starting one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use grove_otp::gen_server::GenServer;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::discovery::Discovery;
use crate::types::{Registry, RegistryError, ServerTypes};

/// How the bytes between nodes travel.
#[derive(Clone, Debug)]
pub enum Transport {
    /// Mutual TLS (rustls, TLS 1.3): each node proves its certificate was signed by the
    /// cluster's CA, and everything is encrypted. The default to aim for.
    Tls(TlsFiles),
    /// TCP with the cluster secret as the only key: nodes authenticate with it, and every frame
    /// after the handshake is encrypted and authenticated (AES-256-GCM) under keys derived from
    /// it and the handshake. No certificates to manage, but a leaked or guessed secret opens
    /// past and future traffic (no forward secrecy), and any secret holder may claim any node
    /// name; see `docs/semantics.md`. Chosen with [`NodeBuilder::secret_only`].
    SecretOnly,
}

/// Where a node's TLS material is: PEM files of the CA that signs every node's certificate, this
/// node's certificate (chain), and its private key. `grove-node certs` makes a development set.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The CA certificate(s) peers' certificates must chain to.
    pub ca: PathBuf,
    /// This node's certificate chain.
    pub cert: PathBuf,
    /// This node's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl TlsFiles {
    /// The files `grove-node certs --out dir` writes: `dir/ca.pem`, `dir/node.pem` and
    /// `dir/node-key.pem`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> TlsFiles {
        let dir = dir.into();
        TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("node.pem"),
            key: dir.join("node-key.pem"),
        }
    }
}

/// Why a node did not start, or an operation on it failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The name is not `name@host`.
    #[error(
        "{0:?} is not a node name: use name@host, e.g. app@10.0.0.5 or app@app-0.app.default.svc"
    )]
    BadName(String),
    /// No cluster secret was given.
    #[error("no cluster secret: set one with NodeBuilder::secret (the same on every node, e.g. from an environment variable); nodes never talk unauthenticated")]
    NoSecret,
    /// Neither TLS nor secret-only was chosen.
    #[error("no transport chosen: configure TLS with NodeBuilder::tls (grove-node certs makes development certificates), or use the cluster secret as the only key with NodeBuilder::secret_only")]
    NoTransport,
    /// The TLS files could not be loaded.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}; pick another port or stop what holds it")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A node already runs in this OS process.
    #[error("a node is already running in this process ({0}); there is one node per OS process, as in Erlang")]
    AlreadyStarted(String),
    /// A type was registered wrongly.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// There is no tokio runtime to run the node's tasks.
    #[error("no tokio runtime: start the node from inside grove::run or #[tokio::main]")]
    NoRuntime,
    /// A connection attempt failed.
    #[error("could not connect to {peer}: {reason}")]
    Connect {
        /// The node or address.
        peer: String,
        /// Why.
        reason: String,
    },
    /// The node is not connected and could not be reached.
    #[error("node {0} is not reachable (noconnection)")]
    NoConnection(String),
    /// The node did not answer in time.
    #[error("node {0} did not answer within {1:?}")]
    Timeout(String, Duration),
    /// No node runs in this process.
    #[error("distribution is not running: start a node with NodeBuilder::start")]
    NotStarted,
}

impl From<NodeError> for grove_runtime::ExitReason {
    /// A process that makes a node error its own (with `?`) exits with it as an error reason.
    fn from(error: NodeError) -> Self {
        grove_runtime::ExitReason::error(error)
    }
}

/// Everything a node runs with (the builder's result).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) name: String,
    pub(crate) listen: SocketAddr,
    pub(crate) advertise: Option<String>,
    pub(crate) secret: Vec<u8>,
    pub(crate) transport: Transport,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) heartbeat_timeout: Duration,
    pub(crate) handshake_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_queue_bytes: usize,
    pub(crate) busy_limit: usize,
    pub(crate) max_message_bytes: usize,
    pub(crate) max_reassembly_bytes: usize,
    pub(crate) max_handshakes: usize,
    pub(crate) max_handshakes_per_address: usize,
    pub(crate) hello_timeout: Duration,
    pub(crate) mesh: bool,
    pub(crate) default_port: u16,
    pub(crate) discovery: Vec<Discovery>,
    pub(crate) reconnect_interval: Duration,
}

/// Sets up this OS process's node and starts it.
///
/// ```no_run
/// use grove_node::{NodeBuilder, TlsFiles};
/// # async fn start() -> Result<(), grove_node::NodeError> {
/// let node = NodeBuilder::new("app@10.0.0.5")
///     .listen("0.0.0.0:4370".parse().unwrap())
///     .secret(std::env::var("GROVE_SECRET").unwrap_or_default())
///     .tls(TlsFiles::in_dir("/etc/grove/tls"))
///     .static_peers(["10.0.0.6:4370", "10.0.0.7:4370"])
///     .start()
///     .await?;
/// println!("{} is up", node.name());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct NodeBuilder {
    name: String,
    listen: SocketAddr,
    advertise: Option<String>,
    secret: Option<Vec<u8>>,
    transport: Option<Transport>,
    heartbeat_interval: Duration,
    heartbeat_timeout: Duration,
    handshake_timeout: Duration,
    connect_timeout: Duration,
    max_queue_bytes: usize,
    busy_limit: usize,
    max_message_bytes: usize,
    max_reassembly_bytes: usize,
    max_handshakes: usize,
    max_handshakes_per_address: usize,
    hello_timeout: Duration,
    mesh: bool,
    default_port: u16,
    discovery: Vec<Discovery>,
    reconnect_interval: Duration,
    pub(crate) registry: Registry,
}

/// The port a node listens on unless told otherwise, and the one it tries for a peer whose
/// address it has not learned (Erlang's nodes find each other's ports through epmd; Grove nodes
/// share one port instead, or learn addresses from discovery and from each other).
pub const DEFAULT_PORT: u16 = 4370;

impl NodeBuilder {
    /// A node named `name` (`name@host`), listening on all interfaces on [`DEFAULT_PORT`].
    pub fn new(name: impl Into<String>) -> NodeBuilder {
        NodeBuilder {
            name: name.into(),
            listen: SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)),
            advertise: None,
            secret: None,
            transport: None,
            heartbeat_interval: Duration::from_millis(400),
            heartbeat_timeout: Duration::from_millis(1500),
            handshake_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            max_queue_bytes: 64 << 20,
            busy_limit: 1 << 20,
            max_message_bytes: 64 << 20,
            max_reassembly_bytes: 256 << 20,
            max_handshakes: 64,
            max_handshakes_per_address: 8,
            hello_timeout: Duration::from_secs(2),
            mesh: true,
            default_port: DEFAULT_PORT,
            discovery: Vec::new(),
            reconnect_interval: Duration::from_secs(1),
            registry: Registry::default(),
        }
    }

    /// Where to listen (port 0 picks a free one; see [`crate::Node::listen_addr`]).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The `host:port` other nodes should use to reach this one, when the listen address is not
    /// it (listening on 0.0.0.0, behind NAT). By default, the listen address, or the host of
    /// the node's name with the listen port when listening on all interfaces.
    pub fn advertise(mut self, addr: impl Into<String>) -> Self {
        self.advertise = Some(addr.into());
        self
    }

    /// The cluster secret every node shares (Erlang's cookie). Nodes prove they know it without
    /// sending it; a node that does not is refused. Use a long random value.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secret = Some(secret.as_ref().to_vec());
        self
    }

    /// Encrypts and authenticates connections with mutual TLS.
    pub fn tls(mut self, files: TlsFiles) -> Self {
        self.transport = Some(Transport::Tls(files));
        self
    }

    /// Connects without TLS: the cluster secret is the only key (see
    /// [`Transport::SecretOnly`] for what that protects and what it does not). There is no
    /// default transport, so this is always an explicit choice.
    pub fn secret_only(mut self) -> Self {
        self.transport = Some(Transport::SecretOnly);
        self
    }

    /// The old name of [`NodeBuilder::secret_only`], from before frames were sealed without TLS.
    #[deprecated(
        note = "renamed secret_only: without TLS, frames are now encrypted under keys from the secret"
    )]
    pub fn insecure_plaintext(self) -> Self {
        self.secret_only()
    }

    /// How often a quiet connection sends a heartbeat, and how long without any bytes from a
    /// peer before it is declared down (`noconnection`). Defaults: 400 ms and 1.5 s, so a hung
    /// or partitioned node is noticed within 2 s. A killed node is noticed at once.
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.heartbeat_interval = interval.max(Duration::from_millis(10));
        self.heartbeat_timeout = timeout.max(self.heartbeat_interval * 2);
        self
    }

    /// How long a connection attempt and its handshake may take.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self.connect_timeout = timeout;
        self
    }

    /// The most bytes queued for one peer. Past it, messages to that peer are dropped and
    /// counted (signals are not: past twice this, the connection is closed). Default 64 MiB.
    /// A producer that must not lose messages paces itself with [`crate::wait_for_room`].
    pub fn max_queue_bytes(mut self, bytes: usize) -> Self {
        self.max_queue_bytes = bytes.max(1 << 16);
        self
    }

    /// How many queued bytes make a connection *busy*: [`crate::wait_for_room`] holds its
    /// caller while the queue to a peer is past this. Erlang's `dist_buf_busy_limit`, whose
    /// default (1 MiB) this shares. At most half of `max_queue_bytes` (clamped), so that a
    /// producer let through always has room for its next messages.
    pub fn busy_limit(mut self, bytes: usize) -> Self {
        self.busy_limit = bytes;
        self
    }

    /// The largest message this node accepts from a peer; a larger one closes the connection
    /// as a protocol violation. Default 64 MiB.
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// The most memory that large messages still arriving in fragments may hold, across all
    /// connections together (default 256 MiB; never less than
    /// [`NodeBuilder::max_message_bytes`], so that the largest message always fits). Each such
    /// message reserves the size it announces with its first fragment. A connection whose next
    /// message does not fit stops reading while it waits for the others (TCP slows its sender
    /// down), for less than half the heartbeat timeout; then that message is refused (a call
    /// gets a `Refused` reply), counted as `refused_reassembly_full` and logged.
    pub fn max_reassembly_bytes(mut self, bytes: usize) -> Self {
        self.max_reassembly_bytes = bytes;
        self
    }

    /// The most handshakes under way at once; connections beyond it are refused (and counted)
    /// at once, so a flood of connections cannot exhaust the node. Default 64.
    pub fn max_handshakes(mut self, handshakes: usize) -> Self {
        self.max_handshakes = handshakes.max(1);
        self
    }

    /// The most handshakes under way at once from one IP address (default 8): a party holding
    /// many slow connections open (slowloris) holds only this many of the
    /// [`NodeBuilder::max_handshakes`] slots, and peers from other addresses still get in.
    /// Connections beyond it are refused at once and counted.
    pub fn max_handshakes_per_address(mut self, handshakes: usize) -> Self {
        self.max_handshakes_per_address = handshakes.max(1);
        self
    }

    /// How long an incoming connection has for each step of its handshake: its first frame
    /// (the TLS handshake included), and then each next frame (default 2 s; at most the
    /// handshake timeout). A connection that trickles its frames in, or sends a hello and then
    /// waits, gives its slot back.
    pub fn hello_timeout(mut self, timeout: Duration) -> Self {
        self.hello_timeout = timeout;
        self
    }

    /// Whether this node connects to the peers its peers know (a full mesh, Erlang's default).
    pub fn mesh(mut self, mesh: bool) -> Self {
        self.mesh = mesh;
        self
    }

    /// The port tried for a node whose address was never learned. Default [`DEFAULT_PORT`].
    pub fn default_port(mut self, port: u16) -> Self {
        self.default_port = port;
        self
    }

    /// Connects to these `host:port` addresses and keeps reconnecting while they are down
    /// (libcluster's static list).
    pub fn static_peers<I, A>(mut self, addrs: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<String>,
    {
        let addrs: Vec<String> = addrs.into_iter().map(Into::into).collect();
        if !addrs.is_empty() {
            self.discovery.push(Discovery::fixed(addrs));
        }
        self
    }

    /// Finds peers through DNS and keeps polling (libcluster's DNS strategies).
    pub fn discovery(mut self, discovery: Discovery) -> Self {
        self.discovery.push(discovery);
        self
    }

    /// How often discovery runs and unreachable peers are retried. Default 1 s.
    pub fn reconnect_interval(mut self, interval: Duration) -> Self {
        self.reconnect_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Lets messages of type `M` travel between nodes under `name`. Register the same type
    /// under the same name on every node.
    pub fn message<M>(mut self, name: &str) -> Self
    where
        M: Serialize + DeserializeOwned + Send + 'static,
    {
        self.registry.message::<M>(name);
        self
    }

    /// Lets requests to `GenServer`s of type `S` travel between nodes: stop requests under
    /// `name`, and the calls and casts `requests` lists, each under `"{name}.{its name}"`.
    /// `Server::<S>::call` then works on a server of another node as on a local one; a request
    /// of a type not listed fails with [`CallError::NotDistributed`](grove_otp::gen_server::CallError::NotDistributed).
    ///
    /// ```no_run
    /// # use grove_otp::prelude::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Get(String);
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Put(String, u64);
    /// # struct Kv;
    /// # impl GenServer for Kv {}
    /// # impl Call<Get> for Kv { type Reply = Option<u64>;
    /// #     async fn handle_call(&mut self, _: Get, from: ReplyTo<Option<u64>>, _: &mut ServerContext<Self>) { from.reply(None); } }
    /// # impl Cast<Put> for Kv { async fn handle_cast(&mut self, _: Put, _: &mut ServerContext<Self>) {} }
    /// let builder = grove_node::NodeBuilder::new("a@127.0.0.1")
    ///     .server::<Kv>("kv", |kv| kv.call::<Get>("Get").cast::<Put>("Put"));
    /// ```
    pub fn server<S: GenServer>(
        mut self,
        name: &str,
        requests: impl FnOnce(ServerTypes<S>) -> ServerTypes<S>,
    ) -> Self {
        self.registry.server::<S>(name, requests);
        self
    }

    /// Lets peers spawn processes of kind `name` on this node with [`crate::spawn`]: `start`
    /// receives the decoded arguments and returns the new process's pid. Only registered kinds
    /// can be spawned remotely; no other code runs because a peer asked.
    pub fn spawnable<A, F, P, E>(mut self, name: &str, start: F) -> Self
    where
        A: DeserializeOwned + 'static,
        F: Fn(A) -> Result<P, E> + Send + Sync + 'static,
        P: Into<grove_runtime::Pid>,
        E: std::fmt::Display,
    {
        let kind = name.to_string();
        let spawn = move |args: &[u8]| -> Result<grove_runtime::Pid, String> {
            let args: A = crate::protocol::decode_exact(args)
                .map_err(|error| format!("the arguments for {kind} did not decode: {error}"))?;
            start(args)
                .map(Into::into)
                .map_err(|error| error.to_string())
        };
        self.registry.spawnable(name, std::sync::Arc::new(spawn));
        self
    }

    /// Checks the settings and returns what the node runs with.
    pub(crate) fn into_config(self) -> Result<(Config, Registry), NodeError> {
        if !crate::handshake::valid_node_name(&self.name) {
            return Err(NodeError::BadName(self.name));
        }
        let secret = self
            .secret
            .filter(|s| !s.is_empty())
            .ok_or(NodeError::NoSecret)?;
        let transport = self.transport.ok_or(NodeError::NoTransport)?;
        self.registry.check()?;
        Ok((
            Config {
                name: self.name,
                listen: self.listen,
                advertise: self.advertise,
                secret,
                transport,
                heartbeat_interval: self.heartbeat_interval,
                heartbeat_timeout: self.heartbeat_timeout,
                handshake_timeout: self.handshake_timeout,
                connect_timeout: self.connect_timeout,
                max_queue_bytes: self.max_queue_bytes,
                busy_limit: self.busy_limit.min(self.max_queue_bytes / 2),
                max_message_bytes: self.max_message_bytes,
                max_reassembly_bytes: self.max_reassembly_bytes.max(self.max_message_bytes),
                max_handshakes: self.max_handshakes,
                max_handshakes_per_address: self.max_handshakes_per_address,
                hello_timeout: self.hello_timeout.min(self.handshake_timeout),
                mesh: self.mesh,
                default_port: self.default_port,
                discovery: self.discovery,
                reconnect_interval: self.reconnect_interval,
            },
            self.registry,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_needs_a_name_a_secret_and_an_explicit_transport() {
        assert!(matches!(
            NodeBuilder::new("nohost").into_config(),
            Err(NodeError::BadName(_))
        ));
        assert!(matches!(
            NodeBuilder::new("a@host").into_config(),
            Err(NodeError::NoSecret)
        ));
        assert!(matches!(
            NodeBuilder::new("a@host").secret("s").into_config(),
            Err(NodeError::NoTransport)
        ));
        assert!(NodeBuilder::new("a@host")
            .secret("s")
            .secret_only()
            .into_config()
            .is_ok());
    }

    #[test]
    fn the_default_heartbeat_notices_a_hung_node_within_two_seconds() {
        let (config, _) = NodeBuilder::new("a@host")
            .secret("s")
            .secret_only()
            .into_config()
            .unwrap();
        // The check runs every half interval, so detection takes at most timeout + interval/2.
        assert!(config.heartbeat_timeout + config.heartbeat_interval / 2 < Duration::from_secs(2));
    }
}
