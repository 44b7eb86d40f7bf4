//! Spawning processes and sending them messages.
//!
//! A process is an async function that takes a [`Context`] and returns `()`, an
//! [`ExitReason`] or a `Result<(), ExitReason>`. It runs as a tokio task on whatever tokio runtime is
//! current (use [`crate::run`] to start one), so any tokio library works inside it.
//!
//! ```
//! use grove_runtime::{spawn, send, Context, Message};
//! # let rt = tokio::runtime::Runtime::new().unwrap();
//! # rt.block_on(async {
//! let echo = spawn(|mut ctx: Context<(String, tokio::sync::oneshot::Sender<String>)>| async move {
//!     while let Message::User((text, reply)) = ctx.recv().await {
//!         let _ = reply.send(text.to_uppercase());
//!     }
//! });
//! let (tx, rx) = tokio::sync::oneshot::channel();
//! send(echo, ("hello".to_string(), tx));
//! assert_eq!(rx.await.unwrap(), "HELLO");
//! # });
//! ```
//!
//! Blocking work (a synchronous file read, a CPU-heavy computation, a blocking driver) must not
//! run directly in a process: it would hold a worker thread that other processes need. Run it
//! through [`blocking`], which moves it to tokio's blocking pool and returns its result; a panic
//! there becomes the process's panic.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::cell::{AnyCell, CellInit, ProcessCell, Relations};
use crate::context::Context;
use crate::exit::{ExitReason, IntoExitReason};
use crate::mailbox::{Overflow, Push};
use crate::message::Message;
use crate::pid::{next_serial, Addr, Pid, Ref};
use crate::task::ProcessTask;
use crate::{names, remote, signal, system_monitor, table};

/// How to spawn a process: a registered name, whether it traps exits, a mailbox bound, and
/// whether it is linked to or monitored by the spawning process.
///
/// ```
/// use grove_runtime::{SpawnOptions, Overflow};
/// let options = SpawnOptions::new()
///     .name("ingest")
///     .trap_exit(true)
///     .mailbox_bound(10_000, Overflow::Reject);
/// ```
#[derive(Clone, Debug, Default)]
pub struct SpawnOptions {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) label: Option<Arc<str>>,
    pub(crate) trap_exit: bool,
    pub(crate) mailbox_bound: Option<(usize, Overflow)>,
    pub(crate) link: bool,
    pub(crate) monitor: bool,
}

impl SpawnOptions {
    /// Default options: no name, not trapping exits, an unbounded mailbox (as in Erlang).
    pub fn new() -> Self {
        Self::default()
    }

    /// Labels the process for people (see [`crate::set_label`]) from its first moment.
    pub fn label(mut self, label: impl Into<Arc<str>>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Registers the process under `name` before it starts; spawning fails if the name is taken.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Starts the process trapping exits: exit signals arrive as [`Message::Exit`].
    pub fn trap_exit(mut self, trap: bool) -> Self {
        self.trap_exit = trap;
        self
    }

    /// Bounds the mailbox to `bound` messages, with `overflow` deciding what a send to a full
    /// mailbox does. Exit and down signals are never refused by the bound.
    pub fn mailbox_bound(mut self, bound: usize, overflow: Overflow) -> Self {
        self.mailbox_bound = Some((bound.max(1), overflow));
        self
    }

    /// Links the new process to the spawning one, atomically (Erlang's `spawn_link`).
    /// Only from inside a process: [`Context::spawn_opt`], or [`spawn_opt`] called by code running
    /// in a process.
    pub fn link(mut self, link: bool) -> Self {
        self.link = link;
        self
    }

    /// Monitors the new process from the spawning one, atomically (Erlang's `spawn_monitor`).
    /// Only from inside a process, as [`SpawnOptions::link`].
    pub fn monitor(mut self, monitor: bool) -> Self {
        self.monitor = monitor;
        self
    }
}

/// A process that [`spawn_opt`] started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spawned<M> {
    /// Its address.
    pub addr: Addr<M>,
    /// The monitor reference, when spawned with [`SpawnOptions::monitor`].
    pub monitor: Option<Ref>,
}

/// Why a process could not be spawned.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpawnError {
    /// The requested name is registered to another process.
    #[error("the name {name:?} is already registered to {holder}; pick another name or stop that process first")]
    NameTaken {
        /// The name asked for.
        name: Arc<str>,
        /// The process that holds it.
        holder: Pid,
    },
    /// `link` or `monitor` was asked for outside a process.
    #[error(
        "link and monitor options need a spawning process; use Context::spawn_opt inside a process"
    )]
    NoParent,
    /// There is no tokio runtime to run the process on.
    #[error(
        "no tokio runtime is running on this thread; start one with grove::run or #[tokio::main]"
    )]
    NoRuntime,
}

/// Why a message was not delivered by [`try_send`] or [`try_deliver`]. Sending to a dead
/// process is not an error for [`try_send`].
#[derive(thiserror::Error)]
pub enum SendError<M> {
    /// The receiver's bounded mailbox is full and its policy is [`Overflow::Reject`].
    #[error("the mailbox of {pid} is full; retry later, shed load, or raise its bound")]
    Full {
        /// The receiver.
        pid: Pid,
        /// The message, handed back.
        message: M,
    },
    /// The pid names a process that accepts another message type (a pid converted with
    /// [`Pid::assume_type`] or decoded from outside).
    #[error(
        "{pid} does not accept messages of type {type_name}; check where this address came from"
    )]
    WrongType {
        /// The receiver.
        pid: Pid,
        /// The message, handed back.
        message: M,
        /// The type that was sent.
        type_name: &'static str,
    },
    /// The local process is not alive (only from [`try_deliver`]).
    #[error("{pid} is not alive (noproc); the message was not delivered")]
    NoProc {
        /// The receiver.
        pid: Pid,
        /// The message, handed back.
        message: M,
    },
    /// No process is registered under the name (only from [`crate::send_named`], [`crate::send_to`]
    /// and a registry's `send`).
    #[error(
        "no process is registered as {name:?}; start it under your supervisor or check the name"
    )]
    NotRegistered {
        /// The name.
        name: Arc<str>,
        /// The message, handed back.
        message: M,
    },
}

impl<M> SendError<M> {
    /// The message that was not delivered.
    pub fn into_message(self) -> M {
        match self {
            SendError::Full { message, .. }
            | SendError::NoProc { message, .. }
            | SendError::WrongType { message, .. }
            | SendError::NotRegistered { message, .. } => message,
        }
    }
}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Spawns a process running `f` on the current tokio runtime.
///
/// # Panics
/// Outside a tokio runtime, like `tokio::spawn`. Use [`spawn_opt`] to get an error instead.
pub fn spawn<M, F, Fut>(f: F) -> Addr<M>
where
    M: Send + 'static,
    F: FnOnce(Context<M>) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: IntoExitReason,
{
    match spawn_inner(None, SpawnOptions::new(), f) {
        Ok(spawned) => spawned.addr,
        Err(error) => panic!("grove spawn failed: {error}"),
    }
}

/// Spawns a process with options (a name, trapping exits, a mailbox bound).
///
/// Called from code running inside a process (see [`crate::self_pid`]), that process is the
/// parent: [`SpawnOptions::link`] and [`SpawnOptions::monitor`] link it to or let it monitor the
/// new process, as [`Context::spawn_opt`] does. Outside processes they fail with
/// [`SpawnError::NoParent`].
pub fn spawn_opt<M, F, Fut>(options: SpawnOptions, f: F) -> Result<Spawned<M>, SpawnError>
where
    M: Send + 'static,
    F: FnOnce(Context<M>) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: IntoExitReason,
{
    let parent = match crate::current::self_pid() {
        Some(pid) if options.link || options.monitor => table::lookup(pid),
        _ => None,
    };
    spawn_inner(parent.as_deref(), options, f)
}

pub(crate) fn spawn_inner<M, F, Fut>(
    parent: Option<&dyn AnyCell>,
    options: SpawnOptions,
    f: F,
) -> Result<Spawned<M>, SpawnError>
where
    M: Send + 'static,
    F: FnOnce(Context<M>) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: IntoExitReason,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return Err(SpawnError::NoRuntime);
    };
    if parent.is_none() && (options.link || options.monitor) {
        return Err(SpawnError::NoParent);
    }
    let pid = Pid::new_local(next_serial());
    // For introspection, the parent is the spawning process, with or without a `Context`.
    let parent_pid = parent
        .map(|p| p.shared().pid)
        .or_else(crate::current::self_pid);
    let monitor = options.monitor.then(Ref::new);
    let rel = match parent_pid {
        Some(parent_pid) if parent.is_some() && (options.link || options.monitor) => {
            let mut rel = Relations::default();
            if options.link {
                rel.links.insert(parent_pid);
            }
            if let Some(reference) = monitor {
                rel.monitored_by.insert(reference, parent_pid);
            }
            Some(Box::new(rel))
        }
        _ => None,
    };
    let cell = Arc::new(ProcessCell::<M>::new(CellInit {
        pid,
        parent: parent_pid,
        trap_exit: options.trap_exit,
        name: options.name.clone(),
        label: options.label.clone(),
        rel,
        function: std::any::type_name::<F>(),
        future_size: std::mem::size_of::<Fut>(),
        mailbox_bound: options.mailbox_bound,
    }));
    // Build the future before the process becomes visible anywhere: if `f` panics, nothing was
    // registered, linked or inserted that would need taking down.
    let fut = f(Context::new(cell.clone()));
    // In the table before the name is visible, so a message sent to the name at once is queued,
    // not taken for a message to a dead process.
    table::insert(cell.clone());
    if let Some(name) = &options.name {
        if let Err(error) = names::claim(name.clone(), pid) {
            table::remove(pid);
            return Err(error);
        }
    }
    if let Some(parent) = parent {
        if options.link || monitor.is_some() {
            let mut control = parent.shared().control.lock();
            let rel = control.rel();
            if options.link {
                rel.links.insert(pid);
            }
            if let Some(reference) = monitor {
                rel.monitoring.insert(reference, pid);
            }
        }
    }
    runtime.spawn(ProcessTask::new(cell, fut));
    Ok(Spawned {
        addr: pid.assume_type(),
        monitor,
    })
}

/// Sends `message` to the process at `to`. Never blocks and never fails, as Erlang's `!`:
/// a message to a dead process is dropped. A message refused by a full bounded mailbox is
/// dropped, counted in [`crate::ProcessInfo::dropped_messages`] and logged; use [`try_send`]
/// to get it back instead.
pub fn send<M: Send + 'static>(to: Addr<M>, message: M) {
    if let Err(error) = try_send(to, message) {
        report_undelivered(&error);
    }
}

pub(crate) fn report_undelivered<M>(error: &SendError<M>) {
    match error {
        SendError::Full { pid, .. } => {
            let dropped = table::with(*pid, |cell| {
                cell.shared()
                    .dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    + 1
            })
            .unwrap_or(1);
            if dropped.is_power_of_two() {
                tracing::warn!(%pid, dropped, "message refused by a full mailbox and dropped");
            }
        }
        other => tracing::error!("message dropped: {other}"),
    }
}

/// Sends `message` to `to`, handing it back if a full bounded mailbox refuses it.
///
/// `Ok` does not mean the process received it: as in Erlang, a message to a dead process is
/// dropped without error.
pub fn try_send<M: Send + 'static>(to: Addr<M>, message: M) -> Result<(), SendError<M>> {
    let pid = to.pid();
    if !pid.is_local() {
        remote::send(pid, message);
        return Ok(());
    }
    let mut message = Some(message);
    match table::with(pid, |cell| deliver(cell, pid, &mut message)) {
        Some(Err(SendError::NoProc { .. })) | None => Ok(()),
        Some(result) => result,
    }
}

/// Sends `message` to `to` and says whether it was queued: like [`try_send`], and also fails
/// with [`SendError::NoProc`] (handing the message back) when `to` is a local process that is
/// not alive. For request/reply protocols, which must fail fast rather than wait for a reply
/// that cannot come. A message queued just before the process exits is still dropped with its
/// mailbox; a message to a remote pid is handed to the distribution layer and counts as sent.
pub fn try_deliver<M: Send + 'static>(to: Addr<M>, message: M) -> Result<(), SendError<M>> {
    let pid = to.pid();
    if !pid.is_local() {
        remote::send(pid, message);
        return Ok(());
    }
    let mut message = Some(message);
    match table::with(pid, |cell| deliver(cell, pid, &mut message)) {
        Some(result) => result,
        None => match message {
            Some(message) => Err(SendError::NoProc { pid, message }),
            None => Ok(()),
        },
    }
}

/// Delivers the message in `slot` (taking it) to `cell`.
fn deliver<M: Send + 'static>(
    cell: &dyn AnyCell,
    pid: Pid,
    slot: &mut Option<M>,
) -> Result<(), SendError<M>> {
    let Some(message) = slot.take() else {
        return Ok(());
    };
    let Some(typed) = cell.as_any().downcast_ref::<ProcessCell<M>>() else {
        return Err(SendError::WrongType {
            pid,
            message,
            type_name: std::any::type_name::<M>(),
        });
    };
    match typed.mailbox.push(Message::User(message), false) {
        Push::Queued(len) => {
            system_monitor::check_mailbox(&typed.shared, len);
            Ok(())
        }
        Push::Closed(message) => match message {
            Message::User(message) => Err(SendError::NoProc { pid, message }),
            _ => Ok(()),
        },
        Push::Full(message, policy) => {
            let Message::User(message) = message else {
                unreachable!("only user messages are bounded")
            };
            match policy {
                Overflow::Reject => Err(SendError::Full { pid, message }),
                Overflow::DropNewest => {
                    let dropped = typed
                        .shared
                        .dropped
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                        + 1;
                    if dropped.is_power_of_two() {
                        tracing::warn!(%pid, dropped, "mailbox full: newest message dropped");
                    }
                    Ok(())
                }
                Overflow::Kill => {
                    tracing::warn!(%pid, "mailbox overflowed: killing the process");
                    signal::force_exit(cell, ExitReason::MailboxOverflow);
                    Ok(())
                }
            }
        }
    }
}

/// Sends an exit signal to `pid` from outside any process (the sender is `<0.0.0>`).
/// Inside a process use [`Context::exit`]. `ExitReason::Kill` cannot be trapped.
pub fn exit(pid: Pid, reason: ExitReason) {
    if !pid.is_local() {
        remote::exit(pid, Pid::new_local(0), reason);
    } else if let Some(cell) = table::lookup(pid) {
        signal::deliver_exit(&*cell, Pid::new_local(0), reason, false);
    }
}

/// True if `pid` names a live process of this node.
pub fn is_alive(pid: Pid) -> bool {
    table::with(pid, |cell| cell.shared().control.lock().alive).unwrap_or(false)
}

/// Waits until the process `pid` exits and returns its exit reason (`noproc` if it is not
/// alive). Works from anywhere, including outside processes: the way a `main` or a test waits
/// for a process. Dropping the future (a timeout, a `select!`) stops the watch.
pub async fn await_exit(pid: Pid) -> ExitReason {
    match watch_exit(pid) {
        Some(watch) => watch.await,
        None => ExitReason::NoProc,
    }
}

/// A watch on one process's exit, from [`watch_exit`]: a future that resolves to the exit
/// reason. It is installed when created, not when first polled, so an exit in between is not
/// missed; dropping it removes it. Unlike a monitor it needs no mailbox, so any code (a caller
/// waiting for a reply, a test, `main`) can use it.
#[must_use = "a watch does nothing unless awaited"]
pub struct ExitWatch {
    exited: tokio::sync::oneshot::Receiver<ExitReason>,
    _remove: RemoveHookOnDrop,
}

impl std::future::Future for ExitWatch {
    type Output = ExitReason;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<ExitReason> {
        std::pin::Pin::new(&mut self.exited)
            .poll(cx)
            .map(|reason| reason.unwrap_or(ExitReason::NoProc))
    }
}

impl fmt::Debug for ExitWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExitWatch")
            .field("pid", &self._remove.pid)
            .finish()
    }
}

/// Starts watching `pid`'s exit now and returns a future of its exit reason; `None` if `pid` is
/// not a live local process. This is what [`await_exit`] uses; keep the watch when you must
/// start watching before doing something that could make the process exit (sending it a
/// request, say) and await it afterwards.
pub fn watch_exit(pid: Pid) -> Option<ExitWatch> {
    let (tx, exited) = tokio::sync::oneshot::channel();
    let hook: crate::cell::ExitHook = Box::new(move |_, reason| {
        let _ = tx.send(reason.clone());
    });
    let id = add_exit_hook(pid, hook).ok()?;
    Some(ExitWatch {
        exited,
        _remove: RemoveHookOnDrop { pid, id },
    })
}

/// Runs `hook` on the exiting process's thread when `pid` exits, with its pid and exit reason:
/// how state that lives outside a process (a table it owns, a registry entry) follows the
/// process's life without a process of its own to receive a monitor's `Down`.
///
/// Returns a handle that can [cancel](OnExit::cancel) the hook; dropping the handle leaves the
/// hook in place. If `pid` is not a live local process, the hook is handed back unrun, so the
/// caller can act at once. The hook runs while the process is being taken down, after its links
/// and monitors have been told: it must be quick and must not block (send a message, flip a
/// flag, free memory).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use grove_runtime::{on_exit, run, Context, ExitReason};
///
/// let seen = Arc::new(Mutex::new(None));
/// let record = seen.clone();
/// run(move |mut ctx: Context<()>| async move {
///     let worker = ctx.spawn(|_: Context<()>| async { ExitReason::error("boom") });
///     let hook = on_exit(worker.pid(), move |_, reason| {
///         *record.lock().unwrap() = Some(reason.clone());
///     });
///     if hook.is_ok() {
///         grove_runtime::await_exit(worker.pid()).await;
///     }
/// });
/// // The worker may have exited before the hook was installed: then it is handed back unrun.
/// assert!(matches!(&*seen.lock().unwrap(), None | Some(ExitReason::Error(_))));
/// ```
pub fn on_exit<F>(pid: Pid, hook: F) -> Result<OnExit, F>
where
    F: FnOnce(Pid, &ExitReason) + Send + 'static,
{
    // The runtime stores hooks boxed; the hook stays reachable through `slot` so that it can be
    // handed back by value if the process turns out to be dead.
    let slot = Arc::new(parking_lot::Mutex::new(Some(hook)));
    let shared = slot.clone();
    let boxed: crate::cell::ExitHook = Box::new(move |pid, reason| {
        if let Some(hook) = shared.lock().take() {
            hook(pid, reason);
        }
    });
    match add_exit_hook(pid, boxed) {
        Ok(id) => Ok(OnExit { pid, id }),
        Err(_) => match slot.lock().take() {
            Some(hook) => Err(hook),
            None => unreachable!("an exit hook that was never installed cannot have run"),
        },
    }
}

/// A hook installed with [`on_exit`]. Dropping it leaves the hook in place.
#[derive(Debug)]
pub struct OnExit {
    pid: Pid,
    id: u64,
}

impl OnExit {
    /// The process the hook watches.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Removes the hook; true if it had not run yet (the process is still alive).
    pub fn cancel(self) -> bool {
        let Some(cell) = table::lookup(self.pid) else {
            return false;
        };
        let mut control = cell.shared().control.lock();
        match control.rel.as_mut() {
            Some(rel) => {
                let before = rel.exit_hooks.len();
                rel.exit_hooks.retain(|(id, _)| *id != self.id);
                rel.exit_hooks.len() != before
            }
            None => false,
        }
    }
}

/// Removes an exit hook that is no longer wanted (a no-op once the process has exited).
struct RemoveHookOnDrop {
    pid: Pid,
    id: u64,
}

impl Drop for RemoveHookOnDrop {
    fn drop(&mut self) {
        if let Some(cell) = table::lookup(self.pid) {
            let mut control = cell.shared().control.lock();
            if let Some(rel) = control.rel.as_mut() {
                rel.exit_hooks.retain(|(id, _)| *id != self.id);
            }
        }
    }
}

/// Runs `hook` when `pid` exits and returns the hook's id; hands the hook back if the process
/// is not alive.
pub(crate) fn add_exit_hook(
    pid: Pid,
    hook: crate::cell::ExitHook,
) -> Result<u64, crate::cell::ExitHook> {
    let Some(cell) = table::lookup(pid) else {
        return Err(hook);
    };
    let mut control = cell.shared().control.lock();
    if !control.alive {
        return Err(hook);
    }
    let id = next_serial();
    control.rel().exit_hooks.push((id, hook));
    Ok(id)
}

/// Runs blocking code on tokio's blocking pool and returns its result, so the process does not
/// hold a worker thread. A panic in `f` becomes a panic of the calling process.
///
/// If the process is killed while waiting, `f` still runs to completion on its thread; only its
/// result is discarded.
pub async fn blocking<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let work = move || {
        // A panic here is the calling process's panic: reported by Grove, not by the default hook.
        let _in_process = crate::panics::InProcess::enter();
        f()
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => panic!("blocking work was cancelled because the runtime is shutting down"),
    }
}
