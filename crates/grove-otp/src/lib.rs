//! Grove's OTP behaviours: the ways Grove programs are built out of processes.
//!
//! - [`gen_server`]: a process that owns state and serves calls and casts (OTP's `gen_server`).
//! - [`supervisor`]: restarts children by strategy and intensity, starts and stops them in order;
//!   [`supervisor::DynamicSupervisor`] for children started on demand.
//! - [`application`]: a root supervision tree and its configuration, started by one call and
//!   stopped in order on SIGTERM or SIGINT.
//! - [`agent`]: state behind a process, read and changed with functions sent to it.
//! - [`event_manager`]: a process passing events to a list of handlers (OTP's `gen_event`).
//! - [`task`]: a future run as a process and awaited; tasks under a supervisor; bounded
//!   concurrency over many items.
//!
//! They follow OTP's semantics; where Grove differs, `docs/semantics.md` says so and why.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod agent;
pub mod application;
mod deadline;
pub mod event_manager;
pub mod gen_server;
mod start;
pub mod supervisor;
pub mod task;

pub use start::StartError;

/// What a program built on the behaviours imports: `GenServer` and its requests, supervisors,
/// tasks and agents. Event managers, applications and the dynamic and task supervisors' handles
/// are imported from their modules.
pub mod prelude {
    pub use crate::agent::Agent;
    pub use crate::gen_server::{
        Call, CallError, Cast, GenServer, Info, ReplyTo, Server, ServerContext, StartOptions,
    };
    pub use crate::start::StartError;
    pub use crate::supervisor::{ChildSpec, DynamicSupervisor, Restart, Supervisor};
    pub use crate::task::Task;
    pub use grove_runtime::{ExitReason, Pid};
}
