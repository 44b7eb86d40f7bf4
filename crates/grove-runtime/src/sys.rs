//! OTP's `sys`: requests a behaviour answers outside its callbacks, so an operator (or a remote
//! console, or a test) can look inside any running server without its code's cooperation: its
//! state, its statistics, a trace of its messages, and suspending it.
//!
//! A behaviour opts in with [`set_system_lane`] (Grove's `GenServer`, and so every behaviour
//! built on it, does); the requests travel through its mailbox, in order with its other
//! messages, as OTP's system messages do. A process that did not opt in answers
//! [`SysError::NotSystem`].
//!
//! ```
//! # use grove_runtime::{run, spawn, Context, ExitReason};
//! # run(|_: Context<()>| async {
//! let plain = spawn(|mut ctx: Context<()>| async move { let _ = ctx.recv().await; });
//! let stats = grove_runtime::sys::statistics(plain.pid()).await;
//! assert!(matches!(stats, Err(grove_runtime::sys::SysError::NotSystem(_))));
//! # grove_runtime::exit(plain.pid(), ExitReason::Kill);
//! # });
//! ```

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::pid::Pid;

/// How long a system request waits for its answer (OTP's default for `sys` calls).
pub const SYS_TIMEOUT: Duration = Duration::from_secs(5);

/// A request to a behaviour's system lane, with where its answer goes.
pub enum SystemRequest {
    /// Its state, through the behaviour's own view of it (a server may decline).
    GetState(oneshot::Sender<Result<String, SysError>>),
    /// What only the behaviour's loop knows for [`Statistics`].
    Statistics(oneshot::Sender<LoopStatistics>),
    /// Stop handling anything but system requests (and its parent's exit) until resumed.
    Suspend(oneshot::Sender<()>),
    /// Handle messages again.
    Resume(oneshot::Sender<()>),
    /// Log each message in and out (true), or stop (false).
    Trace(bool, oneshot::Sender<()>),
}

/// What a behaviour's loop reports for [`statistics`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoopStatistics {
    /// The kind of the last message it handled (a request's type name, `down`, `exit`).
    pub last_message: Option<String>,
    /// Whether it is suspended.
    pub suspended: bool,
    /// Whether its messages are traced.
    pub tracing: bool,
}

/// A behaviour's statistics: a serde type, so a remote console can ask for it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Statistics {
    /// The process.
    pub pid: Pid,
    /// Its label (`gen_server Kv`).
    pub label: Option<Arc<str>>,
    /// Messages it has received.
    pub messages_handled: u64,
    /// When it started.
    pub started_at: SystemTime,
    /// What its loop knows: last message, suspended, traced.
    #[serde(flatten)]
    pub current: LoopStatistics,
}

/// Why a system request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum SysError {
    /// The process is not alive.
    #[error("{0} is not alive (noproc)")]
    NoProc(Pid),
    /// The process is not a behaviour: it has no system lane.
    #[error("{0} is not a behaviour process (a GenServer, supervisor, agent...), so it answers no system requests")]
    NotSystem(Pid),
    /// The server does not show its state.
    #[error("the server does not show its state: implement GenServer::format_state to allow it")]
    Declined,
    /// Its bounded mailbox is full and refused the request.
    #[error("{0}'s mailbox is full; retry later")]
    Full(Pid),
    /// No answer within [`SYS_TIMEOUT`]: the process is busy in a callback.
    #[error("no answer within {0:?}: the process is busy in a callback")]
    Timeout(Duration),
}

/// Where a behaviour takes system requests: hands one to its mailbox, or says why it could not.
pub type SystemLane = Arc<dyn Fn(SystemRequest) -> Result<(), LaneClosed> + Send + Sync>;

/// Why a system lane did not take a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneClosed {
    /// The process is gone.
    Gone,
    /// Its bounded mailbox is full.
    Full,
}

/// Opens the calling process's system lane: system requests for it go to `lane`. Behaviours
/// call it when they start. Does nothing outside processes.
pub fn set_system_lane(lane: SystemLane) {
    if let Some(me) = crate::current::self_pid().and_then(crate::table::lookup) {
        me.shared().control.lock().about_mut().system = Some(lane);
    }
}

fn lane_of(pid: Pid) -> Result<SystemLane, SysError> {
    crate::table::with(pid, |cell| cell.shared().control.lock().system().cloned())
        .ok_or(SysError::NoProc(pid))?
        .ok_or(SysError::NotSystem(pid))
}

async fn ask<T>(
    pid: Pid,
    make: impl FnOnce(oneshot::Sender<T>) -> SystemRequest,
) -> Result<T, SysError> {
    let lane = lane_of(pid)?;
    let (tx, rx) = oneshot::channel();
    match lane(make(tx)) {
        Ok(()) => {}
        Err(LaneClosed::Gone) => return Err(SysError::NoProc(pid)),
        Err(LaneClosed::Full) => return Err(SysError::Full(pid)),
    }
    match tokio::time::timeout(SYS_TIMEOUT, rx).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(_)) => Err(SysError::NoProc(pid)),
        Err(_) => Err(SysError::Timeout(SYS_TIMEOUT)),
    }
}

/// The state of the behaviour at `pid`, as its own view shows it (OTP's `sys:get_state`).
pub async fn get_state(pid: Pid) -> Result<String, SysError> {
    ask(pid, SystemRequest::GetState).await?
}

/// The behaviour's statistics (OTP's `sys:statistics`).
pub async fn statistics(pid: Pid) -> Result<Statistics, SysError> {
    let current = ask(pid, SystemRequest::Statistics).await?;
    let (label, messages_handled, started_at) = crate::table::with(pid, |cell| {
        let shared = cell.shared();
        (
            shared.control.lock().label().cloned(),
            shared.handled.load(std::sync::atomic::Ordering::Relaxed),
            shared.started_at(),
        )
    })
    .ok_or(SysError::NoProc(pid))?;
    Ok(Statistics {
        pid,
        label,
        messages_handled,
        started_at,
        current,
    })
}

/// Suspends the behaviour (OTP's `sys:suspend`): it handles only system requests, and its
/// parent's exit, until [`resume`]. Messages wait in its mailbox.
pub async fn suspend(pid: Pid) -> Result<(), SysError> {
    ask(pid, SystemRequest::Suspend).await
}

/// Resumes a suspended behaviour (OTP's `sys:resume`).
pub async fn resume(pid: Pid) -> Result<(), SysError> {
    ask(pid, SystemRequest::Resume).await
}

/// Turns the logging of each message the behaviour handles on or off (OTP's `sys:trace`): one
/// `info` event as it starts on a message, naming its kind, and one when it is done, with the
/// time it took.
pub async fn trace(pid: Pid, on: bool) -> Result<(), SysError> {
    ask(pid, |tx| SystemRequest::Trace(on, tx)).await
}
