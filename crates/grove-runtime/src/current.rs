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

use crate::exit::ExitReason;
use crate::pid::Pid;

thread_local! {
    static CURRENT: Cell<Option<Pid>> = const { Cell::new(None) };
    static EXITING: RefCell<Option<ExitReason>> = const { RefCell::new(None) };
}

/// While a process is being taken down on this thread (its future, state and mailbox being
/// dropped), the reason it exits with; `None` otherwise. For `Drop` code that must tell someone
/// why it went away: a pending call's reply handle tells its caller the server's exit reason.
pub fn exiting_reason() -> Option<ExitReason> {
    EXITING.with(|exiting| exiting.borrow().clone())
}

/// Marks this thread as taking a process down with `reason` for the guard's lifetime.
pub(crate) struct Exiting(Option<ExitReason>);

impl Exiting {
    pub(crate) fn enter(reason: &ExitReason) -> Exiting {
        Exiting(EXITING.with(|exiting| exiting.replace(Some(reason.clone()))))
    }
}

impl Drop for Exiting {
    fn drop(&mut self) {
        let previous = self.0.take();
        EXITING.with(|exiting| *exiting.borrow_mut() = previous);
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

/// Links the calling process with `pid` (Erlang's `link/1`), for code that has no
/// [`crate::Context`] at hand. Returns false, doing nothing, outside processes.
pub fn link(pid: impl Into<Pid>) -> bool {
    with_current(|me| crate::signal::link(me, pid.into(), &crate::table::Global))
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

/// Makes the calling process monitor `pid` (Erlang's `monitor/2`), for code that has no
/// [`crate::Context`] at hand. `None`, doing nothing, outside processes.
pub fn monitor(pid: impl Into<Pid>) -> Option<crate::pid::Ref> {
    let me = self_pid().and_then(crate::table::lookup)?;
    Some(crate::signal::monitor(
        &*me,
        pid.into(),
        &crate::table::Global,
    ))
}

/// Stops the calling process's monitor `reference` (without flushing a `Down` already
/// received). True if it was still active; false outside processes.
pub fn demonitor(reference: crate::pid::Ref) -> bool {
    match self_pid().and_then(crate::table::lookup) {
        Some(me) => crate::signal::demonitor(&*me, reference, &crate::table::Global),
        None => false,
    }
}
