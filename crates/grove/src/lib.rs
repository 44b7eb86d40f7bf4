//! Grove: the Erlang/OTP way of building software, in Rust.
//!
//! This is the crate applications depend on. It re-exports Grove's layers behind features: the
//! process runtime ([`process`], feature `runtime`) and the OTP behaviours ([`gen_server`],
//! [`supervisor`], [`task`], [`agent`], [`event_manager`], [`application`], feature `otp`), the
//! shared tables ([`table`], feature `tables`), the production kit ([`kit`], feature `kit`) and
//! distribution between nodes ([`node`], feature `node`).
//! Most programs start with `use grove::prelude::*;`.
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

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

#[cfg(feature = "runtime")]
pub use grove_runtime as process;

#[cfg(feature = "runtime")]
pub use grove_runtime::{
    exit, registry, run, send, spawn, system_monitor, Addr, Context, Down, Exit, ExitReason,
    Message, Pid, Ref, SpawnOptions,
};

/// Shared concurrent tables owned by processes (ETS) and durable tables (DETS).
#[cfg(feature = "tables")]
pub use grove_tables as table;

/// The production kit: cache, rate limiter and queue, circuit breaker, retry, config, alarms,
/// watchdogs, health and metrics endpoints.
#[cfg(feature = "kit")]
pub use grove_kit as kit;

/// Distribution: nodes that connect, authenticate and encrypt, and carry send, call, link and
/// monitor between OS processes.
#[cfg(feature = "node")]
pub use grove_node as node;

#[cfg(feature = "otp")]
pub use grove_otp::{agent, application, event_manager, gen_server, supervisor, task, StartError};

/// What a typical Grove program imports.
pub mod prelude {
    /// Timers a process uses every day: `sleep(d).await`, and `timeout(d, future).await` for any
    /// future (a call has its own timeout: `call_timeout`).
    #[cfg(feature = "runtime")]
    pub use tokio::time::{sleep, timeout};

    pub use std::time::Duration;

    #[cfg(feature = "runtime")]
    pub use grove_runtime::{
        await_exit, cancel_timer, process_info, processes, register, send, send_after,
        send_interval, spawn, spawn_opt, try_send, whereis, Addr, Context, Down, Exit, ExitReason,
        Message, Overflow, Pid, Ref, SpawnOptions,
    };

    #[cfg(feature = "otp")]
    pub use grove_otp::prelude::*;

    #[cfg(feature = "kit")]
    pub use grove_kit::prelude::*;

    #[cfg(feature = "tables")]
    pub use grove_tables::{
        Access, BagTable, DurableKind, DurableTable, Table, TableError, TableTransfer,
    };
}
