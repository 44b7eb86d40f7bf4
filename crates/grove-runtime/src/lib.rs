//! Grove's process runtime: the ground floor that the OTP behaviours, tables, distribution and
//! the cluster are built on.
//!
//! Lightweight processes run as tokio tasks. Each has a [`Pid`], a mailbox, and the Erlang
//! signals: links, monitors, trapped exits and exit reasons, with panics turned into exit reasons.
//! Around them: a local name registry ([`register`], [`whereis`]), a keyed registry for pub/sub and
//! `via` names ([`registry::Registry`]), timers ([`send_after`]), introspection ([`processes`],
//! [`process_info`]) and a system monitor.
//!
//! The rules these follow (ordering, what is lost when, what a panic or a dead pid does) are in
//! `docs/semantics.md`, each backed by a test.
//!
//! ```
//! use grove_runtime::{run, send, Context, Message, ExitReason};
//!
//! let reason = run(|mut ctx: Context<u64>| async move {
//!     let me = ctx.addr();
//!     // A worker that replies with the square of what it is sent.
//!     let worker = ctx.spawn_link(move |mut wctx: Context<u64>| async move {
//!         while let Message::User(n) = wctx.recv().await {
//!             send(me, n * n);
//!         }
//!     });
//!     send(worker, 12);
//!     match ctx.recv().await {
//!         Message::User(144) => ExitReason::Normal,
//!         other => ExitReason::error(format!("unexpected {other:?}")),
//!     }
//! });
//! assert_eq!(reason, ExitReason::Normal);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod cell;
mod context;
mod current;
pub mod dest;
pub mod exit;
mod introspect;
pub mod logs;
mod mailbox;
pub mod message;
mod names;
mod panics;
pub mod pid;
mod process;
pub mod registry;
pub mod remote;
mod runtime;
mod signal;
mod sync;
pub mod sys;
pub mod system_monitor;
mod table;
mod task;
mod timer;

pub use cell::Status;
pub use context::{Context, Recv, RecvMatch};
pub use current::{
    demonitor, exiting_reason, link, monitor, note_last_message, self_pid, set_label, try_link,
    unlink, when_gone, LinkError,
};
pub use dest::{send_to, Dest, Resolved, Via, ViaName};
pub use exit::{ExitReason, IntoExitReason};
pub use introspect::{
    mailbox_summary, process_info, processes, system_info, MailboxSummary, ProcessInfo, SystemInfo,
};
pub use logs::no_default_logs;
pub use mailbox::Overflow;
pub use message::{Down, Exit, Message};
pub use names::{
    register, registered, send_named, unregister, whereis, whereis_addr, RegisterError,
};
pub use panics::install_panic_hook;
pub use pid::{node, Addr, NodeIdentity, Pid, Ref};
pub use process::{
    await_exit, blocking, exit, is_alive, on_exit, send, spawn, spawn_opt, try_deliver, try_send,
    watch_exit, ExitWatch, OnExit, SendError, SpawnError, SpawnOptions, Spawned,
};
pub use runtime::run;
pub use timer::{cancel_timer, read_timer, send_after, send_interval, TimerRef};
