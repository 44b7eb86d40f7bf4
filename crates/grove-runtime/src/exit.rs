//! Exit reasons: why a process ended, as its links and monitors are told.
//!
//! The reasons follow Erlang's: `normal` (done, links are not harmed), `shutdown` (asked to stop),
//! `{shutdown, Data}` (a clean stop that carries data), `kill` (a signal that cannot be trapped;
//! the victim exits with `killed`), `noproc` (the process did not exist), `noconnection` (its node
//! became unreachable), what a failed call exits with (`timeout`, `calling_self`,
//! `{nodedown, Node}`), a panic with its message, and any reason of the user's own.
//!
//! A process function returns `()`, an [`ExitReason`], or a `Result<(), ExitReason>`, into which
//! `?` converts Grove's errors (calls, starts, spawns, sends, links, names, tasks, supervisors,
//! tables) and `io::Error`, `String` and `&str`, so a body that ends in `Ok(())` needs no type
//! annotation:
//!
//! ```
//! use grove_runtime::{ExitReason, Context};
//! async fn worker(mut ctx: Context<u32>) -> Result<(), ExitReason> {
//!     let n = ctx.recv().await.into_user().ok_or(ExitReason::Shutdown)?;
//!     if n == 0 {
//!         return Err(ExitReason::error("zero is not allowed"));
//!     }
//!     Ok(())
//! }
//! ```

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Why a process exited, or the reason carried by an exit signal.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExitReason {
    /// The process finished its work. Linked processes that do not trap exits are not affected.
    Normal,
    /// The process was asked to stop (by its supervisor, or the runtime shutting down).
    Shutdown,
    /// Sent with [`crate::exit()`] it kills the receiver even if it traps exits; the receiver then
    /// exits with [`ExitReason::Killed`]. A process never exits with `Kill` itself.
    Kill,
    /// The process was killed by an untrappable [`ExitReason::Kill`] signal.
    Killed,
    /// The process named did not exist (already dead, or never lived) when it was linked or
    /// monitored.
    NoProc,
    /// The connection to the node of the process was lost.
    NoConnection,
    /// The process's bounded mailbox overflowed with the `Kill` overflow policy.
    MailboxOverflow,
    /// The process panicked; the panic's message.
    Panic(Arc<str>),
    /// A reason of the user's own.
    Error(Arc<str>),
    // Variants added later go last: the enum is encoded by index between nodes.
    /// A clean stop that carries data (Erlang's `{shutdown, Term}`): a supervisor does not count
    /// it as a crash (a transient child exiting with it is not restarted) and it is not logged as
    /// one. Like `shutdown`, it still takes down a linked process that does not trap exits.
    ShutdownWith(Arc<str>),
    /// A call got no reply in time (what `?` on a call's timeout exits with; Erlang's `timeout`).
    Timeout,
    /// A server called itself, which could never be answered (Erlang's `calling_self`).
    CallingSelf,
    /// The node of the process called was lost during the call (Erlang's `{nodedown, Node}`).
    NodeDown(Arc<str>),
}

impl ExitReason {
    /// A user reason from anything displayable.
    pub fn error(reason: impl fmt::Display) -> ExitReason {
        ExitReason::Error(Arc::from(reason.to_string()))
    }

    /// The reason for a panic caught with `catch_unwind`: [`ExitReason::Panic`] with its message.
    /// For code that catches a panic inside a process and then exits with it (a behaviour that
    /// must clean up first, as a `GenServer` calls `terminate`).
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> ExitReason {
        ExitReason::Panic(panic_message(payload))
    }

    /// `normal` and `shutdown` are the reasons a supervisor does not count as a crash; every other
    /// reason is abnormal. This decides whether a link kills a process that does not trap exits
    /// (only `normal` is harmless there).
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitReason::Normal)
    }

    /// True for reasons that mean the process did not fail: `normal`, `shutdown` and
    /// `{shutdown, _}` ([`ExitReason::ShutdownWith`]).
    pub fn is_clean(&self) -> bool {
        matches!(
            self,
            ExitReason::Normal | ExitReason::Shutdown | ExitReason::ShutdownWith(_)
        )
    }

    /// A clean stop that carries `data` (Erlang's `{shutdown, Term}`): see
    /// [`ExitReason::ShutdownWith`].
    ///
    /// ```
    /// use grove_runtime::ExitReason;
    /// let reason = ExitReason::shutdown_with("session closed by the client");
    /// assert!(reason.is_clean());
    /// assert_eq!(reason.to_string(), "{shutdown, session closed by the client}");
    /// ```
    pub fn shutdown_with(data: impl fmt::Display) -> ExitReason {
        ExitReason::ShutdownWith(Arc::from(data.to_string()))
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Shutdown => f.write_str("shutdown"),
            ExitReason::Kill => f.write_str("kill"),
            ExitReason::Killed => f.write_str("killed"),
            ExitReason::NoProc => f.write_str("noproc"),
            ExitReason::NoConnection => f.write_str("noconnection"),
            ExitReason::MailboxOverflow => f.write_str("mailbox_overflow"),
            ExitReason::ShutdownWith(data) => write!(f, "{{shutdown, {data}}}"),
            ExitReason::Timeout => f.write_str("timeout"),
            ExitReason::CallingSelf => f.write_str("calling_self"),
            ExitReason::NodeDown(node) => write!(f, "{{nodedown, {node}}}"),
            ExitReason::Panic(message) => write!(f, "panic: {message}"),
            ExitReason::Error(message) => f.write_str(message),
        }
    }
}

impl From<&str> for ExitReason {
    fn from(reason: &str) -> Self {
        ExitReason::Error(Arc::from(reason))
    }
}

impl From<String> for ExitReason {
    fn from(reason: String) -> Self {
        ExitReason::Error(Arc::from(reason))
    }
}

impl From<crate::current::LinkError> for ExitReason {
    /// `noproc` for a dead pid, as OTP's `link/1` raises it.
    fn from(error: crate::current::LinkError) -> Self {
        match error {
            crate::current::LinkError::NoProc(_) => ExitReason::NoProc,
            other => ExitReason::error(other),
        }
    }
}

impl From<crate::process::SpawnError> for ExitReason {
    fn from(error: crate::process::SpawnError) -> Self {
        ExitReason::error(error)
    }
}

impl From<crate::names::RegisterError> for ExitReason {
    fn from(error: crate::names::RegisterError) -> Self {
        ExitReason::error(error)
    }
}

impl<M> From<crate::process::SendError<M>> for ExitReason {
    /// The message is dropped; the reason says why it was not delivered.
    fn from(error: crate::process::SendError<M>) -> Self {
        ExitReason::error(error)
    }
}

impl From<std::io::Error> for ExitReason {
    fn from(error: std::io::Error) -> Self {
        ExitReason::error(error)
    }
}

impl From<Box<dyn std::error::Error + Send + Sync>> for ExitReason {
    fn from(error: Box<dyn std::error::Error + Send + Sync>) -> Self {
        ExitReason::error(error)
    }
}

/// What a process function may return; converted into the process's exit reason.
pub trait IntoExitReason {
    /// The exit reason this return value stands for.
    fn into_exit_reason(self) -> ExitReason;
}

impl IntoExitReason for () {
    fn into_exit_reason(self) -> ExitReason {
        ExitReason::Normal
    }
}

impl IntoExitReason for ExitReason {
    fn into_exit_reason(self) -> ExitReason {
        match self {
            // An untrappable kill is a signal, not a way to end: links see `killed`.
            ExitReason::Kill => ExitReason::Killed,
            other => other,
        }
    }
}

/// The one `Result` a process may return. One impl, not one per error type, so that a closure
/// ending in `Ok(())` needs no annotation: the compiler infers the error type from this impl, and
/// `?` converts Grove's errors (and `io::Error`, `String`, `&str`) into it. An error type of your
/// own needs `From<YourError> for ExitReason`, or `.map_err(ExitReason::error)`.
impl IntoExitReason for Result<(), ExitReason> {
    fn into_exit_reason(self) -> ExitReason {
        match self {
            Ok(()) => ExitReason::Normal,
            Err(error) => error.into_exit_reason(),
        }
    }
}

/// The message of a panic payload, as `std` prints it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> Arc<str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Arc::from(*s)
    } else if let Some(s) = payload.downcast_ref::<String>() {
        Arc::from(s.as_str())
    } else {
        Arc::from("Box<dyn Any>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_display_like_erlang_atoms() {
        assert_eq!(ExitReason::Normal.to_string(), "normal");
        assert_eq!(ExitReason::Killed.to_string(), "killed");
        assert_eq!(ExitReason::MailboxOverflow.to_string(), "mailbox_overflow");
        assert_eq!(ExitReason::error("boom").to_string(), "boom");
    }

    #[test]
    fn return_values_become_reasons() {
        assert_eq!(().into_exit_reason(), ExitReason::Normal);
        assert_eq!(Ok(()).into_exit_reason(), ExitReason::Normal);
        assert_eq!(
            Err("bad".into()).into_exit_reason(),
            ExitReason::error("bad")
        );
        assert_eq!(ExitReason::Kill.into_exit_reason(), ExitReason::Killed);
    }
}
