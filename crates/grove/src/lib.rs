//! Grove: the Erlang/OTP way of building software, in Rust.
//!
//! This is the crate applications depend on. It re-exports Grove's layers behind features: the
//! process runtime ([`process`], feature `runtime`) and the OTP behaviours ([`gen_server`],
//! [`supervisor`], [`task`], [`agent`], [`event_manager`], [`application`], feature `otp`), the
//! shared tables ([`table`], feature `tables`), the production kit ([`kit`], feature `kit`) and
//! distribution between nodes ([`node`], feature `node`).
//! Most programs start with `use grove::prelude::*;`. Coming from Elixir, `docs/from-elixir.md`
//! maps each idiom to Grove.
//!
//! # A tour
//!
//! **A process** has a pid, a mailbox and a typed address; it ends with an exit reason, which
//! its links and monitors learn.
//!
//! ```
//! use grove::prelude::*;
//!
//! let reason = grove::run(|mut ctx: Context<String>| async move {
//!     let me = ctx.addr();
//!     ctx.spawn_link(move |_: Context<()>| async move { send(me, "hello".to_string()) });
//!     match ctx.recv().await {
//!         Message::User(text) => println!("{text}"),
//!         other => return ExitReason::error(format!("unexpected {other:?}")),
//!     }
//!     ExitReason::Normal
//! });
//! assert_eq!(reason, ExitReason::Normal);
//! ```
//!
//! **A `GenServer`** owns state and answers requests; each request is a type, and the server
//! says which it takes. **A supervisor** starts it, registered by name, and restarts it when it
//! crashes; a handle by name reaches whichever server holds the name now. **A table** holds data
//! that outlives a crash of the process that writes it.
//!
//! ```
//! use grove::prelude::*;
//!
//! #[derive(Default)]
//! struct Counter(u64);
//! struct Bump;
//!
//! impl GenServer for Counter {}
//!
//! impl Call<Bump> for Counter {
//!     type Reply = u64;
//!     async fn handle_call(&mut self, _: Bump, from: ReplyTo<u64>, _: &mut ServerContext<Self>) {
//!         self.0 += 1;
//!         from.reply(self.0);
//!     }
//! }
//!
//! grove::run(|_: Context<()>| async {
//!     let hits = Table::<String, u64>::options().public().named("hits").create()?;
//!     let counter = ChildSpec::new("counter", || Server::start_link_named("counter", Counter::default()));
//!     let tree = Supervisor::one_for_one().child(counter).start_link().await?;
//!     let counter = Server::<Counter>::named("counter");
//!     assert_eq!(counter.call(Bump).await?, 1);
//!     hits.update_counter_or("calls".into(), 1, 0)?;
//!     // Killed, restarted by its supervisor, found again by name with a fresh state.
//!     grove::exit(counter.pid().unwrap(), ExitReason::Kill);
//!     while counter.call(Bump).await.is_err() {
//!         sleep(Duration::from_millis(1)).await;
//!     }
//!     assert_eq!(hits.lookup(&"calls".into())?, Some(1));
//!     tree.stop(ExitReason::Normal).await?;
//!     Ok(())
//! });
//! ```
//!
//! **A node** makes several OS processes one system: `send`, `call`, `monitor` and `link` work
//! across them, and a server is reached by `(name, node)` with
//! `Server::<Counter>::remote("counter", "b@host")`. Every connection is authenticated, and TLS
//! unless the node is told otherwise; see [`node`] and `crates/grove/examples/kv_two_nodes.rs`.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub use grove_runtime as process;

#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub use grove_runtime::{
    exit, registry, run, send, spawn, sys, system_monitor, Addr, Context, Down, Exit, ExitReason,
    Message, Pid, Ref, SpawnOptions,
};

/// Shared concurrent tables owned by processes (ETS) and durable tables (DETS).
#[cfg(feature = "tables")]
#[cfg_attr(docsrs, doc(cfg(feature = "tables")))]
pub use grove_tables as table;

/// The production kit: cache, rate limiter and queue, circuit breaker, retry, config, alarms,
/// watchdogs, health and metrics endpoints.
#[cfg(feature = "kit")]
#[cfg_attr(docsrs, doc(cfg(feature = "kit")))]
pub use grove_kit as kit;

/// Distribution: nodes that connect, authenticate and encrypt, and carry send, call, link and
/// monitor between OS processes.
#[cfg(feature = "node")]
#[cfg_attr(docsrs, doc(cfg(feature = "node")))]
pub use grove_node as node;

#[cfg(feature = "otp")]
#[cfg_attr(docsrs, doc(cfg(feature = "otp")))]
pub use grove_otp::{agent, application, event_manager, gen_server, supervisor, task, StartError};

/// What a typical Grove program imports: processes and their messages, `GenServer` and its
/// requests, supervisors, tasks, agents, tables, and the time helpers. The rest (the kit,
/// distribution, registries, event managers, applications) is imported from its module:
/// `grove::kit::prelude::*` brings the whole production kit.
pub mod prelude {
    /// Timers a process uses every day: `sleep(d).await`, and `timeout(d, future).await` for any
    /// future (a call has its own timeout: `call_timeout`).
    #[cfg(feature = "runtime")]
    pub use tokio::time::{sleep, timeout};

    pub use std::time::Duration;

    #[cfg(feature = "runtime")]
    pub use grove_runtime::{
        send, send_after, spawn, Addr, Context, Dest, Down, Exit, ExitReason, Message, Pid, Ref,
    };

    #[cfg(feature = "otp")]
    pub use grove_otp::prelude::*;

    #[cfg(feature = "tables")]
    pub use grove_tables::{Table, TableError};
}
