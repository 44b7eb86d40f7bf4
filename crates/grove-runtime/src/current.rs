//! Which process this thread is running right now: Erlang's `self()` for code that has no
//! [`crate::Context`] at hand (a library function called from a process, a behaviour's
//! `start_link`).
//!
//! ```
//! use grove_runtime::{run, self_pid, Context};
//!
//! run(|ctx: Context<()>| async move {
//!     assert_eq!(self_pid(), Some(ctx.pid()));
//! });
//! assert_eq!(self_pid(), None);
//! ```

use std::cell::{Cell, RefCell};

use crate::dest::Dest;
use crate::exit::ExitReason;
use crate::pid::Pid;

thread_local! {
    static CURRENT: Cell<Option<Pid>> = const { Cell::new(None) };
    static EXITING: RefCell<Option<ExitScope>> = const { RefCell::new(None) };
}

/// Work to run once a process is entirely gone.
type Deferred = Box<dyn FnOnce() + Send>;

/// A process being taken down on this thread: its reason, and what waits for it to be gone.
struct ExitScope {
    reason: ExitReason,
    deferred: Vec<Deferred>,
}

/// While a process is being taken down on this thread (its future, state and mailbox being
/// dropped), the reason it exits with; `None` otherwise. For `Drop` code that must tell someone
/// why it went away: a pending call's reply handle tells its caller the server's exit reason.
pub fn exiting_reason() -> Option<ExitReason> {
    EXITING.with(|exiting| exiting.borrow().as_ref().map(|scope| scope.reason.clone()))
}

/// Runs `f` once the calling process is entirely gone: its name is free, it has left the process
/// table, and its links and monitors have been told. Outside a process, runs `f` at once.
///
/// This is how an observer outside the runtime's own signals keeps OTP's order, where whoever
/// learns of a death (a caller, a starter) learns it after the name is released: a reply handle
/// dropped by an exiting server tells its caller this way, so "the call failed, start the server
/// again under its name" never finds the name still taken.
///
/// ```
/// use grove_runtime::{run, when_gone, whereis, Context, SpawnOptions};
///
/// run(|mut ctx: Context<bool>| async move {
///     let me = ctx.addr();
///     let options = SpawnOptions::new().name("short_lived");
///     ctx.spawn_opt(options, move |_: Context<()>| async move {
///         when_gone(move || grove_runtime::send(me, whereis("short_lived").is_none()));
///     })
///     .unwrap();
///     assert_eq!(ctx.recv().await.into_user(), Some(true)); // the name was already free
/// });
/// ```
pub fn when_gone(f: impl FnOnce() + Send + 'static) {
    let mut f: Option<Deferred> = Some(Box::new(f));
    EXITING.with(|exiting| {
        if let Ok(mut exiting) = exiting.try_borrow_mut() {
            if let Some(scope) = exiting.as_mut() {
                scope.deferred.extend(f.take());
            }
        }
    });
    let Some(f) = f else { return };
    // From a live process: an exit hook, which runs once its name and links are taken care of.
    let f = match self_pid() {
        Some(me) => match crate::process::add_exit_hook(me, Box::new(move |_, _| f())) {
            Ok(_) => return,
            Err(hook) => hook,
        },
        None => return f(),
    };
    f(Pid::new_local(0), &ExitReason::Normal);
}

/// Takes what [`when_gone`] deferred while the current exit scope was open: run it once the
/// process is gone.
pub(crate) fn take_deferred() -> Vec<Deferred> {
    EXITING.with(|exiting| {
        exiting
            .try_borrow_mut()
            .ok()
            .and_then(|mut exiting| {
                exiting
                    .as_mut()
                    .map(|scope| std::mem::take(&mut scope.deferred))
            })
            .unwrap_or_default()
    })
}

/// Marks this thread as taking a process down with `reason` for the guard's lifetime.
pub(crate) struct Exiting(Option<ExitScope>);

impl Exiting {
    pub(crate) fn enter(reason: &ExitReason) -> Exiting {
        let scope = ExitScope {
            reason: reason.clone(),
            deferred: Vec::new(),
        };
        Exiting(EXITING.with(|exiting| exiting.replace(Some(scope))))
    }
}

impl Drop for Exiting {
    fn drop(&mut self) {
        let previous = self.0.take();
        let left = EXITING.with(|exiting| std::mem::replace(&mut *exiting.borrow_mut(), previous));
        // Normally `finish` ran these already; whatever is left must not be lost.
        for deferred in left.map(|scope| scope.deferred).unwrap_or_default() {
            deferred();
        }
    }
}

/// The pid of the process this code runs in, or `None` outside processes (in `main`, in a plain
/// tokio task, on the blocking pool).
pub fn self_pid() -> Option<Pid> {
    CURRENT.with(Cell::get)
}

/// Marks this thread as running `pid` for the guard's lifetime (one poll of its future).
pub(crate) struct Running(Option<Pid>);

impl Running {
    pub(crate) fn enter(pid: Pid) -> Running {
        Running(CURRENT.with(|current| current.replace(Some(pid))))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.0));
    }
}

/// Links the calling process with `to` (Erlang's `link/1`), for code that has no
/// [`crate::Context`] at hand: see [`crate::Context::link`]. Returns false, doing nothing,
/// outside processes.
pub fn link(to: impl Into<Dest>) -> bool {
    let to = to.into();
    with_current(|me| crate::context::link_from(me, to))
}

/// Links the calling process with `to` as OTP's `link/1` does, for code that has no
/// [`crate::Context`] at hand: see [`crate::Context::try_link`]. Outside processes, fails with
/// [`LinkError::NotInProcess`].
pub fn try_link(to: impl Into<Dest>) -> Result<(), LinkError> {
    let me = self_pid()
        .and_then(crate::table::lookup)
        .ok_or(LinkError::NotInProcess)?;
    try_link_from(&*me, to.into())
}

/// OTP's `link/1` from the process `me`: what [`try_link`] and [`crate::Context::try_link`] do.
pub(crate) fn try_link_from(me: &dyn crate::cell::AnyCell, to: Dest) -> Result<(), LinkError> {
    let pid = match crate::dest::link_target(to) {
        Ok(pid) => pid,
        Err(crate::dest::Unlinkable::RemoteName(name, node)) => {
            return Err(LinkError::RemoteName(format!("{{{name}, {node}}}")))
        }
    };
    crate::signal::link(
        me,
        pid,
        &crate::table::Global,
        crate::signal::IfDead::Refuse,
    )
    .map_err(|_| LinkError::NoProc(pid))
}

/// Why [`try_link`] (or [`crate::Context::try_link`]) made no link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The process is not alive, or nobody holds the name (OTP's `noproc`); nothing was linked
    /// and no signal was sent. For a name, the pid is one of no process.
    #[error("{0} is not alive (noproc), so it cannot be linked; look it up again or start it")]
    NoProc(Pid),
    /// A name on another node: links are made with pids (as in OTP, whose `link/1` takes no
    /// `{Name, Node}`).
    #[error("{0} is a name on another node, which cannot be linked by name; look its pid up with grove_node::whereis and link to that")]
    RemoteName(String),
    /// Called outside a process: there is nothing to link.
    #[error("try_link needs a calling process; call it from inside a process")]
    NotInProcess,
}

/// Removes the calling process's link with `pid` (Erlang's `unlink/1`), with the guarantees of
/// [`crate::Context::unlink`]. Returns false, doing nothing, outside processes.
pub fn unlink(pid: impl Into<Pid>) -> bool {
    with_current(|me| crate::signal::unlink(me, pid.into(), &crate::table::Global))
}

fn with_current(f: impl FnOnce(&dyn crate::cell::AnyCell)) -> bool {
    match self_pid().and_then(crate::table::lookup) {
        Some(cell) => {
            f(&*cell);
            true
        }
        None => false,
    }
}

/// Makes the calling process monitor `to` (Erlang's `monitor/2`), for code that has no
/// [`crate::Context`] at hand: see [`crate::Context::monitor`]. `None`, doing nothing, outside
/// processes.
pub fn monitor(to: impl Into<Dest>) -> Option<crate::pid::Ref> {
    let me = self_pid().and_then(crate::table::lookup)?;
    Some(crate::dest::monitor(&*me, to.into()))
}

/// Stops the calling process's monitor `reference` (without flushing a `Down` already
/// received). True if it was still active; false outside processes.
pub fn demonitor(reference: crate::pid::Ref) -> bool {
    match self_pid().and_then(crate::table::lookup) {
        Some(me) => crate::signal::demonitor(&*me, reference, &crate::table::Global),
        None => false,
    }
}

/// Labels the calling process for people: what it is (`gen_server Kv`, `supervisor root`).
/// Shown by [`crate::process_info`] and in its crash report. The OTP behaviours label their
/// processes; a plain process may label itself. Does nothing outside processes.
pub fn set_label(label: impl Into<std::sync::Arc<str>>) {
    let label = label.into();
    with_current(|me| me.shared().control.lock().about_mut().label = Some(label));
}

/// Records the kind of the message the calling process was handling when it failed, for its
/// crash report (Elixir's "Last message"). The behaviours call it on their way out after an
/// abnormal stop. Does nothing outside processes.
pub fn note_last_message(kind: &'static str) {
    with_current(|me| me.shared().control.lock().about_mut().last_message = Some(kind));
}
