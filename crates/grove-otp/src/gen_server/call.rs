//! The request side of a `GenServer`: the reply handle a server answers through, the errors a
//! call can end with, and the call itself.
//!
//! A call sends the request with a one-shot reply channel and, before sending, starts watching
//! the server's exit (a mailbox-free watch, so callers outside processes work too). Whichever
//! comes first decides: the reply, the server's exit (with its reason), or the timeout. The reply
//! channel belongs to this one call, so a reply that comes after a timeout is dropped with the
//! channel: it can never land in the caller's mailbox, which is the OTP pitfall this avoids.

use std::fmt;
use std::time::Duration;

use grove_runtime::{watch_exit, Addr, ExitReason, Pid, SendError};
use tokio::sync::oneshot;

/// OTP's default call timeout.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a call's reply goes (OTP's `From`). A server answers with [`ReplyTo::reply`], at once in
/// `handle_call` or later from anywhere (keep it in the state, hand it to another process).
/// Dropping it without replying leaves the caller to time out, as a server that never replies
/// does in OTP.
pub struct ReplyTo<R> {
    tx: oneshot::Sender<R>,
    caller: Option<Pid>,
}

impl<R> ReplyTo<R> {
    pub(crate) fn new(tx: oneshot::Sender<R>, caller: Option<Pid>) -> Self {
        ReplyTo { tx, caller }
    }

    /// Sends the reply. Returns false if the caller is no longer waiting (it timed out or
    /// exited); the reply is then dropped.
    pub fn reply(self, reply: R) -> bool {
        self.tx.send(reply).is_ok()
    }

    /// The calling process, when the call came from inside one.
    pub fn caller(&self) -> Option<Pid> {
        self.caller
    }

    /// False once the caller has stopped waiting (timed out, gave up, exited).
    pub fn is_waiting(&self) -> bool {
        !self.tx.is_closed()
    }
}

impl<R> fmt::Debug for ReplyTo<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplyTo")
            .field("caller", &self.caller)
            .field("waiting", &self.is_waiting())
            .finish()
    }
}

/// Why a call got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No reply within the timeout. The server may still handle the request; its reply will be
    /// discarded.
    #[error("no reply within {0:?}; the server may still handle the request (its reply will be discarded): raise the timeout or find what keeps the server busy")]
    Timeout(Duration),
    /// The server was not running when the call was made.
    #[error(
        "the server is not running (noproc): start it, or look it up again if it was restarted"
    )]
    NoProc,
    /// The server exited before it replied.
    #[error("the server exited with reason {0} before replying")]
    Exited(ExitReason),
    /// No server is registered under the name.
    #[error("no server is registered as {0:?}: start it under your supervisor or check the name")]
    NotRegistered(String),
    /// The server's bounded mailbox is full and refuses requests.
    #[error("the server's mailbox is full; retry later or shed load")]
    Full,
    /// The pid is a process of another type than the server the call was made for.
    #[error("{0} is not a server of this type; check where the pid came from")]
    WrongType(Pid),
}

impl CallError {
    /// The exit reason a process that makes this call failure its own exits with: the server's
    /// reason when it exited, `noproc` when it was not there, and an error reason otherwise.
    pub fn into_exit_reason(self) -> ExitReason {
        match self {
            CallError::Exited(reason) => reason,
            CallError::NoProc => ExitReason::NoProc,
            other => ExitReason::error(other),
        }
    }
}

impl From<CallError> for ExitReason {
    fn from(error: CallError) -> Self {
        error.into_exit_reason()
    }
}

/// Sends a request built around a fresh reply handle and waits for the reply, the server's exit
/// or the timeout.
pub(crate) async fn call<M, R>(
    to: Addr<M>,
    make: impl FnOnce(ReplyTo<R>) -> M,
    timeout: Duration,
) -> Result<R, CallError>
where
    M: Send + 'static,
    R: Send + 'static,
{
    let pid = to.pid();
    // Watch before sending: an exit between the send and the watch would otherwise be missed.
    let Some(mut exited) = watch_exit(pid) else {
        return Err(CallError::NoProc);
    };
    let (tx, mut rx) = oneshot::channel();
    let request = make(ReplyTo::new(tx, grove_runtime::self_pid()));
    match grove_runtime::try_send(to, request) {
        Ok(()) => {}
        Err(SendError::Full { .. }) => return Err(CallError::Full),
        Err(SendError::WrongType { pid, .. }) => return Err(CallError::WrongType(pid)),
        Err(SendError::NotRegistered { name, .. }) => {
            return Err(CallError::NotRegistered(name.to_string()))
        }
    }
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    tokio::select! {
        biased;
        reply = &mut rx => match reply {
            Ok(reply) => Ok(reply),
            // The handle was dropped: by a server that is going down (its exit decides), or by
            // one that chose not to reply (the caller times out, as in OTP).
            Err(_) => tokio::select! {
                biased;
                reason = &mut exited => Err(CallError::Exited(reason)),
                _ = &mut deadline => Err(CallError::Timeout(timeout)),
            },
        },
        reason = &mut exited => match rx.try_recv() {
            // Replied, then exited: the reply counts.
            Ok(reply) => Ok(reply),
            Err(_) => Err(CallError::Exited(reason)),
        },
        _ = &mut deadline => Err(CallError::Timeout(timeout)),
    }
}
