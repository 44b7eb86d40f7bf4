//! Grove's distribution: several OS processes, on one machine or many, become one system.
//!
//! A *node* is an OS process with a name (`name@host`), a creation that changes on every start,
//! and a TCP listener. Nodes connect on first use (a send to a pid of another node), or
//! explicitly, or through discovery (a static list, DNS), and by default form a full mesh, as
//! Erlang's do. Once connected, the process runtime works across them unchanged:
//!
//! - `send` to a pid of another node, and [`send_named`] to `{name, node}`;
//! - `Server::call` and `cast` to a `GenServer` on another node, with the same timeouts and
//!   errors as locally;
//! - `link` and `monitor` a remote process: when it exits you learn its reason, and when the
//!   connection to its node is lost you learn `noconnection`;
//! - pids inside messages stay valid on every node they reach.
//!
//! No node talks to another without authentication: every connection proves knowledge of a
//! shared cluster secret with a challenge and response, and runs over mutual TLS unless
//! [`NodeBuilder::secret_only`] says otherwise (then frames are sealed under keys derived from
//! the secret). Types that cross the wire are registered
//! under stable names ([`NodeBuilder::message`], [`NodeBuilder::server`]); processes can be
//! spawned remotely only for kinds the receiving node registered ([`NodeBuilder::spawnable`]).
//!
//! ```no_run
//! use grove_node::NodeBuilder;
//! use grove_runtime::{send, Context, Message, Pid};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Ping { from: grove_runtime::Addr<Pong> }
//! #[derive(Serialize, Deserialize)]
//! struct Pong;
//!
//! grove_runtime::run(|mut ctx: Context<Pong>| async move {
//!     let node = NodeBuilder::new("a@127.0.0.1")
//!         .listen("127.0.0.1:4370".parse().unwrap())
//!         .secret("a long random secret shared by the cluster")
//!         .secret_only() // or .tls(TlsFiles::in_dir("certs"))
//!         .message::<Ping>("demo.Ping")
//!         .message::<Pong>("demo.Pong")
//!         .start()
//!         .await
//!         .expect("node");
//!     // Whoever is registered as "pinger" on b answers with a Pong.
//!     grove_node::send_named("pinger", "b@127.0.0.1", Ping { from: ctx.addr() });
//!     if let Message::User(Pong) = ctx.recv().await {
//!         println!("{} got a pong", node.name());
//!     }
//! });
//! ```
//!
//! What is guaranteed, and what is lost when a connection drops, is written down in
//! `docs/semantics.md` ("Distribution").

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod admission;
mod certs;
mod config;
mod connection;
mod discovery;
mod dispatch;
pub(crate) mod frame;
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod node;
mod outbound;
mod protocol;
mod record;
mod remote;
mod router;
mod rt;
mod session;
mod stats;
#[doc(hidden)]
pub mod testing;
mod tls;
mod transcript;
mod types;

pub use certs::{generate_dev_certs, CertError};
pub use config::{NodeBuilder, NodeError, TlsFiles, Transport, DEFAULT_PORT};
pub use discovery::Discovery;
pub use frame::FrameError;
pub use handshake::HandshakeError;
pub use node::{Node, NodeEvent};
pub use remote::{
    monitor_node, node_pid, send_named, spawn, wait_for_room, whereis, RemoteSpawnError,
    REQUEST_TIMEOUT,
};
pub use stats::NodeStats;
pub use types::{RegistryError, ServerTypes};
